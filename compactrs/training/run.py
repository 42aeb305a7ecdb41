"""Run directories: config.json, log.txt, metrics.jsonl, arch.json, model.pt, report.json, plots/.

Every command that trains (train, search, prune) finishes through ``write_run`` so their run directories
and reports have one shape.
"""
from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

from torch import nn

from compactrs._env import versions
from compactrs._io import write_json
from compactrs.cost import model_cost
from compactrs.data import Dataset
from compactrs.deploy.machine import describe_machine
from compactrs.runtime import measure_latency
from compactrs.training.checkpoint import save_checkpoint
from compactrs.training.plots import plot_confusion, plot_curves

REPORT_FORMAT = "compactrs.report/1"


def default_run_dir(kind: str, name: str, root: str | os.PathLike = "runs") -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(root) / f"{kind}-{name}-{stamp}"


class RunLog:
    """log.txt (human lines) and metrics.jsonl (one JSON line per epoch) inside a run directory."""

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._log = open(self.run_dir / "log.txt", "a", encoding="utf-8")
        self._metrics = open(self.run_dir / "metrics.jsonl", "a", encoding="utf-8")

    def line(self, message: str) -> None:
        self._log.write(f"{datetime.now(timezone.utc).isoformat(timespec='seconds')} {message}\n")
        self._log.flush()

    def epoch(self, record: dict) -> None:
        self._metrics.write(json.dumps(record) + "\n")
        self._metrics.flush()
        summary = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items())
        self.line(summary)

    def close(self) -> None:
        self._log.close()
        self._metrics.close()


def build_report(task: str, network: nn.Module, dataset: Dataset, metrics: dict, seed: int, target: dict | None = None, **extra) -> dict:
    """report.json contents: accuracy, cost (MACs are multiply-accumulates), latency, target, provenance."""
    cost = model_cost(network, dataset.in_bands, dataset.input_size)
    # PyTorch eager with the threads as currently set (the run's --threads); onnxruntime latencies are added by the
    # stages that report them (search, prune) through the same helper.
    latency = measure_latency(network, (dataset.in_bands, *dataset.input_size), "torch", threads=None)
    report = {
        "format": REPORT_FORMAT,
        "task": task,
        "dataset": dataset.spec,
        "num_classes": dataset.num_classes,
        "class_names": dataset.class_names,
        "in_bands": dataset.in_bands,
        "input_size": list(dataset.input_size),
        "split": dataset.split,
        "n_train": int(len(dataset.y_train)),
        "n_test": int(len(dataset.y_test)),
        "oa": metrics["oa"],
        "aa": metrics["aa"],
        "kappa": metrics["kappa"],
        "per_class_acc": metrics["per_class_acc"],
        "confusion": metrics["confusion"],
        "macs": cost["macs"],
        "params": cost["params"],
        "flops_convention": "MACs (multiply-accumulates) of conv/linear layers; BN folded, element-wise ops not counted",
        "latency_ms": {"measured": latency, "predicted": None},
        "target": target or {},
        "seed": seed,
        "versions": versions(),
        "machine": describe_machine(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    report.update(extra)
    return report


def write_run(run_dir: Path, model: nn.Module, arch: dict, dataset: Dataset, config: dict, history: list[dict], metrics: dict, report: dict, title: str) -> dict:
    """Write arch.json, model.pt, report.json and the plots into ``run_dir`` (config/log/metrics exist already)."""
    run_dir = Path(run_dir)
    write_json(run_dir / "arch.json", arch)
    save_checkpoint(run_dir / "model.pt", model, arch, dataset.input_spec(), config=config)
    plots = run_dir / "plots"
    plot_confusion(plots / "confusion.png", metrics["confusion"], dataset.class_names, f"{title}: OA {metrics['oa']:.3f}, AA {metrics['aa']:.3f}, κ {metrics['kappa']:.3f}")
    if history:
        plot_curves(plots / "training.png", history, ["train_acc", "test_oa"], f"{title}: accuracy per epoch", "accuracy")
    write_json(run_dir / "report.json", report)
    return report
