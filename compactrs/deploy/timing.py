"""The one timing loop of compactrs and its statistics (host and device alike; standard library + numpy).

Every latency compactrs records goes through here: ``compactrs bench``, report latencies, prune speed-ups,
export INT8/FP16 speed checks, the latency profiler (``cost/_measure.py``) and ``profile_runner``.

The method: untimed warm-up calls (in interleaved timing, no more than ``WARMUP_SECONDS`` once two
calls have run), then timed calls until at least ``min_runs`` calls *and* ``min_seconds``
have passed; the robust statistic reported is the **median** (``median_ms``), with p90 / p99 / min / mean
beside it. Many items are timed in interleaved rounds so a slow drift of the machine reaches every item
alike, and items whose p90 exceeds their median by more than ``NOISY_SPREAD`` are re-measured. Every timing
carries ``conditions`` (see ``machine.watch_machine``): whether other processes competed for the CPUs.

Public functions (signatures are stable; the latency profiler builds on them):

    time_samples(fn, clock="wall"|"cpu"|callable, warmup=10, min_runs=30, min_seconds=0.5, max_runs=5000) -> list[float]
        raw per-call milliseconds after the warm-up
    summarise(samples, remeasured=None) -> {"median_ms", "mean_ms", "p90_ms", "p99_ms", "min_ms", "runs", "statistic"}
        (with ``remeasured``: ``n`` instead of ``runs``, plus ``remeasured`` — a profile measurement record)
    spread(summary) -> float                      p90 / median - 1 (0.25 = the tail is 25 % above the median)
    time_callable(fn, config=None, cpu_bound=True) -> summary + {"clock", "conditions"}
        re-measures up to ``config.contention_retries`` times when the machine was busy, keeps the quietest
    time_interleaved(calls, config, on_pass=None, reference=None, reference_state=None)
        -> [{"median_ms", "p90_ms", "min_ms", "n", "remeasured", ...}]
        the profiler's interleaved rounds (one record per callable, in order; ``round_ms``: each pass's median)
    time_pairs(fn, reference, clock, warmup, min_runs, min_seconds, max_runs) -> (fn samples, reference samples)

Reference-normalised timing (``TimingConfig.reference``): a VM can run everything at half speed for seconds
at a time with nothing else running (no steal, no other process), which no per-item statistic removes. Each
call of an item is then followed by one call of a fixed small reference graph, and the item's time is
``its median / the reference's median in the same window × the reference's median over the whole session``:
a phase that slows both cancels out. How far the reference's window medians move is recorded as part of the
machine's state (``reference_state``).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import numpy as np

from .machine import watch_machine

#: a measurement whose p90 exceeds its median by more than this is re-measured (interleaved timing).
NOISY_SPREAD = 0.25
#: "wall" is what the device sees; "cpu" is the calling thread's CPU time, which a busy machine cannot inflate
#: by descheduling the process (valid with one runtime thread running on the caller; a job on the sibling
#: hyperthread still slows it).
CLOCKS = {"wall": time.perf_counter, "cpu": time.thread_time}
STATISTIC = "median"
#: interleaved timing stops warming an item up after this many seconds (at least 2 calls): a 300 ms network
#: is warm after two calls, and ten would cost 3 s of every profile's few minutes per large network.
WARMUP_SECONDS = 0.5


@dataclass(frozen=True)
class TimingConfig:
    """How long to time: warm-up calls, then at least ``min_runs`` calls and ``min_seconds`` of wall time.

    ``rounds`` / ``retries`` apply to interleaved timing of many items; ``contention_retries`` is how often
    ``time_callable`` measures again when other processes competed for the CPUs.
    """

    warmup: int = 10
    min_runs: int = 50
    min_seconds: float = 0.3
    max_runs: int = 5000
    retries: int = 2
    rounds: int = 3
    clock: str = "wall"
    contention_retries: int = 0
    #: interleave every run with a reference graph and normalise by it (interleaved timing; see the module doc)
    reference: bool = False

    def __post_init__(self):
        if self.clock not in CLOCKS:
            raise ValueError(f"clock '{self.clock}' is not one of {sorted(CLOCKS)}")
        if self.min_runs < 1 or self.rounds < 1 or self.warmup < 0 or self.min_seconds < 0:
            raise ValueError(f"timing needs min_runs >= 1, rounds >= 1, warmup >= 0, min_seconds >= 0; got {self}")

    def to_dict(self) -> dict:
        return {**asdict(self), "noisy_spread": NOISY_SPREAD, "statistic": STATISTIC}


def time_samples(fn: Callable[[], object], clock: str | Callable[[], float] = "wall", warmup: int = 10, min_runs: int = 30,
                 min_seconds: float = 0.5, max_runs: int = 5000, warmup_seconds: float | None = None) -> list[float]:
    """Warm up, then time ``fn()`` at least ``min_runs`` times and ``min_seconds`` (wall) long; ms per call.

    ``clock`` is a name of ``CLOCKS`` ("wall", "cpu") or a clock function returning seconds. ``warmup_seconds``
    (by that clock) ends the warm-up early, after at least 2 calls.
    """
    tick = CLOCKS[clock] if isinstance(clock, str) else clock
    _warm_up(tick, warmup, warmup_seconds, fn)
    samples: list[float] = []
    started = time.perf_counter()
    while len(samples) < max_runs and (len(samples) < min_runs or time.perf_counter() - started < min_seconds):
        t0 = tick()
        fn()
        samples.append((tick() - t0) * 1e3)
    return samples


#: untimed calls of the reference graph between an item's run and the reference's timed call. Right after a
#: network ran, the small reference graph finds its weights and buffers evicted from the caches and runs 1.3–3.2×
#: slower the bigger the network was (measured here: ×1.36 after a 0.3 ms network, ×3.19 after a 7 ms one); a
#: reference timed cold would read that as the machine slowing down and shrink big networks' normalised times.
#: Three warm calls bring it back to its time alone (×0.99 / ×1.09).
REFERENCE_WARM_CALLS = 3


def time_pairs(fn: Callable[[], object], reference: Callable[[], object], clock: str | Callable[[], float] = "wall",
               warmup: int = 10, min_runs: int = 30, min_seconds: float = 0.5, max_runs: int = 5000,
               warmup_seconds: float | None = None, reference_warm_calls: int = REFERENCE_WARM_CALLS) -> tuple[list[float], list[float]]:
    """Like ``time_samples``, each timed call of ``fn`` followed by one timed call of ``reference`` (ms each),
    itself after ``reference_warm_calls`` untimed ones (see ``REFERENCE_WARM_CALLS``)."""
    tick = CLOCKS[clock] if isinstance(clock, str) else clock

    def both():
        fn()
        reference()
    _warm_up(tick, warmup, warmup_seconds, both)
    samples: list[float] = []
    reference_samples: list[float] = []
    started = time.perf_counter()
    while len(samples) < max_runs and (len(samples) < min_runs or time.perf_counter() - started < min_seconds):
        t0 = tick()
        fn()
        t1 = tick()
        for _ in range(reference_warm_calls):
            reference()
        t2 = tick()
        reference()
        t3 = tick()
        samples.append((t1 - t0) * 1e3)
        reference_samples.append((t3 - t2) * 1e3)
    return samples, reference_samples


def _warm_up(tick: Callable[[], float], calls: int, seconds: float | None, fn: Callable[[], object]) -> None:
    started = tick()
    for index in range(calls):
        if seconds is not None and index >= 2 and tick() - started >= seconds:
            return
        fn()


def summarise(samples: Sequence[float], remeasured: int | None = None) -> dict:
    """Median (the statistic compactrs reports), mean, p90, p99 and min in milliseconds, and the run count.

    With ``remeasured`` (extra passes of interleaved timing) the count is named ``n`` and ``remeasured`` is
    added: the record form of profile measurements (``compactrs.profile-measurements/1``).
    """
    values = np.asarray(samples, dtype=np.float64)
    if values.size == 0:
        raise ValueError("no timing samples to summarise (min_runs must be >= 1)")
    summary = {"median_ms": float(np.median(values)), "mean_ms": float(values.mean()),
               "p90_ms": float(np.percentile(values, 90)), "p99_ms": float(np.percentile(values, 99)),
               "min_ms": float(values.min()), "runs": int(values.size), "statistic": STATISTIC}
    if remeasured is not None:
        summary["n"] = summary.pop("runs")
        summary["remeasured"] = int(remeasured)
    return summary


def spread(summary: dict) -> float:
    """How far the tail sits above the median: p90 / median - 1."""
    return summary["p90_ms"] / max(summary["median_ms"], 1e-9) - 1.0


def time_callable(fn: Callable[[], object], config: TimingConfig | None = None, cpu_bound: bool = True) -> dict:
    """Time ``fn()`` (see the module docstring) and record the machine's conditions while it ran.

    Returns:
        ``summarise`` keys plus ``clock`` and ``conditions`` (``contended``, ``reason``, ...). When the machine
        was contended, it is measured again up to ``config.contention_retries`` times and the attempt with the
        least competing CPU use is kept (``conditions["attempts"]`` says how many were made).
    """
    config = config or TimingConfig()
    best = None
    for attempt in range(1 + config.contention_retries):
        with watch_machine(cpu_bound) as conditions:
            samples = time_samples(fn, config.clock, config.warmup, config.min_runs, config.min_seconds, config.max_runs)
        result = {**summarise(samples), "clock": config.clock, "conditions": conditions}
        if best is None or (conditions.get("other_cpu_share") or 0) < (best["conditions"].get("other_cpu_share") or 0):
            best = result
        if not conditions["contended"]:
            break
    best["conditions"]["attempts"] = attempt + 1
    return best


def time_interleaved(calls: Sequence[Callable[[], object]], config: TimingConfig,
                     on_pass: Callable[[int, int], None] | None = None, reference: Callable[[], object] | None = None,
                     reference_state: dict | None = None) -> list[dict]:
    """Time many callables in ``config.rounds`` interleaved passes; re-measure the noisy ones.

    Each callable gets ``1/rounds`` of its budget in each pass over all of them, so slow drifts of the machine
    (other jobs, clocks, heat) reach every item alike instead of biasing whichever ran during them. Items whose
    p90 exceeds the median by more than NOISY_SPREAD get up to ``config.retries`` extra passes.

    Args:
        on_pass: called as ``on_pass(pass_index, items_timed)`` after every pass (progress reporting).
        reference: with ``config.reference``, the fixed graph every run is paired with (required then).
        reference_state: filled (with ``config.reference``) with the reference's session median and how far
            its window medians moved (``reference_summary``).

    Returns:
        One record per callable, in order: ``median_ms``, ``mean_ms``, ``p90_ms``, ``p99_ms``, ``min_ms``,
        ``n`` (timed calls), ``remeasured`` (extra passes), ``statistic``, ``round_ms`` (the median of each
        regular pass: their agreement is the test–retest noise floor); with a reference also ``raw_median_ms``
        (the item's own median, not normalised).

    Raises:
        ValueError: ``config.reference`` without a ``reference`` callable.
    """
    if config.reference and reference is None:
        raise ValueError("TimingConfig(reference=True) needs the reference callable to pair every run with")
    # per item: its windows, each (own samples, the reference's median in that window, regular pass?)
    windows: list[list[tuple[list[float], float | None, bool]]] = [[] for _ in calls]
    reference_all: list[float] = []
    runs, seconds = -(-config.min_runs // config.rounds), config.min_seconds / config.rounds
    for round_index in range(config.rounds + config.retries):
        todo = range(len(calls)) if round_index < config.rounds else [
            i for i in range(len(calls)) if spread(summarise(_normalised(windows[i], reference_all))) > NOISY_SPREAD]
        for i in todo:
            warmup = config.warmup if round_index == 0 else 2
            budget = (config.clock, warmup, runs, seconds, max(1, config.max_runs // config.rounds), WARMUP_SECONDS)
            if config.reference:
                timed, ref = time_pairs(calls[i], reference, *budget)
                reference_all += ref
                windows[i].append((timed, float(np.median(ref)), round_index < config.rounds))
            else:
                windows[i].append((time_samples(calls[i], *budget), None, round_index < config.rounds))
        if on_pass is not None:
            on_pass(round_index, len(todo))
    if reference_state is not None and config.reference:
        reference_state.update(reference_summary(reference_all, [w[1] for item in windows for w in item]))
    records = []
    for item in windows:
        values = _normalised(item, reference_all)
        record = {**summarise(values, sum(not regular for _, _, regular in item)),
                  "round_ms": [float(np.median(_normalised([w], reference_all))) for w in item if w[2]]}
        if config.reference:
            record["raw_median_ms"] = float(np.median([t for w in item for t in w[0]]))
        records.append(record)
    return records


def _normalised(windows: list, reference_all: list[float]) -> list[float]:
    """Every sample of ``windows``; with a reference, × (session reference median / the window's)."""
    if not windows or windows[0][1] is None:
        return [t for samples, _, _ in windows for t in samples]
    session = float(np.median(reference_all))
    return [t * session / window_ref for samples, window_ref, _ in windows for t in samples]


def reference_summary(samples: Sequence[float], window_medians: Sequence[float]) -> dict:
    """The reference graph over a session: its median and how far its per-window medians moved
    (``spread`` = max / min − 1: 1.0 means some window ran it twice as slow as another)."""
    windows = np.asarray(window_medians, dtype=np.float64)
    return {"median_ms": float(np.median(samples)), "windows": int(windows.size),
            "window_min_ms": float(windows.min()), "window_max_ms": float(windows.max()),
            "window_p10_ms": float(np.percentile(windows, 10)), "window_p90_ms": float(np.percentile(windows, 90)),
            "spread": float(windows.max() / windows.min() - 1.0),
            "note": "a fixed small graph timed run by run beside every item: its moves are the machine's"}
