"""The bi-level search loop (GDAS): weights on one half of the train split, architecture on the other.

Each step: sample an architecture, SGD step on the weights with a batch of the weight half; sample again,
Adam step on the architecture logits with a batch of the architecture half (task loss + C_cpl · L_cpl +
budget losses). A checkpoint (weights, architecture, optimiser states, RNG states, history) is written after
every epoch; ``resume`` continues from it and reaches the same genotype as an uninterrupted run.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from torch import nn

from compactrs._io import atomic_path, write_text
from compactrs._progress import Progress
from compactrs.data import Dataset
from compactrs.errors import ArtifactError, ConfigError
from compactrs.nas.config import LEGACY_DEFAULTS, SearchConfig
from compactrs.nas.costs import CostTable
from compactrs.nas.ddp import World, average_gradients, barrier, broadcast_parameters, check_in_sync, sum_over_ranks
from compactrs.nas.halves import search_halves
from compactrs.nas.losses import complexity_loss, target_loss, within_band
from compactrs.nas.sampling import TrainingDiverged, linear_temperature
from compactrs.nas.supernet import CELL_TYPES, Supernet
from compactrs.nn.geometry import DEFAULT_STEM, validate_stem
from compactrs.training.loop import configure_threads, cosine_lr, dihedral_augment, seed_everything
from compactrs.training.losses import make_loss

CHECKPOINT_FORMAT = "compactrs.search-checkpoint/1"
CHECKPOINT_NAME = "checkpoint.pt"
STEER_GROWTH = 1.1   # budget-weight growth per architecture step while the derived network is off budget
STEER_MAX = 1e4
STEER_TEMPERATURE = 0.3  # softmax temperature of the sharpened distribution whose cost tracks the derived network


@dataclass
class SearchOutcome:
    genotype: dict
    history: list
    seconds: float
    supernet: Supernet
    resumed_from: int
    halves: dict | None = None  # how the training split was halved (compactrs.nas.halves)


class SearchLog:
    """log.txt (append) and metrics.jsonl (rewritten whole from the history, so a resume never duplicates)."""

    def __init__(self, work_dir: Path, enabled: bool):
        self.work_dir, self.enabled = Path(work_dir), enabled
        if enabled:
            self.work_dir.mkdir(parents=True, exist_ok=True)

    def line(self, message: str) -> None:
        if self.enabled:
            self.work_dir.mkdir(parents=True, exist_ok=True)
            with open(self.work_dir / "log.txt", "a", encoding="utf-8") as handle:
                handle.write(f"{datetime.now(timezone.utc).isoformat(timespec='seconds')} {message}\n")

    def history(self, records: list) -> None:
        if self.enabled:
            write_text(self.work_dir / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in records))


def resolve_arch_lr(config: SearchConfig, arch_steps: int) -> float:
    """GDAS's 3e-4 for long searches; 3 / steps for short ones (Adam moves a logit ~lr per step)."""
    if config.arch_lr is not None:
        return float(config.arch_lr)
    return max(3e-4, 3.0 / max(arch_steps, 1))


