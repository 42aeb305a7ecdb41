"""The one training / evaluation loop shared by ``train``, the search's retraining and pruning's fine-tune."""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn

from compactrs._progress import Progress
from compactrs.errors import ConfigError, TrainingDiverged
from compactrs.training.losses import LOSSES, make_loss
from compactrs.training.metrics import classification_metrics


@dataclass(frozen=True)
class TrainConfig:
    """Options of one supervised training run (SGD + cosine schedule, as in the search literature)."""

    epochs: int = 30
    batch_size: int = 64
    lr: float = 0.05
    lr_min: float = 0.0
    momentum: float = 0.9
    weight_decay: float = 5e-4
    loss: str = "ce"
    label_smoothing: float = 0.0
    focal_gamma: float = 2.0
    augment: bool = True
    seed: int = 0
    threads: int | None = None
    channels_last: bool = True
    eval_batch_size: int = 256

    def __post_init__(self):
        # epochs = 0 is allowed here (a stage may skip its fine-tune); compactrs.train itself refuses it.
        if self.epochs < 0:
            raise ConfigError(f"epochs must be >= 0, got {self.epochs}")
        for name in ("batch_size", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name.replace('_', ' ')} must be >= 1, got {getattr(self, name)}")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"threads must be >= 1 (or None for all cores), got {self.threads}")
        if not self.lr > 0:
            raise ConfigError(f"learning rate must be positive, got {self.lr}; e.g. --lr 0.05")
        if not 0 <= self.lr_min <= self.lr:
            raise ConfigError(f"lr_min must be in [0, lr={self.lr}], got {self.lr_min}")
        if not 0 <= self.momentum < 1:
            raise ConfigError(f"momentum must be in [0, 1), got {self.momentum}")
        if not self.weight_decay >= 0:
            raise ConfigError(f"weight decay must be >= 0, got {self.weight_decay}")
        if self.loss not in LOSSES:
            raise ConfigError(f"unknown loss '{self.loss}'; valid: {', '.join(LOSSES)}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError(f"label smoothing must be in [0, 1), got {self.label_smoothing}")

    def to_dict(self) -> dict:
        return asdict(self)


def seed_everything(seed: int) -> torch.Generator:
    """Seed torch and numpy; return a generator for data order and augmentation."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def configure_threads(threads: int | None) -> None:
    if threads is not None:
        if threads < 1:
            raise ConfigError(f"threads must be >= 1, got {threads}")
        torch.set_num_threads(threads)


def dihedral_augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Apply one of the 8 flips / 90° rotations per sample: overhead imagery has no 'up'."""
    square = x.shape[-1] == x.shape[-2]
    choices = torch.randint(0, 8 if square else 4, (x.shape[0],), generator=generator)
    out = x.clone()
    for code in range(1, 8 if square else 4):
        mask = choices == code
        if not mask.any():
            continue
        part = x[mask]
        if code & 1:
            part = part.flip(-1)
        if code & 2:
            part = part.flip(-2)
        if code & 4:
            part = part.transpose(-1, -2)
        out[mask] = part
    return out


def to_device_layout(model: nn.Module, channels_last: bool) -> nn.Module:
    # channels_last makes depthwise/dilated conv backward ~4x faster on CPU (see FINDINGS.md).
    return model.to(memory_format=torch.channels_last) if channels_last else model


def _as_input(batch: torch.Tensor, channels_last: bool) -> torch.Tensor:
    return batch.contiguous(memory_format=torch.channels_last) if channels_last else batch


@torch.no_grad()
def predict_logits(model: nn.Module, x: np.ndarray, batch_size: int = 256, channels_last: bool = True) -> np.ndarray:
    """Logits of ``model`` (eval mode) for ``x`` (N, C, H, W) float32, batch by batch."""
    was_training = model.training
    model.eval()
    outputs = []
    for start in range(0, len(x), batch_size):
        batch = torch.from_numpy(np.ascontiguousarray(x[start : start + batch_size]))
        outputs.append(model(_as_input(batch, channels_last)).float().numpy())
    model.train(was_training)
    if not outputs:
        return np.zeros((0, 0), dtype=np.float32)
    return np.concatenate(outputs)


def evaluate(model: nn.Module, x: np.ndarray, y: np.ndarray, num_classes: int, batch_size: int = 256, channels_last: bool = True) -> dict:
    """OA / AA / kappa / per-class accuracy / confusion of ``model`` on (x, y)."""
    logits = predict_logits(model, x, batch_size, channels_last)
    return classification_metrics(y, logits.argmax(axis=1), num_classes)


def cosine_lr(base: float, minimum: float, step: int, total: int) -> float:
    if total <= 1:
        return base
    return minimum + 0.5 * (base - minimum) * (1.0 + math.cos(math.pi * step / total))


def train_one_epoch(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    optimizer: torch.optim.Optimizer,
    loss_fn: nn.Module,
    config: TrainConfig,
    generator: torch.Generator,
    lr_at: Callable[[int], float] | None = None,
    first_step: int = 0,
    progress: Progress | None = None,
) -> dict:
    """One pass over (x, y) in a seeded random order; returns mean loss, train accuracy and steps."""
    model.train()
    order = torch.randperm(len(x), generator=generator)
    x_all, y_all = torch.from_numpy(x), torch.from_numpy(y)
    total_loss, correct, seen, step = 0.0, 0, 0, first_step
    for start in range(0, len(order), config.batch_size):
        index = order[start : start + config.batch_size]
        if len(index) < 2 and len(order) > 1:
            continue  # BatchNorm cannot train on a batch of one
        xb, yb = x_all[index], y_all[index]
        if config.augment:
            xb = dihedral_augment(xb, generator)
        if lr_at is not None:
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step)
        logits = model(_as_input(xb, config.channels_last))
        loss = loss_fn(logits, yb)
        if not torch.isfinite(loss):
            raise TrainingDiverged(f"training loss became {loss.item()} at step {step} with learning rate "
                                   f"{optimizer.param_groups[0]['lr']:.3g}; lower it (compactrs train --lr, "
                                   f"TrainConfig(lr=...) in Python) or check the data for extreme values")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        total_loss += loss.item() * len(index)
        correct += int((logits.argmax(1) == yb).sum())
        seen += len(index)
        step += 1
        if progress is not None:
            progress.advance("batch")
    return {"loss": total_loss / max(seen, 1), "train_acc": correct / max(seen, 1), "steps": step - first_step}


