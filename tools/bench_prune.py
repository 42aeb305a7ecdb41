"""Benchmark: NAS-based channel pruning of ResNet-34 and VGG-16 on real scene data at several MAC ratios.

For each model: train it from scratch once (a run directory), then prune that run to each ratio with
``compactrs.prune`` (score search, global threshold, surgery, fine-tune) and tabulate accuracy before /
after surgery / after fine-tune, MACs, params and measured onnxruntime latency (batch 1 and 32, same
threads, same process) before and after, plus latency speed-up ÷ MAC reduction (Torch-Pruning's
ResNet-50 example reaches 0.57 of its MAC reduction).

Default data: EuroSAT RGB (Sentinel-2 scenes, 10 classes) at 32×32 with 250 images per class. Why: the
scenes are real and balanced, 32×32 keeps ResNet-34 (ImageNet stem) at ~75 M MACs and VGG-16 at ~315 M
MACs so that base training of each fits in ~10 min on 2 CPU cores, and 250/class (2,500 images) leaves
enough test images (~750) for accuracy differences of a few points to be visible.

Usage (full run, quiet machine; see --help for the tiny smoke-test settings)::

    PYTHONPATH=. python tools/bench_prune.py --threads 2 --out runs/bench-prune
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from compactrs._env import versions  # noqa: E402
from compactrs.deploy.machine import describe_machine  # noqa: E402
from compactrs.units import human_count  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=f"folder:{ROOT.parent / 'shared' / 'data' / 'eurosat_rgb'},size=32,max_per_class=250")
    parser.add_argument("--models", default="resnet34,vgg16_bn")
    parser.add_argument("--ratios", default="0.7,0.5,0.3")
    parser.add_argument("--epochs", type=int, default=15, help="base training epochs")
    parser.add_argument("--search-epochs", type=int, default=3)
    parser.add_argument("--finetune-epochs", type=int, default=8)
    parser.add_argument("--round-to", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/bench-prune")
    parser.add_argument("--reuse", action="store_true",
                        help="keep finished prune runs in --out and only re-measure their latency before / after "
                             "(re-time on a quiet machine without re-training)")
    return parser.parse_args(argv)


def remeasure(model: str, ratio: float, base: Path, pruned: Path, args) -> dict | None:
    """The finished prune run's report with onnxruntime latency of base and pruned nets measured again, side by side."""
    from compactrs.pruning.api import speedup_summary
    from compactrs.runtime import measure_latency
    from compactrs.training import load_checkpoint

    report_path = pruned / "report.json"
    if not report_path.is_file():
        return None
    report = json.loads(report_path.read_text())
    shape = (report["in_bands"], *report["input_size"])
    before = measure_latency(load_checkpoint(base)[0], shape, "onnxruntime", (1, 32), args.threads)
    after = measure_latency(load_checkpoint(pruned)[0], shape, "onnxruntime", (1, 32), args.threads)
    p = report["prune"]
    p["before"]["latency_ms"], p["after"]["latency_ms"] = before, after
    p.update(speedup_summary(before, after, p["mac_reduction"]))
    report["bench_seconds"] = None
    return report


def base_run(model: str, dataset, args, out: Path) -> Path:
    from compactrs.training import TrainConfig, train

    run = out / f"{model}-base"
    if (run / "model.pt").is_file():
        return run  # re-use a finished base run (the benchmark can be resumed)
    train(model, dataset, TrainConfig(epochs=args.epochs, seed=args.seed, threads=args.threads), run, overwrite=True)
    return run


