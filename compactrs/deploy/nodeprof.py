"""Per-node timings of an ONNX graph as onnxruntime runs it (numpy + onnxruntime only: no torch, no onnx).

Used on the host (``compactrs.cost.kernels``) and on a device (``profile_runner`` of a kernel-level profile).

onnxruntime optimises a graph before running it (ORT_ENABLE_ALL: Conv+BN(+activation/Add) fusion, identity
elimination and, on AVX2/AVX-512 CPUs, the NCHWc layout with ReorderInput/ReorderOutput nodes). The nodes of
that *optimised* graph are the kernels that actually run. ``profile_nodes`` saves the optimised graph
(``SessionOptions.optimized_model_filepath``) and times every one of its nodes in context with
``SessionOptions.enable_profiling``: the profile JSON has one ``"cat": "Node"`` event per node and run,
named ``<node>_kernel_time``, with its duration in whole microseconds and its input/output shapes.

The statistic per node is a trimmed mean (the middle 60 % of the runs): robust to the rare run that is
descheduled on a busy machine, and — unlike a median — not stuck on the 1 µs quantisation of the events.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

#: share of runs dropped at each end before averaging a node's durations.
TRIM = 0.2
NODE_SUFFIX = "_kernel_time"


def trimmed_mean(values, trim: float = TRIM) -> float:
    """Mean of the middle ``1 − 2·trim`` of ``values`` (sorted); the plain mean for fewer than 3 values."""
    data = np.sort(np.asarray(values, dtype=float))
    cut = int(len(data) * trim) if len(data) >= 3 else 0
    return float(data[cut:len(data) - cut].mean())


def profile_nodes(path: str | os.PathLike, x: np.ndarray, threads: int | None = 1, warmup: int = 5, runs: int = 20,
                  optimized_path: str | os.PathLike | None = None) -> dict:
    """Run graph ``path`` on ``x`` with per-node profiling; per node of the optimised graph, its timings.

    Args:
        path: the .onnx graph (one input).
        x: the input array.
        threads: onnxruntime intra-op threads (1: the kernels run on the calling thread, one after another).
        warmup: untimed runs first (their events are dropped).
        runs: profiled runs.
        optimized_path: where to save the optimised graph (the kernels' attributes); None: not saved.

    Returns:
        ``{"nodes": {name: {"op", "inputs", "outputs", "us", "n"}}, "order": [names in execution order],
        "runs": runs}``; ``us`` is the trimmed mean duration in microseconds, shapes are lists of int lists.
    """
    from .runners import onnxruntime_session

    with tempfile.TemporaryDirectory(prefix="compactrs-nodeprof-") as tmp:
        session = onnxruntime_session(path, threads, ["CPUExecutionProvider"], optimized_path, enable_profiling=True,
                                      profile_prefix=str(Path(tmp) / "profile"))
        feed = {session.get_inputs()[0].name: x}
        for _ in range(warmup + runs):
            session.run(None, feed)
        events = json.loads(Path(session.end_profiling()).read_text(encoding="utf-8"))
    return summarise_events(events, warmup)


def summarise_events(events: list[dict], skip_runs: int = 0) -> dict:
    """Group an onnxruntime profile's node events by node, dropping those of the first ``skip_runs`` runs."""
    run_starts = sorted(e["ts"] for e in events if e.get("cat") == "Session" and e.get("name") == "model_run")
    first_ts = run_starts[skip_runs] if skip_runs < len(run_starts) else float("inf")
    nodes: dict[str, dict] = {}
    order: list[str] = []
    for event in events:
        if event.get("cat") != "Node" or not event.get("name", "").endswith(NODE_SUFFIX):
            continue
        if event["ts"] < first_ts:
            continue
        name = event["name"][: -len(NODE_SUFFIX)]
        args = event.get("args", {})
        if name not in nodes:
            order.append(name)
            nodes[name] = {"op": args.get("op_name", ""), "inputs": _shapes(args.get("input_type_shape")),
                           "outputs": _shapes(args.get("output_type_shape")), "durations": []}
        nodes[name]["durations"].append(float(event.get("dur", 0)))
    runs = max(1, len(run_starts) - skip_runs)
    for node in nodes.values():
        durations = node.pop("durations")
        node["us"] = trimmed_mean(durations)
        node["n"] = len(durations)
    return {"nodes": nodes, "order": order, "runs": runs}


def _shapes(described) -> list[list[int]]:
    # onnxruntime writes [{"float": [1, 16, 32, 32]}, ...]
    return [[int(d) for d in next(iter(item.values()))] for item in (described or []) if item]