def fit(
    model: nn.Module,
    x_train: np.ndarray,
    y_train: np.ndarray,
    config: TrainConfig,
    x_test: np.ndarray | None = None,
    y_test: np.ndarray | None = None,
    num_classes: int | None = None,
    progress: Progress | None = None,
    on_epoch: Callable[[dict], None] | None = None,
) -> list[dict]:
    """Train ``model`` in place with SGD (momentum, weight decay) and a per-step cosine learning rate.

    After each epoch the test split (if given) is scored; each epoch's record goes to ``on_epoch`` and into
    the returned history: ``{"epoch", "loss", "train_acc", "lr", "seconds", "test_oa", ...}``.
    """
    configure_threads(config.threads)
    generator = seed_everything(config.seed)
    model = to_device_layout(model, config.channels_last)
    loss_fn = make_loss(config.loss, config.label_smoothing, config.focal_gamma)
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        # No weight decay on BN / bias parameters: decaying them only hurts small networks.
        (no_decay if parameter.ndim <= 1 else decay).append(parameter)
    optimizer = torch.optim.SGD(
        [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=config.lr, momentum=config.momentum, nesterov=True,
    )
    steps_per_epoch = max(1, math.ceil(len(x_train) / config.batch_size))
    total_steps = steps_per_epoch * config.epochs

    def lr_at(step: int) -> float:
        return cosine_lr(config.lr, config.lr_min, step, total_steps)

    history, step = [], 0
    if progress is not None:
        progress.start("epoch", "epochs", config.epochs)
    for epoch in range(1, config.epochs + 1):
        if progress is not None:
            progress.start("batch", f"epoch {epoch}/{config.epochs}", steps_per_epoch)
        started = time.perf_counter()
        record = train_one_epoch(model, x_train, y_train, optimizer, loss_fn, config, generator, lr_at, step, progress)
        step += record.pop("steps")
        record = {"epoch": epoch, **record, "lr": lr_at(step), "seconds": time.perf_counter() - started}
        if x_test is not None and y_test is not None and num_classes is not None:
            scores = evaluate(model, x_test, y_test, num_classes, config.eval_batch_size, config.channels_last)
            record.update(test_oa=scores["oa"], test_aa=scores["aa"], test_kappa=scores["kappa"])
        history.append(record)
        if on_epoch is not None:
            on_epoch(record)
        if progress is not None:
            progress.advance("epoch")
            progress.finish("batch")
    if progress is not None:
        progress.finish("epoch")
    return history
