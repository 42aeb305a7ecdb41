"""Options of one pruning run (a frozen dataclass: every value is recorded in config.json)."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from compactrs.errors import ConfigError


@dataclass(frozen=True)
class PruneConfig:
    """What to prune to, and how long to search, pre-train and fine-tune.

    Exactly one of ``flops_ratio`` (kept fraction of the MACs, 0 < r < 1) and ``flops_target`` (MACs per
    sample; FLOPs are multiply-accumulates throughout compactrs) must be given.

    Attributes:
        round_to: kept channel counts are multiples of this (hardware-friendly; 1 = any count).
        min_channels: no layer keeps fewer channels than this (nor fewer than ``round_to``).
        search_epochs: epochs of the bi-level score search (0: rank channels by filter magnitude only).
        finetune_epochs: epochs of fine-tuning the pruned network with the shared training loop.
        pretrain_epochs: epochs of training from scratch when a model name is given without weights.
        cost_weight: weight of the cost-awareness loss that drives the expected MAC ratio to the request.
        score_lr, weight_lr: Adam learning rate of the scores, SGD learning rate of the weights in the search.
        finetune_lr: initial SGD learning rate of the fine-tune (cosine decay).
        tolerance: largest accepted relative difference between measured and requested MACs.
        latency: measure onnxruntime latency (batch 1 and 32) before and after.
    """

    flops_ratio: float | None = None
    flops_target: int | None = None
    round_to: int = 8
    min_channels: int = 8
    search_epochs: int = 5
    finetune_epochs: int = 10
    pretrain_epochs: int = 30
    cost_weight: float = 2.0
    score_lr: float = 0.05
    weight_lr: float = 0.01
    finetune_lr: float = 0.01
    batch_size: int = 64
    tolerance: float = 0.02
    seed: int = 0
    threads: int | None = None
    latency: bool = True

    def __post_init__(self):
        if (self.flops_ratio is None) == (self.flops_target is None):
            raise ConfigError("give exactly one of --flops-ratio (e.g. 0.5) and --flops-target (e.g. 150M MACs)")
        if self.flops_ratio is not None and not 0.0 < self.flops_ratio < 1.0:
            raise ConfigError(f"--flops-ratio is the kept fraction of MACs and must be in (0, 1), got {self.flops_ratio}")
        if self.flops_target is not None and self.flops_target <= 0:
            raise ConfigError(f"--flops-target must be a positive MAC count such as 150M, got {self.flops_target}")
        for name in ("round_to", "min_channels", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        for name in ("search_epochs", "finetune_epochs", "pretrain_epochs"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name.replace('_', '-')} must be >= 0, got {getattr(self, name)}")
        if not self.cost_weight >= 0:
            raise ConfigError(f"--cost-weight must be >= 0, got {self.cost_weight}")
        for name in ("score_lr", "weight_lr", "finetune_lr"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be a positive learning rate, got {getattr(self, name)}")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"--threads must be >= 1 (or None for all cores), got {self.threads}")
        if not 0.0 < self.tolerance < 1.0:
            raise ConfigError(f"tolerance must be in (0, 1), got {self.tolerance}")

    def target_ratio(self, base_macs: int) -> float:
        """The requested kept MAC fraction for a network of ``base_macs``.

        Raises:
            TargetError: a ``flops_target`` at or above the unpruned network's MACs.
        """
        if self.flops_ratio is not None:
            return float(self.flops_ratio)
        from compactrs.errors import TargetError
        from compactrs.units import human_count

        if self.flops_target >= base_macs:
            raise TargetError(f"--flops-target {human_count(self.flops_target)} MACs is not below the network's "
                              f"{human_count(base_macs)} MACs; nothing to prune — ask for less")
        return self.flops_target / base_macs

    def to_dict(self) -> dict:
        return asdict(self)
