"""Export benchmark: onnxruntime vs PyTorch eager latency, INT8 vs FP32 latency and OA drop, parity errors.

For ResNet-34, VGG-16 and a cell net (random weights, BN statistics set by forward passes: latency and
parity only), plus any trained runs given with --run LABEL=RUN_DIR (a pruned run included): those are
calibrated on REAL training samples and their OA drop is measured on the whole test split.
PyTorch and onnxruntime use the same thread count in the same process, one after the other.

    python tools/bench_export.py --threads 2 --batches 1,32 --min-seconds 2 \
        --run patchcnn-ip=runs/ip --run pruned-r34=runs/pruned [--out bench_export.json]

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
from compactrs.deploy.machine import describe_machine  # noqa: E402
from compactrs.cost import count_macs  # noqa: E402
from compactrs.exporter.quantize import calibration_samples, quantize_int8  # noqa: E402
from compactrs.exporter.validate import comparators_for, compare_runners, validation_inputs  # noqa: E402
from compactrs.models import create_model  # noqa: E402
from compactrs.nn.cells import random_genotype  # noqa: E402
from compactrs.runtime import OnnxRuntimeRunner, TimingConfig, TorchRunner, export_onnx  # noqa: E402


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


def random_models(names, bands: int, size: int, classes: int):
    for name in names:
        if name == "cellnet":
            model = create_model("cellnet", bands, classes, genotype=random_genotype(np.random.default_rng(0), max_depth=2))
        else:
            model = create_model(name, bands, classes)
        shape = (1, bands, size, size)
        yield name, set_bn_statistics(model, shape), shape, None


def trained_runs(pairs):
    from compactrs.data import load_dataset
    from compactrs.training import load_checkpoint

    for pair in pairs:
        label, _, path = pair.partition("=")
        model, payload = load_checkpoint(path)
        spec = payload["input_spec"]
        yield label, model, (1, spec["in_bands"], *spec["input_size"]), load_dataset(spec["dataset"])


def latency(runner, shape, batch: int, min_seconds: float) -> float:
    x = np.random.default_rng(0).standard_normal((batch, *shape[1:])).astype(np.float32)
    return runner.timing(x, TimingConfig(warmup=3, min_runs=5, min_seconds=min_seconds))["median_ms"]


def measure(label, model, shape, dataset, args, workdir: Path) -> dict:
    torch.set_num_threads(args.threads)
    fp32_path = export_onnx(model, workdir / f"{label}.onnx", shape)
    int8_path = workdir / f"{label}.int8.onnx"
    if dataset is not None:
        calib, _ = calibration_samples(dataset, args.calib)
    else:  # random weights: random calibration, so only the INT8 latency is meaningful
        calib = np.random.default_rng(1).standard_normal((min(args.calib, 64), *shape[1:])).astype(np.float32)
    quantize_int8(fp32_path, int8_path, calib)
    row = {"model": label, "input": "x".join(map(str, shape[1:])), "macs": count_macs(model, shape),
           "trained": dataset is not None, "calibration_samples": int(len(calib))}
    runners = {"torch": TorchRunner(model, shape, args.threads), "ort": OnnxRuntimeRunner(fp32_path, args.threads),
               "int8": OnnxRuntimeRunner(int8_path, args.threads)}
    for key, runner in runners.items():
        with runner:
            for batch in args.batches:
                row[f"{key}_b{batch}_ms"] = latency(runner, shape, batch, args.min_seconds)
    inputs = validation_inputs(dataset, shape, n_real=64, n_random=8)
    fp32 = compare_runners(TorchRunner(model, shape, args.threads), OnnxRuntimeRunner(fp32_path, args.threads), inputs, comparators_for("fp32"))
    row["fp32_max_abs_err"] = fp32["max_abs_err"]
    row["fp32_allclose_1e-5"] = fp32["comparisons"][0]["passed"]
    if dataset is not None:
        test = validation_inputs(dataset, shape, n_real=None, n_random=0)
        int8 = compare_runners(TorchRunner(model, shape, args.threads), OnnxRuntimeRunner(int8_path, args.threads), test, comparators_for("int8"))
        oa = next(c for c in int8["comparisons"] if "oa_drop" in c)
        row.update(oa_fp32=oa["oa_reference"], oa_int8=oa["oa_candidate"], int8_oa_drop=oa["oa_drop"],
                   int8_top1_agreement=int8["comparisons"][0]["agreement"], test_samples=oa["n"])
    return row


def table(rows, batches) -> str:
    lo, hi = batches[0], batches[-1]
    head = (f"| model | input | MACs | torch b{lo} ms | ORT b{lo} ms | ORT speed-up b{lo} | torch b{hi} ms | ORT b{hi} ms | ORT speed-up b{hi} "
            f"| INT8 b{lo} ms | INT8 b{hi} ms | INT8 speed-up b{hi} | FP32 max abs err | INT8 OA drop (OA fp32 → int8) |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        oa = f"{r['int8_oa_drop']:+.4f} ({r['oa_fp32']:.4f} → {r['oa_int8']:.4f}, n={r['test_samples']})" if r["trained"] else "n/a (random weights)"
        lines.append(f"| {r['model']} | {r['input']} | {r['macs'] / 1e6:.1f} M | {r[f'torch_b{lo}_ms']:.3f} | {r[f'ort_b{lo}_ms']:.3f} | "
                     f"{r[f'torch_b{lo}_ms'] / r[f'ort_b{lo}_ms']:.2f}× | {r[f'torch_b{hi}_ms']:.2f} | {r[f'ort_b{hi}_ms']:.2f} | "
                     f"{r[f'torch_b{hi}_ms'] / r[f'ort_b{hi}_ms']:.2f}× | {r[f'int8_b{lo}_ms']:.3f} | {r[f'int8_b{hi}_ms']:.2f} | "
                     f"{r[f'ort_b{hi}_ms'] / r[f'int8_b{hi}_ms']:.2f}× | {r['fp32_max_abs_err']:.2g} | {oa} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="resnet34,vgg16_bn,cellnet", help="random-weight models ('' for none)")
    parser.add_argument("--bands", type=int, default=13)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--run", action="append", default=[], metavar="LABEL=RUN_DIR", help="a trained (or pruned) run")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batches", default="1,32")
    parser.add_argument("--calib", type=int, default=500)
    parser.add_argument("--min-seconds", type=float, default=2.0)
    parser.add_argument("--out", help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    args.batches = [int(b) for b in args.batches.split(",")]
    torch.set_num_threads(args.threads)
    command = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        sources = list(random_models([m for m in args.models.split(",") if m], args.bands, args.size, args.classes)) + list(trained_runs(args.run))
        for label, model, shape, dataset in sources:
            print(f"measuring {label} ...", file=sys.stderr, flush=True)
            rows.append(measure(label, model, shape, dataset, args, Path(tmp)))
    host = describe_machine()
    print(f"command: `{command}`")
    print(f"machine: {host['cpu']}, {host['cores']} cores, {host['memory_gb']} GB, {host['os']}; "
          f"torch {versions().get('torch')}, onnxruntime {versions().get('onnxruntime')}; threads {args.threads}")
    print(f"date: {datetime.now(timezone.utc).isoformat(timespec='seconds')}\n")
    print(table(rows, args.batches))
    if args.out:
        Path(args.out).write_text(json.dumps({"command": command, "machine": host, "versions": versions(), "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
