"""The one timing loop and its statistics, and contention detection measured on this (shared) machine."""
from __future__ import annotations

import subprocess
import sys
import time

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
