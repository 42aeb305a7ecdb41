"""INT8 that never loses: an INT8 model is kept only if it is measurably faster than its FP32 model here.

INT8 is not free: every quantised op gains quantise / dequantise steps, and ops with little arithmetic per
byte (depthwise and dilated convolutions, pooling, the elementwise products of attention) can become
*slower* in INT8 — measured on this machine, random cell nets ran at 0.54× (onnxruntime QDQ) and 0.94×
(OpenVINO + NNCF) of their FP32 speed, while ResNets ran 2.4–3.6× faster. So before a bundle keeps an INT8
model, this module times it against the FP32 model on the machine that exports it:

1. the fully quantised model; if it wins, it is kept;
2. otherwise, one candidate per group of op types that may be the cause, left in float (``FLOAT_GROUPS``),
   and one with every such group in float; the fastest winning candidate is kept;
3. if none wins, the bundle keeps FP32 only, and the manifest says so with both timings.

"Wins" is decided on paired, interleaved rounds (FP32 and INT8 timed back to back in every round, so a busy
spell of the machine slows both): at every batch size, the median of the per-round speed-ups must reach
``margin`` and INT8 must be faster in at least ``min_win_fraction`` of the rounds. The decision logic
(``judge``, ``choose``) is pure so that it is tested on fixed numbers; only ``measure_pair`` touches a clock.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import numpy as np

#: op groups that may make INT8 slower; the runtime modules resolve each to node / op names of a graph
FLOAT_GROUPS = ("depthwise", "dilated", "pooling", "attention")


@dataclass(frozen=True)
class Int8Policy:
    """How INT8 is judged against FP32 (defaults: batch 1 and 32, 5 paired rounds, 5 % margin)."""

    batches: tuple[int, ...] = (1, 32)
    rounds: int = 5
    margin: float = 1.05
    min_win_fraction: float = 0.75
    min_runs: int = 5
    min_seconds: float = 0.05
    threads: int | None = 1

    def to_dict(self) -> dict:
        return {**asdict(self), "batches": list(self.batches)}


def judge(timings: dict, policy: Int8Policy) -> dict:
    """Does INT8 win at every batch size? ``timings``: ``{batch: {"fp32_ms": [per round], "int8_ms": [...]}}``.

    Returns ``{"wins", "reason", "per_batch": {batch: {"fp32_ms", "int8_ms", "speedup", "win_fraction", "wins"}}}``
    with medians over the rounds and ``speedup`` = the median of the per-round FP32 / INT8 ratios.
    """
    per_batch, losses = {}, []
    for batch, rounds in sorted(timings.items()):
        fp32, int8 = np.asarray(rounds["fp32_ms"], np.float64), np.asarray(rounds["int8_ms"], np.float64)
        if fp32.shape != int8.shape or fp32.size == 0:
            raise ValueError(f"batch {batch}: need one FP32 and one INT8 time per round, got {fp32.size} and {int8.size}")
        ratios = fp32 / int8
        speedup, fraction = float(np.median(ratios)), float((ratios > 1.0).mean())
        wins = speedup >= policy.margin and fraction >= policy.min_win_fraction
        per_batch[int(batch)] = {"fp32_ms": float(np.median(fp32)), "int8_ms": float(np.median(int8)), "speedup": speedup,
                                 "win_fraction": fraction, "wins": bool(wins)}
        if not wins:
            losses.append(f"batch {batch}: {speedup:.2f}x (faster in {fraction:.0%} of {fp32.size} rounds)")
    reason = ("faster than FP32 at every batch size" if not losses else
              f"not faster by the margin {policy.margin:.2f}x in {policy.min_win_fraction:.0%} of rounds: " + "; ".join(losses))
    return {"wins": not losses, "reason": reason, "per_batch": per_batch}


def choose(candidates: Sequence[dict]) -> dict | None:
    """The winning candidate with the highest worst-batch speed-up (fewest groups in float on a tie), or None.

    Each candidate: ``{"float_groups": [...], "judgement": judge(...)}``.
    """
    winners = [c for c in candidates if c["judgement"]["wins"]]
    if not winners:
        return None

    def key(candidate):
        worst = min(b["speedup"] for b in candidate["judgement"]["per_batch"].values())
        return (worst, -len(candidate["float_groups"]))

    return max(winners, key=key)


def candidate_groups(groups_present: dict[str, list]) -> list[tuple[str, ...]]:
    """The float-group choices to try after full INT8 lost: each present group alone, then all of them."""
    present = tuple(g for g in FLOAT_GROUPS if groups_present.get(g))
    singles = [(g,) for g in present]
    return singles + ([present] if len(present) > 1 else [])


def measure_pair(fp32_runner, int8_runner, input_shape, policy: Int8Policy, seed: int = 0) -> dict:
    """Paired, interleaved timing of two *active* runners: per round and batch, FP32 then INT8 (order alternating).

    Returns ``{"timings": {batch: {"fp32_ms": [...], "int8_ms": [...]}}, "conditions": [...per round...],
    "contended": bool}``; each entry is the median of one timed block of at least ``policy.min_runs`` calls.
    """
    rng = np.random.default_rng(seed)
    inputs = {b: rng.standard_normal((b, *input_shape[1:])).astype(np.float32) for b in policy.batches}
    timings = {b: {"fp32_ms": [], "int8_ms": []} for b in policy.batches}
    conditions = []
    for round_index in range(policy.rounds):
        for batch, x in inputs.items():
            order = [("fp32_ms", fp32_runner), ("int8_ms", int8_runner)]
            for key, runner in (order if round_index % 2 == 0 else order[::-1]):
                median_ms, condition = time_block(lambda: runner.infer(x), policy.min_runs, policy.min_seconds)
                timings[batch][key].append(median_ms)
                conditions.append(condition)
    contended = any(c.get("contended") for c in conditions)
    return {"timings": timings, "contended": contended,
            "contention": next((c.get("reason") for c in conditions if c.get("contended")), None)}


def time_block(fn: Callable[[], object], min_runs: int, min_seconds: float) -> tuple[float, dict]:
    """Median milliseconds of ``fn()`` over one timed block (2 warm-up calls), and the machine's conditions."""
    from compactrs.runtime import TimingConfig, time_callable

    result = time_callable(fn, TimingConfig(warmup=2, min_runs=min_runs, min_seconds=min_seconds))
    return result["median_ms"], result["conditions"]


