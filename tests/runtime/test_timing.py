"""The one timing loop and its statistics, and contention detection measured on this (shared) machine."""
from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import replace

import pytest

from compactrs.deploy import machine
from compactrs.runtime import TimingConfig, spread, summarise, time_callable, time_interleaved, time_samples, watch_machine


def _burn(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


@pytest.fixture
def busy_process():
    """Another process spinning on a CPU for the duration of the test: contention that is certain to be there."""
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    time.sleep(0.2)  # let it get scheduled
    yield proc
    proc.kill()
    proc.wait()


def test_summarise_reports_the_median_and_the_tail():
    summary = summarise([1.0, 2.0, 3.0, 4.0, 100.0])
    assert summary["median_ms"] == 3.0 and summary["min_ms"] == 1.0 and summary["runs"] == 5
    assert summary["statistic"] == "median" and summary["mean_ms"] == 22.0
    assert summary["p99_ms"] >= summary["p90_ms"] > summary["median_ms"]
    assert spread(summary) == pytest.approx(summary["p90_ms"] / 3.0 - 1)
    with pytest.raises(ValueError, match="no timing samples"):
        summarise([])


def test_time_samples_runs_at_least_min_runs_and_min_seconds():
    calls = []
    samples = time_samples(lambda: calls.append(time.sleep(0.002)), warmup=2, min_runs=3, min_seconds=0.05)
    assert len(calls) == len(samples) + 2 and len(samples) >= 3
    assert sum(samples) >= 45 and min(samples) >= 1.9  # milliseconds of 2 ms sleeps, at least 0.05 s in all


def test_the_cpu_clock_does_not_count_sleeping():
    wall = time_samples(lambda: time.sleep(0.005), clock="wall", warmup=0, min_runs=3, min_seconds=0)
    cpu = time_samples(lambda: time.sleep(0.005), clock="cpu", warmup=0, min_runs=3, min_seconds=0)
    assert min(wall) >= 4.9 and max(cpu) < 2.0


def test_another_busy_process_is_detected(busy_process):
    with watch_machine() as conditions:
        _burn(0.4)
    assert conditions["contended"] and conditions["judged"]
    assert conditions["other_cpu_share"] > machine.OTHER_CPU_LIMIT and "other processes used" in conditions["reason"]
    assert conditions["wall_s"] >= 0.4 and conditions["cpus"] >= 1 and len(conditions["load_avg_1m"]) == 2


def test_time_callable_measures_again_when_contended(busy_process):
    result = time_callable(lambda: _burn(0.002), TimingConfig(warmup=1, min_runs=5, min_seconds=0.1, contention_retries=1))
    assert result["conditions"]["contended"] and result["conditions"]["attempts"] == 2
    assert result["median_ms"] >= 2.0 and result["runs"] >= 5 and result["clock"] == "wall"


def test_the_rule_flags_descheduling_and_passes_a_quiet_window():
    start = {"wall": 0.0, "own_cpu": 0.0, "ticks": (0, 2), "load": 0.5}
    hz = machine.os.sysconf("SC_CLK_TCK")
    quiet = machine._judge(start, {"wall": 1.0, "own_cpu": 0.98, "ticks": (int(1.0 * hz), 2), "load": 0.6}, cpu_bound=True)
    assert not quiet["contended"] and quiet["reason"] == "quiet" and quiet["other_cpu_share"] <= 0.02
    starved = machine._judge(start, {"wall": 1.0, "own_cpu": 0.5, "ticks": (int(0.5 * hz), 2), "load": 2.0}, cpu_bound=True)
    assert starved["contended"] and "descheduled" in starved["reason"]
    gpu = machine._judge(start, {"wall": 1.0, "own_cpu": 0.1, "ticks": (int(0.1 * hz), 2), "load": 0.1}, cpu_bound=False)
    assert not gpu["contended"]  # a GPU run waits on the device: low CPU per wall is not contention


def test_interleaved_timing_remeasures_noisy_items():
    counter = {"n": 0}

    def jittery():  # every third call is ten times slower: p90 far above the median
        counter["n"] += 1
        time.sleep(0.01 if counter["n"] % 3 == 0 else 0.001)

    steady = lambda: time.sleep(0.001)  # noqa: E731
    config = TimingConfig(warmup=1, min_runs=6, min_seconds=0.0, rounds=2, retries=1)
    passes = []
    records = time_interleaved([steady, jittery], config, lambda index, count: passes.append((index, count)))
    assert [r["n"] >= 6 for r in records] == [True, True]
    assert records[1]["remeasured"] == 1 and records[1]["n"] >= 9  # 3 calls in each of 2 rounds + 1 extra pass
    assert passes[:2] == [(0, 2), (1, 2)] and passes[2][1] >= 1


def test_timing_config_refuses_nonsense():
    with pytest.raises(ValueError, match="clock"):
        TimingConfig(clock="sundial")
    with pytest.raises(ValueError, match="min_runs"):
        TimingConfig(min_runs=0)


class _PhasedMachine:
    """A simulated clock: each call advances it by its cost × the machine's current phase (1× or 2×), the way a
    VM runs everything at half speed for a while; the phase flips after every pass of interleaved timing."""

    def __init__(self):
        self.now, self.phase = 0.0, 1.0

    def clock(self) -> float:
        return self.now

    def work(self, ms: float):
        def call():
            self.now += ms * self.phase / 1e3
        return call

    def flip(self, *_):
        self.phase = 3.0 - self.phase


def test_reference_normalised_timing_cancels_the_machines_phases(monkeypatch):
    from compactrs.deploy import timing as timing_module

    sim = _PhasedMachine()
    monkeypatch.setitem(timing_module.CLOCKS, "simulated", sim.clock)
    calls = [sim.work(0.2), sim.work(1.5)]
    plain = TimingConfig(warmup=1, min_runs=8, min_seconds=0.0, rounds=2, retries=0, clock="simulated")
    wall = time_interleaved(calls, plain, sim.flip)
    assert wall[0]["round_ms"][1] == pytest.approx(2 * wall[0]["round_ms"][0])  # plain timing sees the phase
    sim.phase, state = 1.0, {}
    normalised = time_interleaved(calls, replace(plain, reference=True), sim.flip, reference=sim.work(0.1),
                                  reference_state=state)
    for record, ms in zip(normalised, (0.2, 1.5)):
        assert record["round_ms"][0] == pytest.approx(record["round_ms"][1])  # the phase is normalised away
        # in units of the session's reference time (0.1 ms at 1×, 0.2 ms at 2×: median between them)
        assert record["median_ms"] == pytest.approx(ms / 0.1 * state["median_ms"])
        assert record["raw_median_ms"] > 0
    assert state["spread"] == pytest.approx(1.0) and state["windows"] == 4


def test_reference_timing_needs_the_reference():
    with pytest.raises(ValueError, match="reference callable"):
        time_interleaved([lambda: None], TimingConfig(min_runs=1, min_seconds=0.0, reference=True))


def test_interleaved_timing_warms_a_slow_item_up_for_half_a_second_not_ten_calls(monkeypatch):
    from compactrs.deploy import timing as timing_module

    sim = _PhasedMachine()
    monkeypatch.setitem(timing_module.CLOCKS, "simulated", sim.clock)
    counts = {"slow": 0, "fast": 0}

    def call(name, ms):
        def run():
            counts[name] += 1
            sim.work(ms)()
        return run

    config = TimingConfig(warmup=10, min_runs=6, min_seconds=0.0, rounds=1, retries=0, clock="simulated")
    records = time_interleaved([call("slow", 300.0), call("fast", 1.0)], config)
    assert counts == {"slow": 2 + 6, "fast": 10 + 6}  # 2 × 300 ms reach WARMUP_SECONDS; 10 × 1 ms do not
    assert [r["n"] for r in records] == [6, 6]