class BiLevelSearch:
    """One search run: supernet, optimisers, generators; ``run`` trains it and returns the outcome."""

    def __init__(self, config: SearchConfig, dataset: Dataset, init_channels: int, mac_table: CostTable,
                 latency_table: CostTable | None, work_dir: Path, world: World = World(), progress: Progress | None = None,
                 stem: dict | None = None, stem_kinds=None):
        self.config, self.dataset, self.world = config, dataset, world
        self.init_channels = init_channels
        self.stem = validate_stem(stem)
        self.mac_table, self.latency_table = mac_table, latency_table
        self.work_dir = Path(work_dir)
        self.progress = progress or Progress()
        self.log = SearchLog(self.work_dir, world.is_main)
        configure_threads(config.threads)
        seed_everything(config.seed)  # the supernet's initial weights and logits are part of the seed
        h, _ = dataset.input_size
        self.net = Supernet(dataset.in_bands, dataset.num_classes, h, config.ops, init_channels, config.stem_multiplier,
                            config.blocks, config.max_depth, config.initial_depth, config.nodes, self.stem,
                            stem_kinds)
        self.net = self.net.to(memory_format=torch.channels_last)
        broadcast_parameters(self.net, world)
        self.weights, self.arch = self.net.weight_parameters(), self.net.arch_parameters()
        self.w_half, self.a_half, self.halves = search_halves(dataset, config.seed, config.search_split)
        self.shard = min(len(self.w_half), len(self.a_half)) // world.size
        if self.shard < 2:
            raise ConfigError(f"{len(dataset.y_train)} training samples over {world.size} processes leave {self.shard} per "
                              f"process and half; use fewer processes or more data")
        self.steps_per_epoch = math.ceil(self.shard / config.batch_size)
        self.total_steps = self.steps_per_epoch * config.epochs
        self.warmup_epochs = config.resolved_warmup_epochs()
        self.arch_lr = resolve_arch_lr(config, self.steps_per_epoch * (config.epochs - self.warmup_epochs))
        self.w_opt = torch.optim.SGD(self.weights, lr=config.w_lr, momentum=config.w_momentum, weight_decay=config.w_weight_decay)
        self.a_opt = torch.optim.Adam(self.arch, lr=self.arch_lr, betas=(config.arch_beta1, config.arch_beta2),
                                      weight_decay=config.arch_weight_decay)
        self.sample_gen = torch.Generator().manual_seed(config.seed + 1)  # same on every rank: same samples
        self.data_gen = torch.Generator().manual_seed(config.seed + 2)    # same order on every rank, sharded
        self.task_loss = make_loss(config.loss, config.label_smoothing, config.focal_gamma)
        self.x = torch.from_numpy(dataset.x_train)
        self.y = torch.from_numpy(dataset.y_train)
        self.history: list = []
        self.epoch = 0
        self.seconds = 0.0
        # multiplier of the budget losses, raised while the derived network is outside a band (see _steer)
        self.budget_scale = 1.0
        self._derived_costs: dict = {}

    # -- checkpoints ------------------------------------------------------------------------------------
    @property
    def checkpoint_path(self) -> Path:
        return self.work_dir / CHECKPOINT_NAME

    def _identity(self) -> dict:
        return {"config": self.config.search_fields(), "dataset": self.dataset.spec, "init_channels": self.init_channels,
                "stem": self.stem, "world_size": self.world.size}

    def save(self) -> None:
        if not self.world.is_main:
            return
        payload = {
            "format": CHECKPOINT_FORMAT, **self._identity(), "epoch": self.epoch, "seconds": self.seconds,
            "budget_scale": self.budget_scale,
            "supernet": {k: v.detach().clone() for k, v in self.net.state_dict().items()},
            "w_opt": self.w_opt.state_dict(), "a_opt": self.a_opt.state_dict(),
            "rng": {"torch": torch.get_rng_state(), "sample": self.sample_gen.get_state(), "data": self.data_gen.get_state()},
            "history": self.history,
        }
        with atomic_path(self.checkpoint_path) as tmp:
            torch.save(payload, tmp)
        self.log.history(self.history)

    def load(self) -> bool:
        """Restore the checkpoint in the work directory; False if there is none."""
        path = self.checkpoint_path
        if not path.is_file():
            return False
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise ArtifactError(f"cannot read search checkpoint '{path}' ({type(exc).__name__}: {exc}); delete it to start over") from exc
        if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
            raise ArtifactError(f"'{path}' is not a compactrs search checkpoint; delete it or choose another --out")
        mine = self._identity()
        differing = sorted(k for k in ("dataset", "init_channels", "world_size") if payload.get(k) != mine[k])
        if payload.get("stem", DEFAULT_STEM) != mine["stem"]:
            differing.append("stem")
        differing += sorted(k for k, v in mine["config"].items() if payload["config"].get(k, LEGACY_DEFAULTS.get(k)) != v)
        if differing:
            raise ConfigError(f"--resume: the checkpoint in '{path.parent}' was made with different {differing}; "
                              f"pass the options of the interrupted run, or a new --out")
        self.net.load_state_dict(payload["supernet"])
        self.w_opt.load_state_dict(payload["w_opt"])
        self.a_opt.load_state_dict(payload["a_opt"])
        torch.set_rng_state(payload["rng"]["torch"])
        self.sample_gen.set_state(payload["rng"]["sample"])
        self.data_gen.set_state(payload["rng"]["data"])
        self.history = list(payload["history"])
        self.epoch = int(payload["epoch"])
        self.seconds = float(payload["seconds"])
        self.budget_scale = float(payload.get("budget_scale", 1.0))
        return True

    # -- one step of each level -------------------------------------------------------------------------
    def _batch(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        xb, yb = self.x[index], self.y[index]
        if self.config.augment:
            xb = dihedral_augment(xb, self.data_gen)
        return xb.contiguous(memory_format=torch.channels_last), yb

    def _set_gradients(self, loss: torch.Tensor, params: list) -> None:
        """Gradients of ``loss`` for ``params`` only (None for those off this sample's graph), averaged over ranks."""
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        for p, g in zip(params, grads):
            p.grad = g
        average_gradients(params, self.world)

    def _weight_step(self, index: torch.Tensor, tau: float, lr: float) -> tuple[float, int]:
        sample = self.net.sample(tau, self.sample_gen)
        xb, yb = self._batch(index)
        logits = self.net(xb, sample)
        loss = self.task_loss(logits, yb)
        if not torch.isfinite(loss):
            raise TrainingDiverged(f"search weight loss became {loss.item()} in epoch {self.epoch + 1}; lower --w-lr "
                                   f"(now {self.config.w_lr:g})")
        self._set_gradients(loss, self.weights)
        nn.utils.clip_grad_norm_([p for p in self.weights if p.grad is not None], 5.0)
        for group in self.w_opt.param_groups:
            group["lr"] = lr
        self.w_opt.step()
        self.w_opt.zero_grad(set_to_none=True)
        return loss.item() * len(index), int((logits.argmax(1) == yb).sum())

    def _derived_cost(self, table: CostTable, genotype: dict) -> float:
        """Cost of the current argmax genotype; cached, since it changes far less often than every step."""
        key = (table.unit, json.dumps(genotype, sort_keys=True))
        if key not in self._derived_costs:
            self._derived_costs[key] = table.discrete(genotype)
        return self._derived_costs[key]

    def budget_terms(self, sample_depths: list[int]) -> tuple[torch.Tensor, dict]:
        """C_cpl · L_cpl + budget losses (MACs and, with a profile, latency) and their values for the log.

        Each budget loss is weighted by its configured weight times ``budget_scale`` (see ``_steer``).
        """
        config = self.config
        probs = self.net.probabilities()
        sharp = self.net.probabilities(STEER_TEMPERATURE)
        derived = self.net.derive()
        expected_macs = self.mac_table.expected(probs)
        loss = config.cpl_weight * complexity_loss(self.mac_table, probs, sample_depths)
        info = {"expected_macs": float(expected_macs.detach()), "derived_macs": self._derived_cost(self.mac_table, derived),
                "budget_scale": self.budget_scale}
        budgets = []
        if config.flops_target is not None:
            budgets.append((self.mac_table, expected_macs, info["derived_macs"], config.flops_target, config.target_weight))
        if self.latency_table is not None:
            expected_ms = self.latency_table.expected(probs)
            info.update(expected_latency_ms=float(expected_ms.detach()),
                        derived_latency_ms=self._derived_cost(self.latency_table, derived))
            budgets.append((self.latency_table, expected_ms, info["derived_latency_ms"], config.latency_target_ms, config.latency_weight))
        for table, expected, derived_cost, target, weight in budgets:
            # two pulls towards the band: the expected cost of the distribution (direction by its own value),
            # and the sharpened expectation that tracks the argmax network (direction by that network's cost)
            pull = target_loss(expected, float(expected.detach()), target, config.tolerance)
            pull = pull + target_loss(table.expected(sharp), derived_cost, target, config.tolerance)
            loss = loss + self.budget_scale * weight * pull
        return loss, info

    def _steer(self, info: dict) -> None:
        """Dual ascent on the budget weight: ×STEER_GROWTH per architecture step outside a band, back towards 1 inside.

        Why: the budget loss's gradient is one term beside the task loss's, and Adam normalises their sum, so
        with a fixed weight the noisy task gradient can cancel it for whole searches (expected MACs stayed at
        44–51M for a 20M target over 10 epochs). Raising the weight while the derived network misses makes
        the budget direction dominate within a few dozen steps; Adam then moves the logits by ~lr per step
        towards the band, and the weight relaxes once inside so the task loss chooses among on-budget nets.
        """
        config = self.config
        outside = (config.flops_target is not None
                   and not within_band(info["derived_macs"], config.flops_target, config.tolerance))
        if self.latency_table is not None:
            outside = outside or not within_band(info["derived_latency_ms"], config.latency_target_ms, config.tolerance)
        if outside:
            self.budget_scale = min(self.budget_scale * STEER_GROWTH, STEER_MAX)
        else:
            self.budget_scale = max(self.budget_scale / STEER_GROWTH, 1.0)

    def _progress_line(self, record: dict) -> str:
        """One line per epoch: epoch, tau, train accuracy, expected / derived cost vs the band, seconds."""
        config = self.config
        phase = " (weight warm-up)" if record["epoch"] <= self.warmup_epochs else ""
        parts = [f"search epoch {record['epoch']}/{config.epochs}{phase}", f"tau {record['tau']:.2f}", f"train acc {record['w_acc']:.3f}"]
        if config.flops_target is not None:
            parts.append(f"E[MACs] {record['expected_macs'] / 1e6:.2f}M, derived {record['derived_macs'] / 1e6:.2f}M "
                         f"vs band {_band(config.flops_target, config.tolerance, 'MACs')}")
        if "expected_latency_ms" in record:
            parts.append(f"E[latency] {record['expected_latency_ms']:.3f} ms, derived {record['derived_latency_ms']:.3f} ms "
                         f"vs band {_band(config.latency_target_ms, config.tolerance, 'ms')}")
        parts.append(f"{record['seconds']:.1f} s")
        return ", ".join(parts)

    def _arch_step(self, index: torch.Tensor, tau: float) -> tuple[float, int]:
        sample = self.net.sample(tau, self.sample_gen)
        xb, yb = self._batch(index)
        logits = self.net(xb, sample)
        task = self.task_loss(logits, yb)
        budget, info = self.budget_terms([d + 1 for d in sample.depth_index])
        loss = task + budget.to(task.dtype)
        if not torch.isfinite(loss):
            raise TrainingDiverged(f"search architecture loss became {loss.item()} in epoch {self.epoch + 1}; lower --arch-lr "
                                   f"(now {self.arch_lr:.3g})")
        # a parameter can be off the graph for a sample (e.g. reduction cells whose output no later cell
        # reads, with the budget inside its band): it then simply gets no update this step
        self._set_gradients(loss, self.arch)
        self.a_opt.step()
        self.a_opt.zero_grad(set_to_none=True)
        self._steer(info)
        return task.item() * len(index), int((logits.argmax(1) == yb).sum())

    # -- epochs -----------------------------------------------------------------------------------------
    def _shard(self, half: torch.Tensor) -> torch.Tensor:
        order = half[torch.randperm(len(half), generator=self.data_gen)]
        return order[self.world.rank * self.shard : (self.world.rank + 1) * self.shard]

    def run_epoch(self) -> dict:
        config, started = self.config, time.perf_counter()
        tau = linear_temperature(self.epoch, config.epochs, config.tau_max, config.tau_min)
        w_order, a_order = self._shard(self.w_half), self._shard(self.a_half)
        totals = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]  # w loss·n, w correct, w n, a loss·n, a correct, a n
        lr = config.w_lr
        self.progress.start("batch", f"search epoch {self.epoch + 1}/{config.epochs}", self.steps_per_epoch)
        self.net.train()
        for step in range(self.steps_per_epoch):
            batch = slice(step * config.batch_size, (step + 1) * config.batch_size)
            w_index, a_index = w_order[batch], a_order[batch]
            if len(w_index) < 2 or len(a_index) < 2:
                continue  # BatchNorm cannot train on one sample
            lr = cosine_lr(config.w_lr, config.w_lr_min, self.epoch * self.steps_per_epoch + step, self.total_steps)
            loss, correct = self._weight_step(w_index, tau, lr)
            totals[0] += loss; totals[1] += correct; totals[2] += len(w_index)  # noqa: E702
            if self.epoch >= self.warmup_epochs:  # weight warm-up first (GDAS / FBNet): the supernet must learn
                loss, correct = self._arch_step(a_index, tau)
                totals[3] += loss; totals[4] += correct; totals[5] += len(a_index)  # noqa: E702
            self.progress.advance("batch")
        self.progress.finish("batch")
        totals = sum_over_ranks(totals, self.world)
        with torch.no_grad():
            _, budget = self.budget_terms([config.initial_depth] * config.blocks)
            probs = self.net.probabilities()
        self.epoch += 1
        record = {
            "epoch": self.epoch, "tau": tau, "lr": lr,
            "w_loss": totals[0] / max(totals[2], 1), "w_acc": totals[1] / max(totals[2], 1),
            "a_loss": totals[3] / max(totals[5], 1), "a_acc": totals[4] / max(totals[5], 1),
            **budget, "genotype": self.net.derive(),
            "probs": {"ops": {t: probs.ops[t].tolist() for t in CELL_TYPES},
                      "inputs": {t: probs.inputs[t].tolist() for t in CELL_TYPES}, "depths": probs.depths.tolist(),
                      **({"stems": probs.stems.tolist()} if probs.stems is not None else {})},
            "seconds": time.perf_counter() - started,
        }
        self.seconds += record["seconds"]
        return record

    def run(self, resume: bool = False, on_epoch=None) -> SearchOutcome:
        """Search for the configured epochs (continuing a checkpoint when ``resume``); returns the outcome.

        ``on_epoch(record)`` is called after each epoch's checkpoint is written (an exception raised there
        stops the run as a kill would).
        """
        resumed_from = 0
        if resume and self.load():
            resumed_from = self.epoch
            self.log.line(f"resumed from {self.checkpoint_path} after epoch {self.epoch}/{self.config.epochs}")
        elif self.world.is_main and self.checkpoint_path.exists():
            raise ConfigError(f"'{self.work_dir}' holds a search checkpoint; pass --resume to continue it or choose another --out")
        self.log.line(f"search: {len(self.config.ops)} ops, init_channels {self.init_channels}, {self.steps_per_epoch} steps/epoch x "
                      f"{self.config.epochs} epochs, {self.world.size} process(es), arch lr {self.arch_lr:.3g}")
        self.progress.start("search", "search epochs", self.config.epochs)
        self.progress.advance("search", self.epoch)
        while self.epoch < self.config.epochs:
            record = self.run_epoch()
            check_in_sync(self.arch, self.world, "architecture parameters")
            check_in_sync(self.weights, self.world, "supernet weights")
            self.history.append(record)
            self.save()
            self.log.line(_summary(record))
            self.progress.log(self._progress_line(record))  # on stderr even without a terminal (no silent hours)
            self.progress.advance("search")
            barrier(self.world)
            if on_epoch is not None:
                on_epoch(record)
        self.progress.finish("search")
        return SearchOutcome(self.net.derive(), self.history, self.seconds, self.net, resumed_from, self.halves)