def keep_int8(build: Callable[[tuple[str, ...]], dict], runner_for: Callable[[str], object], fp32_file: str, int8_file: str,
              groups_present: dict[str, list], input_shape, policy: Int8Policy, log: Callable[[str], None] = lambda _: None) -> dict:
    """Build INT8 candidates, time each against FP32, and keep the fastest winner as ``int8_file`` (or none).

    Args:
        build: ``build(float_groups) -> info`` writes the INT8 model with those op groups left in float to
            ``info["file"]`` (a candidate path) and returns what it quantised (``info["left_in_float"]``...).
        runner_for: ``runner_for(path)`` -> an inactive runner of the model file.
        groups_present: ``{group: [op names]}`` of the FP32 graph (empty lists for absent groups).

    Returns:
        The decision for the manifest: ``{"kept": "int8" | "fp32", "chosen", "reason", "candidates", "policy"}``.
        The chosen candidate's file is whatever ``build`` wrote; the caller renames it to ``int8_file``.
    """
    candidates = []
    with runner_for(fp32_file) as fp32_runner:
        for groups in [()] + candidate_groups(groups_present):
            info = build(groups)
            with runner_for(info["file"]) as int8_runner:
                measured = measure_pair(fp32_runner, int8_runner, input_shape, policy)
            candidate = {"float_groups": list(groups), "file": info["file"], "quantization": info,
                         "judgement": judge(measured["timings"], policy), "contended": measured["contended"],
                         "contention": measured["contention"], "timings": measured["timings"]}
            candidates.append(candidate)
            log(f"INT8 with {list(groups) or 'nothing'} in float: {candidate['judgement']['reason']}")
            if not groups and candidate["judgement"]["wins"]:
                break  # fully quantised and faster: nothing to leave in float
    chosen = choose(candidates)
    if chosen is None:
        best = max(candidates, key=lambda c: min(b["speedup"] for b in c["judgement"]["per_batch"].values()))
        reason = (f"no INT8 variant was faster than FP32 on this machine (best: {best['float_groups'] or 'full INT8'} — "
                  f"{best['judgement']['reason']}); the bundle keeps FP32 only")
    else:
        reason = (f"INT8 with {chosen['float_groups'] or 'no op group'} left in float: {chosen['judgement']['reason']}")
    contended = [c for c in candidates if c["contended"]]
    if contended:  # the decision stands (paired rounds share the load), but a quiet re-export is the firmer measurement
        reason += (f"; measured while other processes competed for the CPUs ({contended[0]['contention']}): "
                   f"re-export on a quiet machine to confirm")
    return {"kept": "int8" if chosen else "fp32", "chosen": chosen, "reason": reason, "policy": policy.to_dict(),
            "float_groups": chosen["float_groups"] if chosen else None,
            "contended": any(c["contended"] for c in candidates),
            "candidates": [{k: v for k, v in c.items() if k not in ("file", "quantization")} for c in candidates]}
