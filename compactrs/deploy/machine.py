"""The machine a measurement ran on: description, peak-memory probe, and whether it was busy (contention).

Standard library only. Contention is judged from what the kernel reports over the measured window:

* other processes' CPU use: the busy time of all CPUs (``/proc/stat``: user, nice, system, irq, softirq,
  steal) minus this process's own CPU time, as a share of the machine's CPU capacity over the window;
* this process's CPU time per wall second: a single-threaded, CPU-bound loop that got much less than one
  CPU second per wall second was descheduled (waiting for a CPU) for the rest;
* the 1-minute load average before and after (recorded for the reader; it lags, so it does not decide).

``watch_machine()`` wraps any measurement and fills a ``conditions`` dict with these numbers plus
``contended`` (bool) and ``reason`` (one line), so every caller can flag or re-measure what it timed.
"""
from __future__ import annotations

import os
import platform
import time
from contextlib import contextmanager
from typing import Iterator

#: other processes may use at most this share of the machine's CPU capacity during a measurement.
OTHER_CPU_LIMIT = 0.10
#: a CPU-bound measurement must get at least this many CPU seconds per wall second (else it was descheduled).
MIN_CPU_PER_WALL = 0.85
#: windows shorter than this are too short for /proc/stat's clock ticks (10 ms) to judge.
MIN_JUDGED_SECONDS = 0.05

MEMORY_METHOD = "peak RSS delta: Linux VmHWM after resetting it via /proc/self/clear_refs, minus RSS before the timed runs"


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def physical_cores() -> int:
    """Physical cores (distinct (package, core id) pairs in /proc/cpuinfo); the logical count where unknown.

    onnxruntime's default intra-op thread count is one per physical core, so this resolves "default threads".
    """
    cores, package = set(), "0"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key.strip() == "physical id":
                    package = value.strip()
                elif key.strip() == "core id":
                    cores.add((package, value.strip()))
    except OSError:
        pass
    return len(cores) or os.cpu_count() or 1


#: instruction-set extensions that change which kernels a runtime runs (onnxruntime's NCHWc block is 16 channels
#: with AVX-512, 8 with AVX2; bf16 needs AVX512_BF16 or AMX). The model string does not tell hosts apart: the
#: development VM's "AMD EPYC" was a Zen 3 host (AVX2 only) on 2026-12-03, where OpenVINO resolved a bf16 hint to f32.
ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "asimd", "sve")


def cpu_isa() -> list[str] | None:
    """The ``ISA_FLAGS`` this CPU has (from /proc/cpuinfo); None where that cannot be read."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith(("flags", "Features")):
                    present = set(line.split(":", 1)[1].split())
                    return [flag for flag in ISA_FLAGS if flag in present]
    except OSError:
        pass
    return None


def machine_mismatch(device: dict | None, machine_cpu: str | None, machine_isa: list[str] | None) -> str | None:
    """How a profile's recorded ``device`` differs from this machine (its CPU model string, and its instruction-set
    extensions where both sides recorded them), as a phrase naming both; None where it describes this machine.

    The model string alone is not enough: one cloud "AMD EPYC" was a Zen 3 host (AVX2) one day and an AVX-512/bf16
    host another, and onnxruntime runs other kernels on each.
    """
    profile_cpu = device.get("cpu") if isinstance(device, dict) else None
    if not profile_cpu or profile_cpu != machine_cpu:
        return f"the profile was measured on '{profile_cpu}', this machine is '{machine_cpu}'"
    profile_isa = device.get("isa")
    if profile_isa is not None and machine_isa is not None and sorted(profile_isa) != sorted(machine_isa):
        return (f"the profile was measured on a '{profile_cpu}' with {', '.join(profile_isa) or 'no listed extensions'}, "
                f"this one has {', '.join(machine_isa) or 'none of them'}")
    return None


def describe_machine() -> dict:
    """CPU model and instruction-set extensions, logical core count, memory and OS of this machine (recorded
    beside every measurement)."""
    try:
        memory_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        memory_gb = None
    return {"cpu": cpu_model(), "isa": cpu_isa(), "cores": os.cpu_count(), "memory_gb": memory_gb, "arch": platform.machine(),
            "os": f"{platform.system()} {platform.release()}"}


# --- peak memory ------------------------------------------------------------------------------------------

def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def reset_peak_rss() -> int | None:
    """Reset the kernel's peak-RSS mark (Linux ``clear_refs`` = 5) and return the current RSS in KiB."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
            handle.write("5")
    except OSError:
        return None
    return _status_kib("VmRSS")


