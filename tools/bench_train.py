"""Benchmark: train the baseline models on real data and print a BENCHMARKS.md table.

Usage:
    python tools/bench_train.py [--data SPEC] [--models resnet8,resnet20,patchcnn] [--epochs 30] [--threads 2]
                                [--seeds 0] [--out runs/bench-train] [--json results.json]

Each model is trained with the shared loop (compactrs.train) on the dataset's default split (for hsi:
the spatially disjoint one), then scored on the test split; MACs are multiply-accumulates per sample.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from datetime import date
from pathlib import Path

import numpy as np

import compactrs
from compactrs.deploy.machine import describe_machine


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="hsi:../shared/data/hsi/indian_pines_subset")
    parser.add_argument("--models", default="resnet8,resnet20,patchcnn")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seeds", default="0", help="comma-separated seeds; mean ± std is reported over them")
    parser.add_argument("--out", default="runs/bench-train")
    parser.add_argument("--json", dest="json_out", default=None)
    args = parser.parse_args(argv)

    seeds = [int(s) for s in args.seeds.split(",")]
    dataset = compactrs.load_dataset(args.data, seed=seeds[0])
    majority = float(np.bincount(dataset.y_test).max() / len(dataset.y_test))
    rows = []
    for name in args.models.split(","):
        runs = []
        for seed in seeds:
            data = dataset if seed == seeds[0] else compactrs.load_dataset(args.data, seed=seed)
            config = compactrs.TrainConfig(epochs=args.epochs, seed=seed, threads=args.threads)
            report = compactrs.train(name, data, config, out=Path(args.out) / f"{name}-s{seed}", overwrite=True)
            runs.append(report)
            print(f"{name} seed {seed}: OA {report['oa']:.4f} in {report['train_seconds']:.1f} s", file=sys.stderr)
        rows.append({
            "model": name,
            "oa": [r["oa"] for r in runs], "aa": [r["aa"] for r in runs], "kappa": [r["kappa"] for r in runs],
            "macs": runs[0]["macs"], "params": runs[0]["params"],
            "train_seconds": [r["train_seconds"] for r in runs],
            "latency_ms_b1": runs[0]["latency_ms"]["measured"]["torch_cpu_b1"]["median_ms"],
        })

    def cell(values, scale=100.0, digits=2):
        values = np.asarray(values) * scale
        return f"{values.mean():.{digits}f}" + (f" ± {values.std():.{digits}f}" if len(values) > 1 else "")

    print(f"command: python tools/bench_train.py {shlex.join(sys.argv[1:] if argv is None else argv)}")
    m = describe_machine()
    print(f"machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB; date {date.today().isoformat()}")
    print(f"data: {dataset.spec}: {len(dataset.y_train)} train / {len(dataset.y_test)} test "
          f"({dataset.split.get('method')}); majority-class OA {100 * majority:.2f}%; seeds {seeds}; {args.epochs} epochs\n")
    print("| model | OA % | AA % | Kappa | MACs | params | train time (s) | torch CPU latency b1 (ms) |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['model']} | {cell(row['oa'])} | {cell(row['aa'])} | {cell(row['kappa'], 1.0, 3)} | "
              f"{row['macs'] / 1e6:.2f} M | {row['params'] / 1e3:.1f} K | {cell(row['train_seconds'], 1.0, 0)} | "
              f"{row['latency_ms_b1']:.3f} |")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"data": dataset.spec, "majority_oa": majority, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
