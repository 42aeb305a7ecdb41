"""Export benchmark: PyTorch eager, onnxruntime FP32 / INT8, OpenVINO FP32 / bf16 / INT8 — latency, speed-up, OA drop.

One row per model and runtime/precision. All runners of a model are timed in the same process with the same
thread count, interleaved (``time_interleaved``: every runner gets a share of its budget in each of several
passes, so a busy spell of the machine reaches all of them alike); medians. Speed-ups are over onnxruntime FP32
at the same batch size. INT8 is the fully quantised model (what ``export --int8`` tries first; the bundle keeps
it only if it wins): onnxruntime static QDQ (``--calib-method``: minmax, entropy or percentile ranges), and NNCF
``quantize`` for OpenVINO (``--max-drop D``: NNCF's accuracy control, as ``export --max-drop``). Trained runs given with
--run LABEL=RUN_DIR are calibrated on REAL training samples and every reduced-precision row gets its OA drop on
the whole test split; random-weight models (--models NAME:BANDS:SIZE) give latency and FP32 parity only.

    python tools/bench_export.py --threads 2 --batches 1,32 --min-seconds 2 \
        --models resnet34:3:64,vgg16_bn:3:64,resnet20:13:64 \
        --run resnet34-eurosat=runs/r34 --run resnet34-pruned-0.5=runs/r34-p05 [--out bench_export.json]

Prints the command, the machine, the date and a markdown table (paste into BENCHMARKS.md).
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from compactrs._env import versions  # noqa: E402
from compactrs.cost import count_macs  # noqa: E402
from compactrs.deploy.machine import describe_machine, watch_machine  # noqa: E402
from compactrs.exporter.openvino_bundle import accuracy_control_samples  # noqa: E402
from compactrs.exporter.quantize import calibration_index, calibration_samples  # noqa: E402
from compactrs.exporter.validate import comparators_for, compare_runners, validation_inputs  # noqa: E402
from compactrs.models import create_model  # noqa: E402
from compactrs.nn.cells import random_genotype  # noqa: E402
from compactrs.runtime import OnnxRuntimeRunner, TimingConfig, TorchRunner, export_onnx, time_interleaved  # noqa: E402
from compactrs.runtime.quantize import quantize_graph  # noqa: E402

#: (row label, runtime, precision): the order of the table
CONFIGS = (("torch eager FP32", "torch", "fp32"), ("onnxruntime FP32", "onnxruntime", "fp32"), ("onnxruntime INT8", "onnxruntime", "int8"),
           ("OpenVINO FP32", "openvino", "fp32"), ("OpenVINO bf16", "openvino", "bf16"), ("OpenVINO INT8", "openvino", "int8"))


def set_bn_statistics(model: nn.Module, shape) -> nn.Module:
    """Running BN statistics from two random forward passes, so random-weight activations stay at a trained net's scale."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
    model.train()
    with torch.no_grad():
        for _ in range(2):
            model(torch.randn(8, *shape[1:]))
    return model.eval()


def random_models(specs: list[str], classes: int):
    """``NAME:BANDS:SIZE`` → (label, model with BN statistics, input shape, no dataset)."""
    for spec in specs:
        name, bands, size = spec.split(":")
        shape = (1, int(bands), int(size), int(size))
        torch.manual_seed(0)
        if name == "cellnet":
            model = create_model("cellnet", shape[1], classes, genotype=random_genotype(np.random.default_rng(0), max_depth=2))
        else:
            model = create_model(name, shape[1], classes)
        yield f"{name} (random weights)", set_bn_statistics(model, shape), shape, None


def trained_runs(pairs):
    from compactrs.data import load_dataset
    from compactrs.training import load_checkpoint

    for pair in pairs:
        label, _, path = pair.partition("=")
        model, payload = load_checkpoint(path)
        spec = payload["input_spec"]
        yield label, model, (1, spec["in_bands"], *spec["input_size"]), load_dataset(spec["dataset"])


