"""Score an exported bundle (its ONNX model in onnxruntime) on a dataset's test split."""
from __future__ import annotations

import os
from pathlib import Path

from compactrs.data import Dataset, check_dataset_fits, load_dataset
from compactrs.errors import ArtifactError, DataError
from compactrs.exporter.bundle import read_manifest
from compactrs.runtime import make_runner
from compactrs.training.metrics import classification_metrics


def evaluate_bundle(bundle: str | os.PathLike, data: str | Dataset | None = None, model_file: str | None = None,
                    threads: int | None = None, seed: int = 0) -> dict:
    """OA / AA / kappa of a bundle's model (default ``model.onnx``) on the test split of ``data``.

    The model runs in the runtime its manifest entry names (onnxruntime, tensorrt, or any registered runtime).

    ``data`` defaults to the dataset recorded in the manifest; its bands and classes must match the
    bundle's input contract, and so must its normalisation (the bundle expects the recorded mean/std).
    """
    bundle = Path(bundle)
    manifest = read_manifest(bundle)
    contract = manifest["input_spec"]
    entries = {entry["file"]: entry for entry in manifest["models"]}
    model_file = model_file or "model.onnx"
    if model_file not in entries or not (bundle / model_file).is_file():
        built = [name for name in entries if (bundle / name).is_file()]
        raise ArtifactError(f"bundle '{bundle}' has no model '{model_file}'; it has {built} (pass one of them with --model-file)")
    runtime = entries[model_file]["runtime"]
    spec = data if data is not None else contract.get("dataset")
    if spec is None:
        raise DataError(f"bundle '{bundle}' does not record its dataset; pass --data SPEC")
    dataset = spec if isinstance(spec, Dataset) else load_dataset(spec, seed)
    check_dataset_fits(dataset, contract["shape"][1], len(contract["class_names"]), f"bundle '{bundle}'", contract.get("dataset"),
                       mean=contract["mean"], fix=f"pass the data it was exported for ({contract.get('dataset')})")
    with make_runner(runtime, bundle / model_file, threads) as runner:
        logits = runner.infer_batched(dataset.x_test, batch=64)
    metrics = classification_metrics(dataset.y_test, logits.argmax(axis=1), dataset.num_classes)
    return {**metrics, "class_names": list(contract["class_names"]), "dataset": dataset.spec, "run": str(bundle),
            "model_file": model_file, "runtime": runtime,
            "reported": None}
