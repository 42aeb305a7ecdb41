"""Public entry points of the training stage: ``train`` a registered model, ``evaluate`` a run."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from compactrs._io import staging_dir, write_json
from compactrs._progress import Progress
from compactrs.data import Dataset, check_dataset_fits, load_dataset
from compactrs.errors import ArtifactError, ConfigError
from compactrs.models import arch_of, build_model
from compactrs.training.checkpoint import load_checkpoint, trained_seed
from compactrs.training.loop import TrainConfig, evaluate, fit, seed_everything, to_device_layout
from compactrs.training.run import RunLog, build_report, default_run_dir, write_run


def _resolve_dataset(data: str | Dataset, seed: int) -> Dataset:
    return data if isinstance(data, Dataset) else load_dataset(data, seed=seed)


def train_network(model, arch: dict, dataset: Dataset, config: TrainConfig, out: Path, task: str, title: str,
                  progress: Progress | None = None, overwrite: bool = False, target: dict | None = None,
                  extra_config: dict | None = None, extra_report: dict | None = None,
                  extra_files: dict | None = None) -> dict:
    """Train ``model`` (built from ``arch``) on ``dataset`` and write a complete run directory at ``out``.

    The directory is built under a temporary name and appears only when everything was written.
    ``extra_files`` maps file names to JSON-able objects written into the run directory too
    (e.g. ``{"prune_plan.json": plan}``).
    Returns the report (also written to ``out/report.json``) with ``run_dir`` added.
    """
    try:
        with staging_dir(out, overwrite=overwrite) as stage:
            config_record = {"task": task, "arch": arch, "dataset": dataset.spec, "train": config.to_dict(), **(extra_config or {})}
            write_json(stage / "config.json", config_record)
            log = RunLog(stage)
            log.line(f"{task}: {title} on {dataset.spec}: {len(dataset.y_train)} train / {len(dataset.y_test)} test samples")
            started = time.perf_counter()
            try:
                history = fit(model, dataset.x_train, dataset.y_train, config, dataset.x_test, dataset.y_test,
                              dataset.num_classes, progress=progress, on_epoch=log.epoch)
                train_seconds = time.perf_counter() - started
                metrics = evaluate(model, dataset.x_test, dataset.y_test, dataset.num_classes, config.eval_batch_size, config.channels_last)
                report = build_report(task, model, dataset, metrics, config.seed, target,
                                      model=arch["model"], train_seconds=train_seconds, epochs=config.epochs,
                                      **(extra_report or {}))
                log.line(f"test OA {metrics['oa']:.4f} AA {metrics['aa']:.4f} kappa {metrics['kappa']:.4f} "
                         f"MACs {report['macs']} params {report['params']} in {train_seconds:.1f} s")
            finally:
                log.close()
            write_run(stage, model, arch, dataset, config_record, history, metrics, report, title)
            for name, content in (extra_files or {}).items():
                write_json(stage / name, content)
    except FileExistsError as exc:
        raise ConfigError(f"output directory '{exc}' already exists and is not empty; pass --overwrite or choose another --out") from exc
    report["run_dir"] = str(Path(out))
    return report


def train(model: str, data: str | Dataset = "synthetic", config: TrainConfig | None = None, out: str | os.PathLike | None = None,
          model_kwargs: dict | None = None, progress: Progress | None = None, overwrite: bool = False) -> dict:
    """Train registered model ``model`` on dataset spec ``data``; write a run directory; return its report.

    Args:
        model: a registered name (see ``list_models``), e.g. ``"resnet20"``.
        data: a dataset spec (``"hsi:PATH"``, ...) or a loaded ``Dataset``.
        config: training options (epochs, batch size, learning rate, loss, seed, ...).
        out: run directory to create (default ``runs/train-<model>-<time>``).
        model_kwargs: extra options of the model (e.g. ``{"width": 32}``).
    """
    config = config or TrainConfig()
    if config.epochs < 1:
        raise ConfigError(f"--epochs {config.epochs} trains nothing; pass --epochs 1 or more (TrainConfig(epochs=N) in Python)")
    dataset = _resolve_dataset(data, config.seed)
    arch = arch_of(model, dataset.in_bands, dataset.num_classes, **(model_kwargs or {}))
    seed_everything(config.seed)  # the initial weights are part of what the seed reproduces
    network = build_model(arch)
    out = Path(out) if out is not None else default_run_dir("train", model)
    return train_network(network, arch, dataset, config, out, "train", model, progress, overwrite)


def evaluate_run(run: str | os.PathLike, data: str | Dataset | None = None) -> dict:
    """Re-score a run directory's model.pt on the test split of ``data`` (default: the dataset it was trained on).

    Returns ``{"oa", "aa", "kappa", "per_class_acc", "confusion", "n", "class_names", "dataset", "reported": {...}}``
    where ``reported`` holds the run's own report.json metrics for comparison (None if absent).
    """
    run = Path(run)
    model, payload = load_checkpoint(run)
    spec = payload["input_spec"]
    dataset = _resolve_dataset(data if data is not None else spec["dataset"], trained_seed(payload))
    check_dataset_fits(dataset, spec["in_bands"], spec["num_classes"], f"the model in '{run}'", spec["dataset"],
                       fix=f"pass the --data it was trained on ({spec['dataset']})")
    batch = int(payload.get("config", {}).get("train", {}).get("eval_batch_size", 256))
    channels_last = bool(payload.get("config", {}).get("train", {}).get("channels_last", True))
    model = to_device_layout(model, channels_last)
    metrics = evaluate(model, dataset.x_test, dataset.y_test, dataset.num_classes, batch, channels_last)
    reported = None
    report_path = run / "report.json" if run.is_dir() else None
    if report_path is not None and report_path.is_file():
        try:
            report = json.loads(report_path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ArtifactError(f"'{report_path}' is not valid JSON ({exc}); re-create the run") from exc
        reported = {k: report.get(k) for k in ("oa", "aa", "kappa", "dataset")}
    return {**metrics, "class_names": list(dataset.class_names), "dataset": dataset.spec, "run": str(run), "reported": reported}
