"""Benchmark the search: MAC targets on Indian Pines (and the synthetic default) against ResNet baselines.

For each dataset: trains ResNet baselines in the same harness (``compactrs.training.train``), then runs
``compactrs.search`` for each MAC target and reports achieved MACs vs target, OA / AA / kappa, search and
retrain time, predicted (with --profile) and measured (onnxruntime, 1 thread, batch 1) latency.
Prints the command, machine, date and a markdown table; writes a results JSON whose ``baselines`` list is
valid ``--baselines`` input for ``compactrs search``.

Full run (estimated 25-30 min on a quiet 2-core machine with the defaults: 10 search, 10 retrain, 10 baseline epochs):
    PYTHONPATH=. python tools/bench_search.py --out runs/bench-search
Tiny smoke run (~3 min):
    PYTHONPATH=. python tools/bench_search.py --out /tmp/bench --targets 5M --epochs 1 --retrain-epochs 1 \\
        --baseline-epochs 1 --resnets resnet8 --no-synthetic
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
from compactrs._io import write_json  # noqa: E402
from compactrs.nas import search  # noqa: E402
from compactrs.training import TrainConfig, train  # noqa: E402
from compactrs.units import human_count, parse_count  # noqa: E402

INDIAN_PINES = ROOT.parent / "shared" / "data" / "hsi" / "indian_pines_subset"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=f"hsi:{INDIAN_PINES}", help="dataset spec for the MAC targets (default: Indian Pines subset)")
    parser.add_argument("--targets", default="5M,10M,20M", help="MAC targets for --data")
    parser.add_argument("--synthetic-target", default="20M", help="MAC target on the synthetic default")
    parser.add_argument("--no-synthetic", action="store_true", help="skip the synthetic default")
    parser.add_argument("--epochs", type=int, default=10, help="search epochs")
    parser.add_argument("--retrain-epochs", type=int, default=10, help="retraining epochs of each derived network")
    parser.add_argument("--baseline-epochs", type=int, default=10, help="training epochs of each ResNet baseline")
    parser.add_argument("--resnets", default="resnet8,resnet20,resnet32,resnet110", help="baselines trained in the same harness")
    parser.add_argument("--profile", default=None, help="latency profile JSON (predicted vs measured latency)")
    parser.add_argument("--tolerance", type=float, default=0.1)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="directory for the runs and results.json")
    return parser.parse_args(argv)


def train_baselines(data: str, names: list[str], args, root: Path) -> list[dict]:
    rows = []
    for name in names:
        config = TrainConfig(epochs=args.baseline_epochs, seed=args.seed, threads=args.threads)
        report = train(name, data, config, out=root / f"baseline-{name}", overwrite=True)
        rows.append({"name": name, "dataset": report["dataset"], "oa": report["oa"], "aa": report["aa"], "kappa": report["kappa"],
                     "macs": report["macs"], "params": report["params"], "train_seconds": report["train_seconds"],
                     "epochs": args.baseline_epochs, "latency_ms": report["latency_ms"]["measured"], "run_dir": str(root / f"baseline-{name}")})
        print(f"  baseline {name}: OA {report['oa']:.4f}, {human_count(report['macs'])} MACs", flush=True)
    return rows


def run_search(data: str, target: int, args, root: Path, baselines_json: Path) -> dict:
    options = dict(flops_target=target, tolerance=args.tolerance, epochs=args.epochs, retrain_epochs=args.retrain_epochs,
                   seed=args.seed, threads=args.threads)
    out = root / f"search-{human_count(target)}"
    report = search(data, out=out, overwrite=True, baselines=[baselines_json], **options)
    measured = report["latency_ms"]["measured"].get("onnxruntime_cpu_b1", {})
    predicted = None
    if args.profile:  # predicted latency of the derived network from the profile (no latency budget set)
        from compactrs.cost.latency import LatencyProfile

        profile = LatencyProfile.load(args.profile)
        predicted = profile.predict_genotype(report["genotype"], report["in_bands"], report["input_size"][0], report["num_classes"],
                                             init_channels=report["init_channels"])
    row = {"name": f"search {human_count(target)}", "dataset": report["dataset"], "target_macs": target, "macs": report["macs"],
           "met": report["target"]["met"], "target_message": report["target"]["message"], "oa": report["oa"], "aa": report["aa"],
           "kappa": report["kappa"], "params": report["params"], "init_channels": report["init_channels"],
           "depths": report["genotype"]["depths"], "search_seconds": report["search_seconds"], "retrain_seconds": report["retrain_seconds"],
           "ort_ms": measured.get("median_ms"), "predicted_ms": predicted, "run_dir": str(out)}
    print(f"  search {human_count(target)}: {human_count(report['macs'])} MACs ({'met' if row['met'] else 'MISSED'}), OA {report['oa']:.4f}", flush=True)
    return row


def table(baselines: list[dict], searches: list[dict]) -> str:
    lines = ["| dataset | model | target MACs | MACs | on target | OA | AA | kappa | params | search s | train s | ORT ms (pred.) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    short = lambda spec: spec.split(":")[0] if spec.startswith("synthetic") else Path(spec.split(":", 1)[1].split(",")[0]).name  # noqa: E731
    for b in baselines:
        ort = b["latency_ms"].get("onnxruntime_cpu_b1", {}).get("median_ms")
        lines.append(f"| {short(b['dataset'])} | {b['name']} | - | {human_count(b['macs'])} | - | {b['oa']:.4f} | {b['aa']:.4f} | "
                     f"{b['kappa']:.4f} | {human_count(b['params'])} | - | {b['train_seconds']:.0f} | {'-' if ort is None else f'{ort:.3f}'} |")
    for s in searches:
        pred = "" if s["predicted_ms"] is None else f" ({s['predicted_ms']:.3f})"
        ort = "-" if s["ort_ms"] is None else f"{s['ort_ms']:.3f}"
        lines.append(f"| {short(s['dataset'])} | searched C={s['init_channels']} d={s['depths']} | {human_count(s['target_macs'])} | "
                     f"{human_count(s['macs'])} | {'yes' if s['met'] else 'MISSED'} | {s['oa']:.4f} | {s['aa']:.4f} | {s['kappa']:.4f} | "
                     f"{human_count(s['params'])} | {s['search_seconds']:.0f} | {s['retrain_seconds']:.0f} | {ort}{pred} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    root = Path(args.out)
    root.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    command = "PYTHONPATH=. python tools/bench_search.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    print(f"command: {command}\nmachine: {json.dumps(describe_machine())}\ndate: {datetime.now(timezone.utc).isoformat(timespec='seconds')}", flush=True)
    plan = [(args.data, [parse_count(t) for t in args.targets.split(",") if t.strip()])]
    if not args.no_synthetic:
        plan.append(("synthetic", [parse_count(args.synthetic_target)]))
    results = {"format": "compactrs.bench-search/1", "command": command, "machine": describe_machine(), "versions": versions(),
               "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "baselines": [], "searches": []}
    results_path = root / "results.json"
    for data, targets in plan:
        print(f"{data}: baselines {args.resnets}", flush=True)
        sub = root / ("synthetic" if data.startswith("synthetic") else "data")
        results["baselines"] += train_baselines(data, [n for n in args.resnets.split(",") if n.strip()], args, sub)
        write_json(results_path, results)
        for target in targets:
            results["searches"].append(run_search(data, target, args, sub, results_path))
            write_json(results_path, results)
    results["total_seconds"] = time.perf_counter() - started
    write_json(results_path, results)
    print()
    print(table(results["baselines"], results["searches"]))
    print(f"\nresults: {results_path} (usable as --baselines); total {results['total_seconds'] / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