def peak_rss_delta_mb(baseline_kib: int | None) -> float | None:
    """Peak RSS since ``reset_peak_rss`` minus the baseline, in MiB (None where /proc is unavailable)."""
    peak = _status_kib("VmHWM")
    if baseline_kib is None or peak is None:
        return None
    return round(max(peak - baseline_kib, 0) / 1024, 2)


# --- contention -------------------------------------------------------------------------------------------

def _cpu_ticks() -> tuple[int, int] | None:
    """(busy ticks of all CPUs, number of CPUs) from /proc/stat, or None where it cannot be read."""
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    fields = [int(v) for v in lines[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    cpus = sum(1 for line in lines if line.startswith("cpu") and line[3:4].isdigit())
    return user + nice + system + irq + softirq + steal, cpus


def _snapshot() -> dict:
    times = os.times()
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = None
    return {"wall": time.perf_counter(), "own_cpu": times.user + times.system, "ticks": _cpu_ticks(), "load": load}


def _judge(start: dict, end: dict, cpu_bound: bool) -> dict:
    wall = max(end["wall"] - start["wall"], 1e-9)
    own = end["own_cpu"] - start["own_cpu"]
    out = {"wall_s": round(wall, 4), "process_cpu_s": round(own, 4), "cpu_per_wall": round(own / wall, 3),
           "load_avg_1m": [start["load"], end["load"]], "other_cpu_share": None, "cpus": os.cpu_count(),
           "limits": {"other_cpu_share": OTHER_CPU_LIMIT, "min_cpu_per_wall": MIN_CPU_PER_WALL if cpu_bound else None}}
    reasons = []
    if start["ticks"] and end["ticks"]:
        hz = os.sysconf("SC_CLK_TCK")
        cpus = end["ticks"][1] or os.cpu_count() or 1
        other = max(0.0, (end["ticks"][0] - start["ticks"][0]) / hz - own)
        out.update(cpus=cpus, other_cpu_share=round(other / (wall * cpus), 3))
        if wall >= MIN_JUDGED_SECONDS and out["other_cpu_share"] > OTHER_CPU_LIMIT:
            reasons.append(f"other processes used {other / wall:.2f} of {cpus} CPUs ({out['other_cpu_share']:.0%} > "
                           f"{OTHER_CPU_LIMIT:.0%} of the machine)")
    if cpu_bound and wall >= MIN_JUDGED_SECONDS and out["cpu_per_wall"] < MIN_CPU_PER_WALL:
        reasons.append(f"this process got {out['cpu_per_wall']:.2f} CPU s per wall s (< {MIN_CPU_PER_WALL}: descheduled)")
    out["judged"] = wall >= MIN_JUDGED_SECONDS and (start["ticks"] is not None or cpu_bound)
    out["contended"] = bool(reasons)
    out["reason"] = "; ".join(reasons) if reasons else ("quiet" if out["judged"] else "window too short or /proc unavailable: not judged")
    return out


@contextmanager
def watch_machine(cpu_bound: bool = True) -> Iterator[dict]:
    """Measure what else the machine did while the block ran; the yielded dict is filled when it exits.

    Args:
        cpu_bound: the block keeps this process on a CPU the whole time (a CPU inference loop), so a low
            CPU-per-wall ratio means it was descheduled; pass False for GPU runs that wait on the device.

    Yields:
        ``conditions``: ``wall_s``, ``process_cpu_s``, ``cpu_per_wall``, ``other_cpu_share`` (0..1 of the
        machine), ``load_avg_1m`` [before, after], ``cpus``, ``limits``, ``judged``, ``contended``, ``reason``.
    """
    conditions: dict = {}
    start = _snapshot()
    try:
        yield conditions
    finally:
        conditions.update(_judge(start, _snapshot(), cpu_bound))