def build_runners(label, model, shape, calib, threads, workdir: Path, method: str = "minmax", control: dict | None = None) -> dict:
    """One inactive runner per row of CONFIGS: the ONNX export, its INT8 (QDQ, ``method`` calibrator), the IR, its NNCF
    INT8 (accuracy-controlled given ``control``)."""
    from compactrs.deploy.openvino_runner import OpenVinoRunner
    from compactrs.runtime.openvino import convert_onnx_to_ir

    stem = "".join(c if c.isalnum() else "-" for c in label)
    fp32 = export_onnx(model, workdir / f"{stem}.onnx", shape)
    ort_int8 = quantize_graph(fp32, workdir, "onnxruntime", calib, name=stem, method=method)["file"]
    xml = workdir / f"{stem}.xml"
    convert_onnx_to_ir(fp32, xml)
    ov_int8 = quantize_graph(fp32, workdir / "ov", "openvino", calib, name=stem, accuracy_control=control)["file"]
    return {("torch", "fp32"): TorchRunner(model, shape, threads), ("onnxruntime", "fp32"): OnnxRuntimeRunner(fp32, threads),
            ("onnxruntime", "int8"): OnnxRuntimeRunner(ort_int8, threads), ("openvino", "fp32"): OpenVinoRunner(xml, threads),
            ("openvino", "bf16"): OpenVinoRunner(xml, threads, precision="bf16"),
            ("openvino", "int8"): OpenVinoRunner(ov_int8, threads, precision="int8")}


def measure(label, model, shape, dataset, args, workdir: Path) -> list[dict]:
    torch.set_num_threads(args.threads)
    control = None
    if dataset is not None:
        calib, _ = calibration_samples(dataset, args.calib)
        if args.max_drop is not None:  # as 'compactrs export --openvino --int8 --max-drop' does
            control = accuracy_control_samples(dataset, calibration_index(dataset, args.calib), args.max_drop)
    else:  # random weights: random calibration, so only the INT8 latency is meaningful
        calib = np.random.default_rng(1).standard_normal((min(args.calib, 64), *shape[1:])).astype(np.float32)
    runners = build_runners(label, model, shape, calib, args.threads, workdir, args.calib_method, control)
    rng = np.random.default_rng(0)
    inputs = {b: rng.standard_normal((b, *shape[1:])).astype(np.float32) for b in args.batches}
    for runner in runners.values():
        runner.activate()
    try:
        keys = [(k, b) for k in runners for b in args.batches]
        calls = [(lambda r=runners[k], x=inputs[b]: r.infer(x)) for k, b in keys]
        config = TimingConfig(warmup=3, min_runs=args.min_runs, min_seconds=args.min_seconds, rounds=args.rounds)
        with watch_machine() as conditions:
            timed = dict(zip(keys, time_interleaved(calls, config)))
        parity_inputs = validation_inputs(dataset, shape, n_real=64, n_random=8)
        test = validation_inputs(dataset, shape, n_real=None, n_random=0, max_real=args.max_eval) if dataset is not None else None
        reference = runners[("torch", "fp32")].infer_batched(test.x) if test is not None else None
        rows = []
        for row_label, runtime, precision in CONFIGS:
            runner = runners[(runtime, precision)]
            row = {"model": label, "input": "x".join(map(str, shape[1:])), "macs": count_macs(model, shape), "config": row_label,
                   "runtime": runtime, "precision": precision, "trained": dataset is not None, "calibration_samples": int(len(calib)),
                   "calibration": (args.calib_method if runtime == "onnxruntime" else
                                   f"nncf, accuracy control max drop {args.max_drop}" if control else "nncf") if precision == "int8" else None,
                   "contended": conditions["contended"], "conditions": conditions["reason"]}
            for b in args.batches:
                row[f"b{b}_ms"] = timed[((runtime, precision), b)]["median_ms"]
                row[f"b{b}_speedup"] = timed[(("onnxruntime", "fp32"), b)]["median_ms"] / row[f"b{b}_ms"]
            if precision == "fp32" and runtime != "torch":
                report = compare_runners(runners[("torch", "fp32")], runner, parity_inputs, comparators_for("fp32"))
                row["fp32_max_abs_err"], row["fp32_allclose_1e-5"] = report["max_abs_err"], report["comparisons"][0]["passed"]
            if precision != "fp32" and test is not None:
                report = compare_runners(runners[("torch", "fp32")], runner, test, comparators_for(precision), reference_outputs=reference)
                oa = next(c for c in report["comparisons"] if "oa_drop" in c)
                row.update(oa_fp32=oa["oa_reference"], oa_reduced=oa["oa_candidate"], oa_drop=oa["oa_drop"], test_samples=oa["n"],
                           top1_agreement=report["comparisons"][0]["agreement"])
            rows.append(row)
        return rows
    finally:
        for runner in runners.values():
            runner.deactivate()


