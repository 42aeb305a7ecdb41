"""Does a trained supernet rank the ops? Accuracy of one-op-everywhere networks run on the shared weights.

Issue #9: the gradient through one hard Gumbel sample did not move the op probabilities once the budget was met
(BENCHMARKS.md, "Fewer, larger kernels"). One-shot methods (SPOS and kin) instead evaluate candidates on the
trained supernet's shared weights. This tool trains one supernet exactly as ``compactrs search`` does (a latency
target with a kernel-level profile), then runs, for every op of the space, the network with that op on every edge
(fixed inputs: node 0 reads input 1 twice, every later node inputs 1 and 0; depth ``--depth`` in every block) on the
architecture half and on the test split, and prints them ranked. An accuracy diagnostic: nothing here is timed.

    PYTHONPATH=. python tools/diag_supernet_ranking.py --data hsi:../shared/data/hsi/indian_pines_full \\
        --latency-target 0.5 --profile profiles/amd-epyc-2c-onnxruntime-fp32-t1.json --nodes 2 --blocks 1 --out ranking.json
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True)
    p.add_argument("--latency-target", type=float, required=True, help="ms")
    p.add_argument("--profile", required=True, help="kernel-level latency profile")
    p.add_argument("--ops", default="mobile")
    p.add_argument("--nodes", type=int, default=2)
    p.add_argument("--blocks", type=int, default=1)
    p.add_argument("--max-depth", type=int, default=5)
    p.add_argument("--depth", type=int, default=3, help="depth of every block in the evaluated networks")
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--search-split", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="JSON results")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    from compactrs._io import write_json
    from compactrs.cost.latency import load_profile
    from compactrs.data import load_dataset
    from compactrs.nas.config import SearchConfig
    from compactrs.nas.derive import BudgetSpace
    from compactrs.nas.loop import BiLevelSearch
    from compactrs.nas.supernet import CELL_TYPES, ArchSample, CellSample

    config = SearchConfig(latency_target_ms=args.latency_target, profile=args.profile, ops=args.ops, nodes=args.nodes,
                          blocks=args.blocks, max_depth=args.max_depth, initial_depth=min(3, args.max_depth),
                          epochs=args.epochs, retrain_epochs=0, seed=args.seed, threads=1, search_split=args.search_split)
    dataset = load_dataset(args.data, seed=args.seed)
    side = dataset.input_size[0]
    space = BudgetSpace(dataset.in_bands, side, dataset.num_classes, config.ops, 1, args.blocks, args.max_depth, args.nodes,
                        load_profile(args.profile))
    with tempfile.TemporaryDirectory() as tmp:
        engine = BiLevelSearch(config, dataset, args.width, space.table("macs", args.width),
                               space.table("latency_ms", args.width), Path(tmp) / "search")
        started = time.perf_counter()
        outcome = engine.run()
        seconds = time.perf_counter() - started
    net = outcome.supernet.eval()
    slots, n_ops = 2 * args.nodes, len(config.ops)
    sources = [1 if slot % 2 == 0 or slot < 2 else 0 for slot in range(slots)]  # every slot reads a cell input

    def one_op(op: int) -> ArchSample:
        cells = {}
        for cell_type in CELL_TYPES:
            weights = torch.zeros(slots, n_ops)
            weights[:, op] = 1
            inputs = torch.zeros(slots, args.nodes + 1)
            inputs[range(slots), sources] = 1
            cells[cell_type] = CellSample(weights, [op] * slots, inputs, list(sources))
        depth = torch.zeros(args.blocks, args.max_depth)
        depth[:, args.depth - 1] = 1
        return ArchSample(cells, depth, [args.depth - 1] * args.blocks)

    def accuracy(sample: ArchSample, x, y) -> float:
        x, y = torch.as_tensor(x), torch.as_tensor(y)
        with torch.no_grad():
            hits = sum(int((net(x[i:i + 512], sample).argmax(1) == y[i:i + 512]).sum()) for i in range(0, len(y), 512))
        return hits / len(y)

    half = engine.a_half.numpy()
    rows = []
    for op, name in enumerate(config.ops):
        if name == "zero":
            continue
        sample = one_op(op)
        rows.append({"op": name, "architecture_half": accuracy(sample, dataset.x_train[half], dataset.y_train[half]),
                     "test": accuracy(sample, dataset.x_test, dataset.y_test)})
    rows.sort(key=lambda r: -r["architecture_half"])
    history = outcome.history[-1]
    print(f"supernet: {seconds:.0f} s, weight-half accuracy {history['w_acc']:.3f}; derived {outcome.genotype['normal']}")
    for r in rows:
        print(f"{r['op']:18s} architecture half {r['architecture_half']:.3f}   test {r['test']:.3f}")
    write_json(args.out, {"command": " ".join(sys.argv), "halves": outcome.halves, "derived": outcome.genotype,
                          "supernet_w_acc": history["w_acc"], "search_seconds": seconds, "ranking": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
