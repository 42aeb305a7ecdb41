"""Score an exported bundle (its ONNX model in onnxruntime) on a dataset's test split."""
from __future__ import annotations

import os
from pathlib import Path

from compactrs.data import Dataset, check_dataset_fits, load_dataset
from compactrs.errors import ArtifactError, DataError
from compactrs.exporter.bundle import read_manifest
from compactrs.runtime import OnnxRuntimeRunner
from compactrs.training.metrics import classification_metrics


def evaluate_bundle(bundle: str | os.PathLike, data: str | Dataset | None = None, model_file: str | None = None,
                    threads: int | None = None, seed: int = 0) -> dict:
    """OA / AA / kappa of a bundle's model (default ``model.onnx``) on the test split of ``data``.

    ``data`` defaults to the dataset recorded in the manifest; its bands and classes must match the
    bundle's input contract, and so must its normalisation (the bundle expects the recorded mean/std).
    """
    bundle = Path(bundle)
    manifest = read_manifest(bundle)
    contract = manifest["input_spec"]
    files = [entry["file"] for entry in manifest["models"] if entry.get("runtime") == "onnxruntime"]
    model_file = model_file or "model.onnx"
    if model_file not in files:
        raise ArtifactError(f"bundle '{bundle}' has no onnxruntime model '{model_file}'; it has {files}")
    spec = data if data is not None else contract.get("dataset")
    if spec is None:
        raise DataError(f"bundle '{bundle}' does not record its dataset; pass --data SPEC")
    dataset = spec if isinstance(spec, Dataset) else load_dataset(spec, seed)
    check_dataset_fits(dataset, contract["shape"][1], len(contract["class_names"]), f"bundle '{bundle}'", contract.get("dataset"),
                       mean=contract["mean"], fix=f"pass the data it was exported for ({contract.get('dataset')})")
    with OnnxRuntimeRunner(bundle / model_file, threads) as runner:
        logits = runner.infer_batched(dataset.x_test, batch=64)
    metrics = classification_metrics(dataset.y_test, logits.argmax(axis=1), dataset.num_classes)
    return {**metrics, "dataset": dataset.spec, "run": str(bundle), "model_file": model_file, "runtime": "onnxruntime",
            "reported": None}
