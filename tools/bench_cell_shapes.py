"""Milliseconds per million MACs of cell networks by cell shape (nodes per cell, blocks, width), in onnxruntime.

Issue #9: the searched cell networks ran 3–23× fewer MACs per millisecond than ResNets and patchcnn. This tool
draws random genotypes of the search space for each shape (``--shapes nodes:blocks:width``), exports them
untrained, and times them all side by side in this one process, with the hand-designed reference models of the
input kind beside them: onnxruntime CPU, 1 intra-op thread, batch 1, interleaved rounds, median (each run
paired with the reference graph, so the median is reference-normalised; ``raw_median_ms`` is the wall median),
the machine's state recorded and a contended run flagged. With ``--profile`` each network's predicted time is
recorded too (how well a profile of 4-node, 3-block networks prices the other shapes).

Run it alone on the machine:
    PYTHONPATH=. python tools/bench_cell_shapes.py --input 200x9 --out /work/benchruns/shapes-ip.json \\
        --profile profiles/amd-epyc-2c-onnxruntime-fp32-t1.json
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from compactrs._io import write_json  # noqa: E402
from compactrs.deploy.machine import describe_machine, watch_machine  # noqa: E402

REFERENCE_MODELS = {"hsi": ("patchcnn", "resnet8"), "image": ("resnet8", "resnet20")}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--input", default="200x9", help="BANDSxSIDE of the input (200x9: Indian Pines patches)")
    p.add_argument("--shapes", default="4:3:16,2:3:32,1:3:48,2:1:32,1:1:64",
                   help="nodes:blocks:init_channels per shape, comma separated")
    p.add_argument("--archs", type=int, default=6, help="random genotypes per shape")
    p.add_argument("--ops", default="mobile", help="ops preset the genotypes draw from ('zero' left out)")
    p.add_argument("--max-depth", type=int, default=3, help="depths drawn in 1..max-depth per block")
    p.add_argument("--classes", type=int, default=16)
    p.add_argument("--profile", default=None, help="kernel-level profile: record its prediction of every network")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="JSON results")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from compactrs.cost._measure import REFERENCE_FILE, REFERENCE_SHAPE, ort_callable, write_reference_graph
    from compactrs.cost.flops import count_macs
    from compactrs.cost.kernel_latency import KernelProfile
    from compactrs.deploy.timing import TimingConfig, time_interleaved
    from compactrs.models import arch_of, build_model
    from compactrs.nas.space import resolve_ops
    from compactrs.nn.cells import random_genotype
    from compactrs.runtime import export_onnx

    bands, side = (int(v) for v in args.input.lower().split("x"))
    shape = (1, bands, side, side)
    shapes = [tuple(int(v) for v in item.split(":")) for item in args.shapes.split(",") if item]
    ops = [op for op in resolve_ops(args.ops) if op != "zero"]
    profile = KernelProfile.load(args.profile) if args.profile else None
    rng = np.random.default_rng(args.seed)
    items = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in REFERENCE_MODELS["hsi" if bands > 16 else "image"]:
            items.append({"shape": name, "model": build_model(arch_of(name, bands, args.classes)).eval()})
        for nodes, blocks, width in shapes:
            for _ in range(args.archs):
                genotype = random_genotype(rng, ops, nodes, blocks, args.max_depth)
                items.append({"shape": f"nodes {nodes}, blocks {blocks}, width {width}", "genotype": genotype,
                              "init_channels": width,
                              "model": build_model(arch_of("cellnet", bands, args.classes, genotype=genotype,
                                                           init_channels=width)).eval()})
        calls = []
        for k, item in enumerate(items):
            model = item.pop("model")
            item["macs"] = count_macs(model, shape)
            path = export_onnx(model, Path(tmp) / f"net{k}.onnx", shape)
            if profile is not None:
                try:
                    item["predicted_ms"] = profile.predict_onnx(path, shape)
                except Exception as exc:  # outside the profile's region: recorded, not fatal
                    item["predicted_ms"] = f"not predicted: {str(exc).splitlines()[0]}"
            calls.append(ort_callable(path, shape, 1))
        reference = ort_callable(write_reference_graph(Path(tmp) / REFERENCE_FILE), REFERENCE_SHAPE, 1)
        state: dict = {}
        config = TimingConfig(warmup=5, min_runs=60, min_seconds=0.5, rounds=3, reference=True)
        print(f"timing {len(calls)} networks (onnxruntime, 1 thread, batch 1)", flush=True)
        with watch_machine() as conditions:
            timed = time_interleaved(calls, config, reference=reference, reference_state=state)
    for item, record in zip(items, timed):
        item.update({k: record[k] for k in ("median_ms", "raw_median_ms", "round_ms") if k in record})
        item["ms_per_mmac"] = item["median_ms"] / (item["macs"] / 1e6)
    summary = {}
    for label in dict.fromkeys(item["shape"] for item in items):
        group = [item for item in items if item["shape"] == label]
        predicted = [(i["predicted_ms"], i["median_ms"]) for i in group if isinstance(i.get("predicted_ms"), float)]
        summary[label] = {"networks": len(group), "macs_m": [round(i["macs"] / 1e6, 2) for i in group],
                          "median_ms": [round(i["median_ms"], 3) for i in group],
                          "ms_per_mmac_median": float(np.median([i["ms_per_mmac"] for i in group])),
                          "predicted_over_measured": [round(p / m, 2) for p, m in predicted]}
        print(f"{label:34s} MACs {summary[label]['macs_m']} ms {summary[label]['median_ms']} "
              f"ms/MMAC {summary[label]['ms_per_mmac_median']:.4f}"
              + (f" predicted/measured {summary[label]['predicted_over_measured']}" if predicted else ""))
    conditions = {**conditions, "reference": state}
    print(f"machine: {conditions['reason']}")
    write_json(args.out, {"machine": describe_machine(), "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                          "command": " ".join(sys.argv), "input": list(shape), "conditions": conditions,
                          "runtime": "onnxruntime CPU, 1 intra-op thread, batch 1, median of 3 interleaved rounds, "
                                     "reference-normalised", "summary": summary, "networks": items})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
