"""Parity validation: run a reference and a candidate runner on the same inputs and compare (Polygraphy style).

Inputs are real samples from the model's test split plus random and extreme-value inputs; comparators are
small factories (``allclose(atol, rtol)``, ``top1_agreement(min)``, ``oa_drop(max)``). FP32 uses Polygraphy's
default atol = rtol = 1e-5; reduced precision (INT8, FP16) is judged by the task metric instead.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from compactrs.data import Dataset, check_dataset_fits
from compactrs.deploy.bundle import compare_outputs
from compactrs.errors import ArtifactError, ValidationFailed
from compactrs.runtime import Runner, TorchRunner, runner_for_file

EXTREME_SIGMA = 6.0  # inputs are standardised per band, so ±6 is a six-sigma pixel


@dataclass(frozen=True)
class ValidationInputs:
    """Model inputs (float32 NCHW), labels (-1 where there is none) and what each row is."""

    x: np.ndarray
    labels: np.ndarray
    kinds: list[str] = field(default_factory=list)

    @property
    def real(self) -> np.ndarray:
        return self.labels >= 0


def validation_inputs(dataset: Dataset | None, input_shape, n_real: int = 64, n_random: int = 8, seed: int = 0,
                      max_real: int | None = None) -> ValidationInputs:
    """Real test samples (a seeded draw of ``n_real``; all of them if ``n_real`` is None) + random + extreme inputs.

    The extreme inputs are constant ±6σ images, zeros, and a ±6σ checkerboard (a high-frequency pattern that
    saturates every band at once).
    """
    rng = np.random.default_rng(seed)
    shape = tuple(int(d) for d in input_shape[1:])
    parts, labels, kinds = [], [], []
    if dataset is not None and len(dataset.x_test):
        count = len(dataset.x_test) if n_real is None else min(n_real, len(dataset.x_test))
        count = count if max_real is None else min(count, max_real)
        index = np.sort(rng.choice(len(dataset.x_test), size=count, replace=False))
        parts.append(dataset.x_test[index])
        labels += dataset.y_test[index].tolist()
        kinds += [f"real test sample {i}" for i in index]
    if n_random:
        parts.append(rng.standard_normal((n_random, *shape)).astype(np.float32))
        labels += [-1] * n_random
        kinds += ["random N(0,1)"] * n_random
    checker = np.indices(shape[1:]).sum(axis=0) % 2 * 2 - 1
    extremes = [np.full(shape, EXTREME_SIGMA), np.full(shape, -EXTREME_SIGMA), np.zeros(shape),
                np.broadcast_to(checker * EXTREME_SIGMA, shape)]
    parts.append(np.stack(extremes).astype(np.float32))
    labels += [-1] * len(extremes)
    kinds += ["extreme +6σ", "extreme -6σ", "extreme zeros", "extreme ±6σ checkerboard"]
    return ValidationInputs(np.ascontiguousarray(np.concatenate(parts), dtype=np.float32), np.asarray(labels, np.int64), kinds)


# --- comparators -----------------------------------------------------------------------------------------

Comparator = Callable[[np.ndarray, np.ndarray, ValidationInputs], dict]


def allclose(atol: float = 1e-5, rtol: float = 1e-5, option: str | None = None) -> Comparator:
    """Elementwise |candidate - reference| <= atol + rtol·|reference| on every input (Polygraphy's FP32 default).

    ``option`` (in every comparator) names the setting that sets the threshold, for the failure message.
    """

    def compare(reference: np.ndarray, candidate: np.ndarray, inputs: ValidationInputs) -> dict:
        result = compare_outputs(reference, candidate, atol, rtol)  # the device's golden check: one definition of "close"
        return {"name": f"allclose(atol={atol:g}, rtol={rtol:g})", "option": option, "worst_input": inputs.kinds[result["worst_index"]],
                **{k: result[k] for k in ("passed", "max_abs_err", "max_rel_err", "worst_index", "worst_abs_err", "worst_rel_err")}}

    return compare


def top1_agreement(minimum: float = 1.0, option: str | None = None) -> Comparator:
    """The fraction of real samples whose predicted class is the same must be >= ``minimum``."""

    def compare(reference: np.ndarray, candidate: np.ndarray, inputs: ValidationInputs) -> dict:
        real = inputs.real
        same = reference[real].argmax(1) == candidate[real].argmax(1)
        agreement = float(same.mean()) if real.any() else 1.0
        first = int(np.flatnonzero(real)[np.flatnonzero(~same)[0]]) if (~same).any() else None
        return {"name": f"top1_agreement(min={minimum:g})", "option": option, "passed": agreement >= minimum, "agreement": agreement,
                "n": int(real.sum()), "worst_index": first, "worst_input": None if first is None else inputs.kinds[first]}

    return compare


def oa_drop(maximum: float = 0.01, option: str | None = None) -> Comparator:
    """Overall accuracy on the real (labelled) samples may fall by at most ``maximum`` (0.01 = one point)."""

    def compare(reference: np.ndarray, candidate: np.ndarray, inputs: ValidationInputs) -> dict:
        real = inputs.real
        labels = inputs.labels[real]
        oa_ref = float((reference[real].argmax(1) == labels).mean()) if real.any() else float("nan")
        oa_new = float((candidate[real].argmax(1) == labels).mean()) if real.any() else float("nan")
        drop = oa_ref - oa_new
        return {"name": f"oa_drop(max={maximum:g})", "option": option, "passed": bool(real.any() and drop <= maximum), "oa_reference": oa_ref,
                "oa_candidate": oa_new, "oa_drop": drop, "n": int(real.sum())}

    return compare


def comparators_for(precision: str, atol: float = 1e-5, rtol: float = 1e-5, max_oa_drop: float = 0.01,
                    min_agreement: float = 0.97) -> list[Comparator]:
    """FP32: elementwise allclose + identical top-1; INT8 / FP16: top-1 agreement + OA drop on real data."""
    if precision == "fp32":  # an FP32 export must keep every prediction: no option relaxes its top-1 check
        return [allclose(atol, rtol, "--atol / --rtol"), top1_agreement(1.0)]
    if precision in ("int8", "fp16"):
        return [top1_agreement(min_agreement, "--min-agreement"), oa_drop(max_oa_drop, "--max-oa-drop")]
    raise ArtifactError(f"unknown precision '{precision}'; valid: fp32, fp16, int8")


# --- running and judging -----------------------------------------------------------------------------------

def compare_runners(reference: Runner, candidate: Runner, inputs: ValidationInputs, comparators: list[Comparator],
                    batch: int = 32, reference_outputs: np.ndarray | None = None) -> dict:
    """Run both runners on ``inputs`` (in batches of ``batch``) and apply every comparator.

    Returns ``{"reference", "candidate", "passed", "n_inputs", "comparisons": [...], "max_abs_err"}``.
    """
    if reference_outputs is None:
        with reference:
            reference_outputs = reference.infer_batched(inputs.x, batch)
    with candidate:
        candidate_outputs = candidate.infer_batched(inputs.x, batch)
    if candidate_outputs.shape != reference_outputs.shape:
        raise ValidationFailed(f"{candidate.name} returns shape {candidate_outputs.shape} but {reference.name} returns "
                               f"{reference_outputs.shape} for the same {len(inputs.x)} inputs; the export is broken, re-export")
    results = [compare(reference_outputs.astype(np.float64), candidate_outputs, inputs) for compare in comparators]
    return {"reference": reference.name, "candidate": candidate.name, "n_inputs": int(len(inputs.x)),
            "n_real": int(inputs.real.sum()), "passed": all(r["passed"] for r in results), "comparisons": results,
            "max_abs_err": float(np.abs(candidate_outputs - reference_outputs).max())}


def raise_if_failed(report: dict, what: str) -> dict:
    """Raise ``ValidationFailed`` naming the failed comparison, the worst input and its errors; else return ``report``."""
    for result in report["comparisons"]:
        if result["passed"]:
            continue
        detail = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in result.items()
                           if k not in ("name", "passed", "worst_input", "option"))
        worst = f" (worst output: index {result.get('worst_index')}, {result.get('worst_input')})" if result.get("worst_input") else ""
        option = result.get("option")
        fix = (f"check the export, or relax {option} (export options; ExportConfig in Python) only if this precision "
               f"justifies it" if option else "the export changes predictions; check the model and the exporter")
        raise ValidationFailed(f"{what}: {report['candidate']} does not match {report['reference']}: {result['name']} failed{worst}: "
                               f"{detail}; no bundle was written — {fix}")
    return report


def validate(run: str | os.PathLike, artifact: str | os.PathLike, precision: str = "fp32", data: str | Dataset | None = None,
             n_real: int | None = 64, n_random: int = 8, atol: float = 1e-5, rtol: float = 1e-5, max_oa_drop: float = 0.01,
             min_agreement: float = 0.97, threads: int | None = None, seed: int = 0) -> dict:
    """Check an exported model (``artifact``) against the PyTorch model of ``run`` on real + random + extreme inputs.

    Args:
        run: the run directory (or model.pt) the artifact was exported from.
        artifact: a model file of a registered runtime (.onnx: onnxruntime, .plan: TensorRT, ...).
        precision: fp32 (elementwise allclose) or int8 / fp16 (top-1 agreement and OA drop on real samples).
        data: dataset spec or Dataset for the real samples (default: the run's own dataset).
        n_real: how many test samples (None = the whole test split).

    Returns:
        The comparison report (see ``compare_runners``).

    Raises:
        ValidationFailed: a comparison failed (exit code 3 on the CLI).
    """
    from compactrs.data import load_dataset
    from compactrs.training import load_checkpoint

    model, payload = load_checkpoint(run)
    spec = payload["input_spec"]
    dataset = data if isinstance(data, Dataset) else load_dataset(data or spec["dataset"], seed)
    check_dataset_fits(dataset, spec["in_bands"], spec["num_classes"], f"the model in '{run}'", spec["dataset"])
    shape = (1, spec["in_bands"], *spec["input_size"])
    inputs = validation_inputs(dataset, shape, n_real, n_random, seed)
    comparators = comparators_for(precision, atol, rtol, max_oa_drop, min_agreement)
    report = compare_runners(TorchRunner(model, shape, threads), runner_for_file(artifact, threads), inputs, comparators)
    report["precision"] = precision
    return raise_if_failed(report, f"validating {artifact}")