def row(model: str, ratio: float, report: dict) -> dict:
    p = report["prune"]
    before, after = p["before"], p["after"]
    lat = lambda stage, b: stage["latency_ms"][f"onnxruntime_cpu_b{b}"]["median_ms"]  # noqa: E731
    return {
        "model": model, "ratio": ratio, "achieved": p["achieved_ratio"],
        "macs_before": before["macs"], "macs_after": after["macs"],
        "params_before": before["params"], "params_after": after["params"],
        "oa_before": before["oa"], "oa_surgery": p["after_surgery"]["oa"], "oa_after": report["oa"],
        "b1_before": lat(before, 1), "b1_after": lat(after, 1), "b32_before": lat(before, 32), "b32_after": lat(after, 32),
        "mac_reduction": p["mac_reduction"],
        "eff_b1": p["speedup_per_mac_reduction"]["onnxruntime_cpu_b1"],
        "eff_b32": p["speedup_per_mac_reduction"]["onnxruntime_cpu_b32"],
        "seconds": report.get("bench_seconds"),
    }


def markdown(rows: list[dict]) -> str:
    lines = [
        "| model | ratio asked → measured | MACs before → after | params before → after | OA before / after surgery / after fine-tune "
        "| ORT b1 ms before → after | ORT b32 ms before → after | MAC reduction | speed-up ÷ MAC reduction (b1 / b32) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['ratio']:.2f} → {r['achieved']:.3f} | {human_count(r['macs_before'])} → {human_count(r['macs_after'])} "
            f"| {human_count(r['params_before'])} → {human_count(r['params_after'])} "
            f"| {r['oa_before']:.3f} / {r['oa_surgery']:.3f} / {r['oa_after']:.3f} "
            f"| {r['b1_before']:.2f} → {r['b1_after']:.2f} | {r['b32_before']:.1f} → {r['b32_after']:.1f} "
            f"| {r['mac_reduction']:.2f}× | {r['eff_b1']:.2f} / {r['eff_b32']:.2f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    from compactrs.data import load_dataset
    from compactrs.pruning import PruneConfig, prune

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    print(f"command: PYTHONPATH=. python {' '.join(shlex.quote(a) for a in sys.argv)}")
    print(f"date:    {datetime.now(timezone.utc).isoformat(timespec='seconds')}")
    print(f"machine: {json.dumps(describe_machine())}")
    print(f"versions: {json.dumps(versions())}")
    started = time.perf_counter()
    dataset = load_dataset(args.data, seed=args.seed)
    print(f"data:    {dataset.spec}: {len(dataset.y_train)} train / {len(dataset.y_test)} test, "
          f"{dataset.in_bands}×{dataset.input_size[0]}×{dataset.input_size[1]}, {dataset.num_classes} classes")
    rows = []
    for model in args.models.split(","):
        t0 = time.perf_counter()
        run = base_run(model, dataset, args, out)
        print(f"{model}: base run {run} ({time.perf_counter() - t0:.0f} s)", flush=True)
        for ratio in (float(r) for r in args.ratios.split(",")):
            t0 = time.perf_counter()
            reused = remeasure(model, ratio, run, out / f"{model}-r{ratio:.2f}", args) if args.reuse else None
            if reused is not None:
                rows.append(row(model, ratio, reused))
                print(f"{model} @ {ratio}: re-used, latency re-measured", flush=True)
                continue
            config = PruneConfig(flops_ratio=ratio, round_to=args.round_to, search_epochs=args.search_epochs,
                                 finetune_epochs=args.finetune_epochs, seed=args.seed, threads=args.threads)
            report = prune(run, dataset, config, out / f"{model}-r{ratio:.2f}", overwrite=True)
            report["bench_seconds"] = time.perf_counter() - t0
            rows.append(row(model, ratio, report))
            print(f"{model} @ {ratio}: done in {report['bench_seconds']:.0f} s", flush=True)
    table = markdown(rows)
    print()
    print(table)
    print(f"\n(threads {args.threads} for training and onnxruntime; latency = median of session.run on random input; "
          f"total {time.perf_counter() - started:.0f} s)")
    (out / "bench_prune.json").write_text(json.dumps({"args": vars(args), "rows": rows, "machine": describe_machine()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
