"""Score an exported bundle (one of its models, in its runtime) on a dataset's test split."""
from __future__ import annotations

import os
from pathlib import Path

from compactrs.data import Dataset, check_dataset_fits, load_dataset
from compactrs.deploy.bundle import BundleError
from compactrs.deploy.runners import bundle_precision
from compactrs.errors import ArtifactError, ConfigError, DataError
from compactrs.exporter.bundle import read_manifest
from compactrs.runtime import RUNTIMES, make_runner
from compactrs.training.metrics import classification_metrics


def evaluate_bundle(bundle: str | os.PathLike, data: str | Dataset | None = None, model_file: str | None = None,
                    threads: int | None = None, seed: int = 0, runtime: str | None = None, precision: str | None = None) -> dict:
    """OA / AA / kappa of a bundle's model on the test split of ``data``.

    The model is ``model_file`` (default: ``runtime``'s default file, e.g. ``model.xml`` for openvino; else
    ``model.onnx``) and runs in the runtime its manifest entry names (``runtime``, where given, must match).

    ``data`` defaults to the dataset recorded in the manifest; its bands and classes must match the
    bundle's input contract, and so must its normalisation (the bundle expects the recorded mean/std).
    ``precision`` picks among what the manifest offers for that file (OpenVINO: fp32 or, if exported with
    --bf16, bf16); default: the file's first entry.
    """
    bundle = Path(bundle)
    manifest = read_manifest(bundle)
    contract = manifest["input_spec"]
    if runtime is not None and runtime not in RUNTIMES:
        raise ConfigError(f"unknown runtime '{runtime}'; valid: {', '.join(RUNTIMES)}")
    entries = manifest["models"]
    if model_file is None:
        model_file = RUNTIMES[runtime].default_file if runtime in RUNTIMES else "model.onnx"
    matching = [e for e in entries if e["file"] == model_file and (runtime is None or e["runtime"] == runtime)]
    if not matching or not (bundle / model_file).is_file():
        built = sorted({e["file"] for e in entries if (bundle / e["file"]).is_file()})
        hint = ", or export with --openvino" if runtime == "openvino" else ""
        raise ArtifactError(f"bundle '{bundle}' has no {runtime + ' ' if runtime else ''}model '{model_file}'; it has {built} "
                            f"(pass one of them with --model-file{hint})")
    runtime = matching[0]["runtime"]
    try:
        precision = bundle_precision(manifest, runtime, model_file, precision)
    except BundleError as exc:
        raise ConfigError(str(exc)) from exc
    spec = data if data is not None else contract.get("dataset")
    if spec is None:
        raise DataError(f"bundle '{bundle}' does not record its dataset; pass --data SPEC")
    dataset = spec if isinstance(spec, Dataset) else load_dataset(spec, seed)
    check_dataset_fits(dataset, contract["shape"][1], len(contract["class_names"]), f"bundle '{bundle}'", contract.get("dataset"),
                       mean=contract["mean"], fix=f"pass the data it was exported for ({contract.get('dataset')})")
    options = {"precision": precision} if RUNTIMES[runtime].takes_precision and precision else {}
    with make_runner(runtime, bundle / model_file, threads, **options) as runner:
        logits = runner.infer_batched(dataset.x_test, batch=64)
    metrics = classification_metrics(dataset.y_test, logits.argmax(axis=1), dataset.num_classes)
    return {**metrics, "class_names": list(contract["class_names"]), "dataset": dataset.spec, "run": str(bundle),
            "model_file": model_file, "runtime": runtime, "precision": precision, "reported": None}
