"""``SearchConfig``: every option of a search run (frozen; stored in config.json and the checkpoint)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from compactrs.errors import ConfigError
from compactrs.nn.geometry import STEM_STRIDES
from compactrs.training.losses import LOSSES

#: ``--stem``: the stem kind(s) the search uses; "search" puts every kind in the supernet and lets it choose
STEM_CHOICES = {"conv": ("conv",), "spectral": ("spectral",), "pointwise": ("pointwise",),
                "search": ("conv", "spectral", "pointwise")}
#: the largest cell (nodes) and macro-architecture (blocks) a search may ask for: the LCZ paper's space
MAX_NODES, MAX_BLOCKS = 4, 3
#: what a checkpoint made before a field existed ran with (so --resume of such a checkpoint still matches)
LEGACY_DEFAULTS = {"stem": "conv", "nodes": 4, "search_split": "random", "centre_width": False}

#: fields that must agree between a checkpoint and a resumed run for the result to be the same search
SEARCH_FIELDS = ("flops_target", "tolerance", "latency_target_ms", "profile", "ops", "init_channels", "centre_width", "stem", "stem_stride", "stem_multiplier",
                 "blocks", "nodes", "max_depth", "initial_depth", "epochs", "warmup_epochs", "search_split", "batch_size", "w_lr", "w_lr_min", "w_momentum",
                 "w_weight_decay", "arch_lr", "arch_beta1", "arch_beta2", "arch_weight_decay", "tau_max", "tau_min",
                 "cpl_weight", "target_weight", "latency_weight", "loss", "label_smoothing", "focal_gamma", "augment", "seed")


@dataclass(frozen=True)
class SearchConfig:
    """Options of ``compactrs.search``; defaults follow the LCZ paper / GDAS unless noted.

    Attributes:
        flops_target: MAC budget per sample (multiply-accumulates); None only with a latency target.
        tolerance: the band the result must land in: [target·(1 − tolerance), target].
        latency_target_ms, profile: expected-latency budget and the latency profile JSON that prices it.
        runtime, precision: the runtime (onnxruntime | openvino) and precision (fp32 | int8) the network will
            run in; the profile must have measured them (None: whatever the profile measured).
        measured_landing: land the derived network's width (then one block's depth) on onnxruntime times
            measured here (``compactrs.nas.landing``) instead of the profile's prediction; only with a latency
            target alone and a profile of this machine (same CPU, onnxruntime FP32), refused before the search
            otherwise. Off by default: on the 2-vCPU development VM timings swing 1.5–3× within seconds, and
            landing on them did not land better than the prediction (BENCHMARKS.md).
        retime: time a dozen of the latency profile's own fitting networks before the search and scale its
            predictions by how much slower or faster this machine runs them now (``compactrs.cost._retime``;
            10–20 s). None (default): whenever the profile is a kernel profile of this machine's CPU, going on
            unscaled (and saying so) where the machine is busy; True: demanded (refused before training where it
            cannot apply); False: never. The shipped AMD EPYC profile's networks ran 1.15–1.26× their profiled
            time on the same VM a day later (bias −21 % on 60 fresh networks until re-timed; BENCHMARKS.md).
        ops: op names of the search space (resolved from gdas | rs | mobile | all | comma list; default rs).
        init_channels, stem_multiplier, blocks, max_depth, initial_depth: the CellNet backbone (paper: 16, 1,
            3 blocks, δmax = 5, initial depth 3). ``blocks`` 1..3: block k > 1 opens with a reduction cell, so
            fewer blocks keep a small patch (Indian Pines' 9×9) at full resolution, as patchcnn does.
        centre_width: search at the width whose starting distribution's expected cost is inside (else nearest
            the centre of) the latency (else MAC) band (``compactrs.nas.derive.centred_width``) instead of ``init_channels``;
            the budget loss then starts with little to pull, and the task loss chooses the ops.
        nodes: intermediate nodes per cell, 1..4 (paper: 4). A cell runs two edges per node plus two
            preprocessing convs and outputs ``channels · nodes``; fewer nodes mean fewer, larger kernels, which
            this CPU ran 1.5–2.7× more MACs per millisecond through (BENCHMARKS.md).
        stem: ``conv`` (a 3x3 conv, today's stem), ``spectral`` (SpectralMamba's front end,
            ``compactrs.nn.spectral_stem``; stride 1, inputs of >= 16 bands), ``pointwise`` (a 1x1 band mix,
            patchcnn's spectral compression; stride 1) or ``search`` (the three in the supernet with their own
            architecture parameter, inputs of >= 16 bands; the derived genotype records the chosen kind).
        stem_stride: 1, 2 or 4 (the stem's stride, part of the genotype); None = chosen with the width before
            the search so the first cells keep ≥ 8 channels (``compactrs.nas.derive.choose_stem_and_width``).
        epochs, batch_size: search epochs and batch size (each epoch: one pass over each half of the train split).
        search_split: how the train split is halved into the weight and architecture halves
            (``compactrs.nas.halves``): ``spatial`` (whole blocks of a scene to the architecture half, a buffer
            dropped, as the test split was drawn), ``random`` (the default: spatial halves changed no searched
            network in the measured runs, and they leave the weights fewer samples), or ``auto`` (spatial for
            scenes split spatially).
        warmup_epochs: first epochs that train only the supernet weights (GDAS / FBNet warm-up, so the task
            loss that then guides the architecture comes from a supernet that has learnt something);
            None = a fifth of the epochs, rounded down (0 for searches under 5 epochs).
        w_lr, w_lr_min, w_momentum, w_weight_decay: SGD on the weights, cosine 0.025 → 0.001 (paper).
        arch_lr: Adam on the architecture; None = automatic: GDAS's 3e-4 when the search has ≥ 10,000
            architecture steps, else 3 / steps so the logits can move by O(1) in a short search.
        arch_beta1, arch_beta2, arch_weight_decay: Adam betas (0.5, 0.999) and weight decay 1e-3 (GDAS).
        tau_max, tau_min: linear Gumbel temperature schedule (paper: 10 → 1).
        cpl_weight: C_cpl of the complexity loss (paper: 0.01); target_weight, latency_weight: budget losses.
        loss, label_smoothing, focal_gamma: task loss (ce | focal) for search and retraining.
        retrain_epochs, retrain_batch_size, retrain_lr: training of the derived network on the full train split.
        seed, threads: reproducibility and CPU threads.
    """

    flops_target: int | None = None
    tolerance: float = 0.1
    latency_target_ms: float | None = None
    profile: str | None = None
    runtime: str | None = None
    precision: str | None = None
    measured_landing: bool = False
    retime: bool | None = None
    ops: tuple = ()
    init_channels: int = 16
    centre_width: bool = False
    stem: str = "conv"
    stem_stride: int | None = None
    stem_multiplier: int = 1
    blocks: int = 3
    max_depth: int = 5
    initial_depth: int = 3
    nodes: int = 4
    epochs: int = 10
    warmup_epochs: int | None = None
    search_split: str = "random"
    batch_size: int = 32
    w_lr: float = 0.025
    w_lr_min: float = 1e-3
    w_momentum: float = 0.9
    w_weight_decay: float = 3e-4
    arch_lr: float | None = None
    arch_beta1: float = 0.5
    arch_beta2: float = 0.999
    arch_weight_decay: float = 1e-3
    tau_max: float = 10.0
    tau_min: float = 1.0
    cpl_weight: float = 0.01
    target_weight: float = 1.0
    latency_weight: float = 1.0
    loss: str = "ce"
    label_smoothing: float = 0.0
    focal_gamma: float = 2.0
    augment: bool = True
    retrain_epochs: int = 15
    retrain_batch_size: int = 64
    retrain_lr: float = 0.05
    seed: int = 0
    threads: int | None = None

    def __post_init__(self):
        from compactrs.nas.space import resolve_ops

        object.__setattr__(self, "ops", resolve_ops(self.ops or "rs"))
        if self.flops_target is None and self.latency_target_ms is None:
            raise ConfigError("a search needs a budget: pass --flops-target (e.g. 20M MACs) and/or --latency-target with --profile")
        if self.flops_target is not None and self.flops_target <= 0:
            raise ConfigError(f"--flops-target must be a positive MAC count, got {self.flops_target}")
        if (self.latency_target_ms is None) != (self.profile is None):
            raise ConfigError("--latency-target and --profile go together: the profile is what predicts latency "
                              "(make one with 'compactrs profile')")
        if self.measured_landing and (self.latency_target_ms is None or self.flops_target is not None):
            raise ConfigError("--measured-landing times the derived network against a --latency-target alone; pass "
                              "--latency-target and --profile without --flops-target, or drop --measured-landing")
        if self.retime and self.latency_target_ms is None:
            raise ConfigError("--retime re-times the latency profile of a --latency-target search; pass --latency-target "
                              "and --profile, or drop --retime")
        if (self.runtime is not None or self.precision is not None) and self.profile is None:
            raise ConfigError("--runtime / --precision name what the --profile must have measured; pass them with "
                              "--latency-target and --profile (or leave them out)")
        if not 0.0 < self.tolerance < 1.0:
            raise ConfigError(f"--tolerance must be in (0, 1), e.g. 0.1 for a 10% band below the target; got {self.tolerance}")
        if self.init_channels < 2 or self.init_channels % 2:
            raise ConfigError(f"--init-channels must be an even number >= 2, got {self.init_channels}")
        if self.stem_stride is not None and self.stem_stride not in STEM_STRIDES:
            raise ConfigError(f"--stem-stride must be one of {', '.join(map(str, STEM_STRIDES))} (or auto), got {self.stem_stride}")
        if self.stem not in STEM_CHOICES:
            raise ConfigError(f"--stem must be one of {', '.join(STEM_CHOICES)}, got {self.stem!r}")
        if self.stem != "conv" and self.stem_stride not in (None, 1):
            raise ConfigError(f"--stem {self.stem} keeps every pixel's spectrum (stem stride 1), got --stem-stride "
                              f"{self.stem_stride}; pass --stem-stride 1 (or auto), or --stem conv for strides 2 and 4")
        if not 1 <= self.initial_depth <= self.max_depth:
            raise ConfigError(f"initial depth {self.initial_depth} must be within 1..--max-depth ({self.max_depth})")
        for name in ("epochs", "batch_size", "max_depth", "blocks", "stem_multiplier", "retrain_batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        from compactrs.nas.halves import SEARCH_SPLITS

        if self.search_split not in SEARCH_SPLITS:
            raise ConfigError(f"--search-split must be one of {', '.join(SEARCH_SPLITS)}, got {self.search_split!r}")
        if self.warmup_epochs is not None and not 0 <= self.warmup_epochs < self.epochs:
            raise ConfigError(f"--warmup-epochs must be in 0..epochs-1 ({self.epochs - 1}) so the architecture gets "
                              f"updated at all, got {self.warmup_epochs}")
        if self.retrain_epochs < 0:
            raise ConfigError(f"--retrain-epochs must be >= 0, got {self.retrain_epochs}")
        if self.tau_min <= 0 or self.tau_max < self.tau_min:
            raise ConfigError(f"temperatures need 0 < tau_min <= tau_max, got {self.tau_min} and {self.tau_max}")
        if self.loss not in LOSSES:
            raise ConfigError(f"unknown loss '{self.loss}'; valid: {', '.join(LOSSES)}")
        if not 1 <= self.nodes <= MAX_NODES:
            raise ConfigError(f"--nodes must be 1..{MAX_NODES} intermediate nodes per cell, got {self.nodes}")
        if not 1 <= self.blocks <= MAX_BLOCKS:
            raise ConfigError(f"--blocks must be 1..{MAX_BLOCKS} (block k > 1 opens with a reduction cell), got {self.blocks}")

    def stem_kinds(self) -> tuple[str, ...]:
        return STEM_CHOICES[self.stem]

    def resolved_warmup_epochs(self) -> int:
        return self.epochs // 5 if self.warmup_epochs is None else int(self.warmup_epochs)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["ops"] = list(self.ops)
        return out

    def search_fields(self) -> dict:
        data = self.to_dict()
        return {name: data[name] for name in SEARCH_FIELDS}

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]