def table(rows, batches) -> str:
    lo, hi = batches[0], batches[-1]
    head = (f"| model | input | MACs | runtime, precision | b{lo} ms | × ORT FP32 b{lo} | b{hi} ms | × ORT FP32 b{hi} "
            f"| FP32 max abs err | OA drop (OA fp32 → reduced) |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        if r["precision"] == "fp32":
            check = "reference" if r["runtime"] == "torch" else f"{r['fp32_max_abs_err']:.2g}"
            oa = "—"
        else:
            check = "—"
            oa = (f"{r['oa_drop']:+.4f} ({r['oa_fp32']:.4f} → {r['oa_reduced']:.4f}, n={r['test_samples']})" if r["trained"]
                  else "n/a (random weights)")
        busy = " (busy)" if r["contended"] else ""
        calibration = f" [{r['calibration']}]" if r.get("calibration") and r["trained"] else ""
        lines.append(f"| {r['model']} | {r['input']} | {r['macs'] / 1e6:.1f} M | {r['config']}{calibration}{busy} | {r[f'b{lo}_ms']:.3f} | "
                     f"{r[f'b{lo}_speedup']:.2f}× | {r[f'b{hi}_ms']:.2f} | {r[f'b{hi}_speedup']:.2f}× | {check} | {oa} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="resnet34:3:64,vgg16_bn:3:64,resnet20:13:64",
                        help="random-weight models as NAME:BANDS:SIZE, comma-separated ('' for none)")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--run", action="append", default=[], metavar="LABEL=RUN_DIR", help="a trained (or pruned, or searched) run")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batches", default="1,32")
    parser.add_argument("--calib", type=int, default=500, help="calibration samples (real training samples for --run)")
    parser.add_argument("--min-seconds", type=float, default=2.0, help="timing budget per runner and batch, over all rounds")
    parser.add_argument("--min-runs", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved passes over the runners")
    parser.add_argument("--max-eval", type=int, default=5000, help="most test samples for the OA drop")
    parser.add_argument("--calib-method", default="minmax", choices=["minmax", "entropy", "percentile"],
                        help="onnxruntime INT8 calibrator (as 'compactrs export --calib-method')")
    parser.add_argument("--max-drop", type=float, default=None,
                        help="trained runs: OpenVINO INT8 through NNCF's accuracy control at this OA drop (as 'export --max-drop')")
    parser.add_argument("--out", help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    args.batches = [int(b) for b in args.batches.split(",")]
    torch.set_num_threads(args.threads)
    command = "python " + " ".join(shlex.quote(a) for a in (sys.argv if argv is None else ["tools/bench_export.py", *argv]))
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        sources = list(random_models([m for m in args.models.split(",") if m], args.classes)) + list(trained_runs(args.run))
        for label, model, shape, dataset in sources:
            print(f"measuring {label} ...", file=sys.stderr, flush=True)
            rows += measure(label, model, shape, dataset, args, Path(tmp))
    host = describe_machine()
    print(f"command: `{command}`")
    print(f"machine: {host['cpu']}, {host['cores']} cores, {host['memory_gb']} GB, {host['os']}; torch {versions().get('torch')}, "
          f"onnxruntime {versions().get('onnxruntime')}, openvino {versions().get('openvino')}, nncf {versions().get('nncf')}; "
          f"threads {args.threads}")
    print(f"date: {datetime.now(timezone.utc).isoformat(timespec='seconds')}\n")
    print(table(rows, args.batches))
    if args.out:
        Path(args.out).write_text(json.dumps({"command": command, "machine": host, "versions": versions(), "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
