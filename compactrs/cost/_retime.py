"""Re-time a kernel profile on its own machine: its predictions restated at the speed the machine runs now.

A profile's end-to-end times are the machine's speed on the day it was measured. A device's speed moves — a
Jetson's power mode, firmware, thermal state; this development VM ran the shipped profile's own fitting networks
1.15–1.26× slower on 2026-12-03 than when they were profiled, and the profile then predicted 60 fresh networks with
a bias of −21 % (13 % within ±10 %), every input shape alike — while the kernel regressors' *relative* prices still
held. Re-profiling costs 6–7 minutes; re-timing a dozen of the profile's own fitting networks costs 10–20 seconds
and measures the one number that moved: ``factor`` = the median over those networks of (time now ÷ time stored
in the profile). The re-timed profile is the same profile with its network term (per-run, per-kernel and scale
coefficients) multiplied by ``factor``, so every prediction — whole networks and the search's per-edge tables —
scales with it. It corrects a change of the machine's speed, not the model's error in one part of its region
(the searched Indian Pines networks stayed over-predicted 1.4–1.85× after re-timing; BENCHMARKS.md).

The networks are timed exactly as the profile timed them (its ``measurement.timing``: interleaved rounds, paired
with the reference graph where it was), in its runtime and precision. A re-timing under contention is refused: its
factor would be the load's.
"""
from __future__ import annotations

import copy
import datetime as _dt
import tempfile
import time
from pathlib import Path

import numpy as np

from compactrs.deploy.machine import machine_mismatch
from compactrs.errors import ConfigError

#: fitting networks re-timed by default (each costs an export and 2 × ~0.3 s of timing)
RETIME_NETWORKS = 12
#: a factor outside this range means the machine is not the one profiled any more: re-profile
PLAUSIBLE_FACTOR = (0.67, 1.5)


def retime_applies(profile, machine_cpu: str | None, machine_isa: list[str] | None = None) -> tuple[bool, str]:
    """Whether ``profile`` can be re-timed here (a kernel profile of this machine's CPU model and, where the profile
    recorded it, instruction-set extensions), and why (not)."""
    data = getattr(profile, "data", {})
    if "network" not in data or "fit" not in data.get("network", {}):
        return False, "only kernel-level profiles ('compactrs profile', default --method kernels) can be re-timed"
    device = data.get("device")
    profile_cpu = device.get("cpu") if isinstance(device, dict) else None
    if data.get("measurement", {}).get("measured_on_device"):
        return False, (f"the profile was measured on a device by deploy/profile_runner.py ('{profile_cpu}'); re-time it "
                       f"there by measuring it again")
    mismatch = machine_mismatch(device, machine_cpu, machine_isa)
    if mismatch and profile_cpu == machine_cpu:  # the same model string, other instruction-set extensions
        return False, (f"{mismatch}: the runtime runs other kernels here, which a speed factor does not correct; make a "
                       f"profile of this machine with 'compactrs profile'")
    if mismatch:
        return False, (f"{mismatch}: re-timing states a profile at its own machine's current speed; make a profile of "
                       f"this machine with 'compactrs profile'")
    return True, "the profile describes this machine's CPU"


def choose_networks(fit_rows: list[dict], count: int, prefer_input: tuple[int, int] | None = None,
                    max_ms: float | None = None) -> list[int]:
    """Indices of ``count`` fitting networks to re-time: those of ``prefer_input`` (bands, side) first, then the
    others, each group spread evenly over its range of stored times; none slower than ``max_ms`` (stored) unless
    fewer than three would remain."""
    order = sorted(range(len(fit_rows)), key=lambda i: fit_rows[i]["measured_ms"])
    if max_ms is not None:
        capped = [i for i in order if fit_rows[i]["measured_ms"] <= max_ms]
        order = capped if len(capped) >= min(3, len(order)) else order[:max(3, len(capped))]

    def shape(i: int) -> tuple[int, int]:
        spec = fit_rows[i]["network"]
        return int(spec["in_bands"]), int(spec["input_size"])

    preferred = [i for i in order if prefer_input is not None and shape(i) == tuple(prefer_input)]
    others = [i for i in order if i not in set(preferred)]
    chosen = _spread(preferred, count)
    return chosen + _spread(others, count - len(chosen))


def _spread(indices: list[int], count: int) -> list[int]:
    if count <= 0 or not indices:
        return []
    if count >= len(indices):
        return list(indices)
    picks = np.linspace(0, len(indices) - 1, count).round().astype(int)
    return [indices[p] for p in dict.fromkeys(picks.tolist())]