def _band(target: float, tolerance: float, unit: str) -> str:
    if unit == "MACs":
        return f"[{target * (1 - tolerance) / 1e6:.2f}M, {target / 1e6:.2f}M]"
    return f"[{target * (1 - tolerance):.3f}, {target:.3f}] ms"


def _summary(record: dict) -> str:
    parts = [f"epoch {record['epoch']}", f"tau {record['tau']:.2f}", f"w_loss {record['w_loss']:.4f}", f"w_acc {record['w_acc']:.3f}",
             f"a_loss {record['a_loss']:.4f}", f"a_acc {record['a_acc']:.3f}",
             f"E[MACs] {record['expected_macs'] / 1e6:.2f}M", f"derived {record['derived_macs'] / 1e6:.2f}M",
             f"depths {record['genotype']['depths']}", f"{record['seconds']:.1f}s"]
    if "expected_latency_ms" in record:
        parts.insert(-2, f"E[latency] {record['expected_latency_ms']:.3f}ms")
    return " ".join(parts)


def probabilities_summary(net: Supernet) -> dict:
    """Final architecture probabilities as plain lists (for genotype.json / report.json)."""
    probs = net.probabilities()
    out = {"ops": list(net.ops), "op_probs": {t: np.round(probs.ops[t].detach().numpy(), 4).tolist() for t in CELL_TYPES},
           "depth_probs": np.round(probs.depths.detach().numpy(), 4).tolist()}
    if probs.stems is not None:
        out["stem_probs"] = {kind: round(float(p), 4) for kind, p in zip(net.stem_kinds, probs.stems.detach())}
    return out