def retime_profile(profile, networks: int = RETIME_NETWORKS, prefer_input: tuple[int, int] | None = None,
                   max_ms: float | None = None, progress=None, command: str = ""):
    """Time ``networks`` of the kernel ``profile``'s fitting networks now and return the profile re-timed.

    Args:
        profile: a loaded ``KernelProfile`` of this machine (``retime_applies``).
        networks: how many fitting networks to time (fewer if the profile has fewer).
        prefer_input: (bands, side) of the data the profile will price: its networks of that input go first.
        max_ms: leave out networks whose stored time is above this (a search near 1 ms need not run 100 ms ones).
        progress: a ``compactrs._progress`` reporter.
        command: the command line, recorded in the block.

    Returns:
        ``(retimed profile, block)``: a new ``KernelProfile`` (the input is not modified) whose network
        coefficients are its profiled ones (``block["profiled_coefficients"]``; of a profile re-timed before, those it
        was profiled with) × ``block["factor"]``, and whose ``data["retime"]`` is ``block`` — ``factor``, the
        per-network ratios, their spread, the reference graph's median over the re-timing (``reference_ms``:
        the machine speed the re-timed predictions describe), the machine's state and the seconds it took.

    Raises:
        ConfigError: not a kernel profile of this machine, or the machine was busy while timing.
    """
    from compactrs.cost import _kernel_build as kb
    from compactrs.cost._kernel_validate import _timing
    from compactrs.cost.kernel_latency import KernelProfile
    from compactrs.deploy.machine import cpu_isa, cpu_model

    applies, why = retime_applies(profile, cpu_model(), cpu_isa())
    if not applies:
        raise ConfigError(f"cannot re-time '{profile.source}': {why}")
    if networks < 1:
        raise ConfigError(f"re-timing needs at least 1 network, got {networks}")
    profile.check_target()
    started = time.perf_counter()
    fit_rows = profile.data["network"]["fit"]["networks"]
    chosen = choose_networks(fit_rows, networks, prefer_input, max_ms)
    rows = [fit_rows[i] for i in chosen]
    conditions: dict = {}
    with tempfile.TemporaryDirectory(prefix="compactrs-retime-") as tmp:
        folder = Path(tmp)
        items = kb.emit_networks([row["network"] for row in rows], folder, profile.data["batch"], "retime", 0, progress)
        kb.prepare_runtime_graphs(folder, items, profile.runtime, profile.precision, progress)
        timings = kb.time_networks(folder, items, profile.data["threads"], _timing(profile), progress, conditions,
                                   profile.runtime, profile.precision)
    if conditions.get("contended"):
        raise ConfigError(f"the machine was busy while re-timing '{profile.source}' ({conditions.get('reason')}): a "
                          f"factor measured under load is the load's; re-time it with nothing else running")
    # a profile re-timed before is re-timed from its profiled coefficients: the stored times are the profiled ones
    profiled = dict((profile.data.get("retime") or {}).get("profiled_coefficients") or profile.coefficients)
    ratios = np.array([t["median_ms"] / row["measured_ms"] for t, row in zip(timings, rows)])
    factor = float(np.median(ratios))
    reference = (conditions.get("reference") or {}).get("median_ms")
    block = {
        "factor": factor, "n": len(rows),
        "ratio_p25": float(np.percentile(ratios, 25)), "ratio_p75": float(np.percentile(ratios, 75)),
        "ratio_min": float(ratios.min()), "ratio_max": float(ratios.max()),
        "reference_ms": None if reference is None else float(reference),
        "prefer_input": None if prefer_input is None else [int(v) for v in prefer_input],
        "networks": [{"network": row["network"], "stored_ms": row["measured_ms"], "now_ms": t["median_ms"],
                      "round_ms": t["round_ms"]} for row, t in zip(rows, timings)],
        "profiled_coefficients": profiled,
        "machine_state": conditions, "seconds": round(time.perf_counter() - started, 1),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "command": command,
        "note": "the profile's own fitting networks timed again as it timed them; every network coefficient × factor "
                "(the median of now ÷ stored), so every prediction is stated at the machine's speed now",
    }
    low, high = PLAUSIBLE_FACTOR
    if not low <= factor <= high:
        block["warning"] = (f"the machine runs the profile's networks {factor:.2f}× as long as when it was profiled: "
                            f"far from what a re-timing corrects; re-profile it ('compactrs profile')")
    data = copy.deepcopy(profile.data)
    data["network"]["coefficients"] = {key: value * factor for key, value in profiled.items()}
    data["retime"] = block
    return KernelProfile(data, profile.source), block


def retime_line(block: dict) -> str:
    """One line for a log: what the re-timing found and what it changed."""
    line = (f"latency profile re-timed on this machine: {block['n']} of its networks run {block['factor']:.2f}× their "
            f"profiled time now (quartiles {block['ratio_p25']:.2f}–{block['ratio_p75']:.2f}, {block['seconds']:.0f} s); "
            f"its predictions are scaled by {block['factor']:.2f}")
    return line + (f"; WARNING: {block['warning']}" if block.get("warning") else "")
