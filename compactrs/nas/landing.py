"""Land a latency-target search on the time measured here, not only on the profile's prediction.

A latency profile predicts a network within about ±10 % on the machine it describes, as well as that machine
re-times itself (BENCHMARKS.md), but a searched network is one draw from the tails too: searched networks are
one kind of op almost everywhere, and the profile missed some by 20–80 % (the small Indian Pines ones most).
When the search runs on the machine its profile describes (the same CPU, onnxruntime FP32: what a search
report measures), the derived genotype is therefore timed at its predicted width and at neighbouring even
widths, and the one whose *measured* time is the largest at or under the target is kept — the step MnasNet and
ProxylessNAS take by measuring on the device. Latency depends on the graph, not on the weights, so untrained
networks are timed (``compactrs.nas.api``: each call paired with the fixed reference graph and the median stated
at the profile's machine speed, since the development VM runs everything 1.3–2× slower for seconds at a time);
the retrained network is then timed the same way for the report.

Elsewhere (a profile of another device, an OpenVINO or INT8 profile) the prediction stands, and the report
says so.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Callable

from compactrs.nas.derive import MAX_WIDTH, Budget, BudgetFit, within_band

#: widths timed at most while walking towards the band (each is an export plus about a second of timing)
MAX_MEASURED = 8


def measured_landing_applies(profile, machine_cpu: str | None,
                             machine_isa: list[str] | None = None) -> tuple[bool, str]:
    """Whether the derived network can be landed on a measurement here (the profile describes this machine's CPU
    model and, where it recorded them, its instruction-set extensions), and why (not)."""
    from compactrs.deploy.machine import machine_mismatch

    data = getattr(profile, "data", {})
    runtime = getattr(profile, "runtime", "onnxruntime")
    precision = getattr(profile, "precision", "fp32")
    if (runtime, precision) != ("onnxruntime", "fp32"):
        return False, f"the profile describes {runtime} {precision}; the width is landed on its prediction"
    mismatch = machine_mismatch(data.get("device"), machine_cpu, machine_isa)
    if mismatch:
        return False, (f"{mismatch}: the width is landed on the profile's prediction (a time measured here says little "
                       "about that device)")
    return True, "the profile describes this machine: the width is landed on onnxruntime times measured here"


def land_by_measurement(fit: BudgetFit, budget: Budget, min_width: int,
                        measure: Callable[[dict, int], tuple[float, bool]],
                        max_depth: int | None = None, max_width: int = MAX_WIDTH) -> tuple[BudgetFit, dict]:
    """Re-choose ``fit``'s width (then one block's depth) so the network's *measured* latency lands in the band.

    Widths first; where no even width lands (a searched Indian Pines network ran 0.60 ms at width 16 and 1.50 ms
    at 18: channel counts past a multiple of 16 pay a whole NCHWc block), each block's depth one up (under the
    band) or one down (over the target) at the chosen width, up to ``max_depth``.

    Args:
        fit: the prediction-based fit (its genotype and width are the starting point).
        budget: the latency budget (``kind == "latency_ms"``).
        min_width, max_width: the widths allowed (those the profile covers: the report prices the result).
        measure: ``(genotype, width) -> (median ms, contended)``: one timing of the untrained network.
        max_depth: the deepest a block may be (None: depths are not changed).

    Returns:
        The fit at the chosen width and depths (``costs["latency_ms"]``: its measured time; ``met``: whether that
        lands in the band) and a record ``{"widths": {width: ms}, "depths": {depths: ms at the chosen width},
        "predicted_width", "chosen", "chosen_depths", "landed", "contended", "message"}``.
    """
    genotype, width = fit.genotype, fit.init_channels
    times: dict[int, float] = {}
    contended = False

    def timed(w: int) -> float:
        nonlocal contended
        if w not in times:
            ms, busy = measure(genotype, w)
            times[w] = float(ms)
            contended = contended or bool(busy)
        return times[w]

    target = budget.target
    w = width
    if not within_band(timed(w), target, budget.tolerance):
        # one jump to where the band's middle would be if time grew as width^1.5 (between a launch-bound
        # network's ~linear growth and a MAC-bound one's quadratic), then even steps from there
        middle = target * (1 - budget.tolerance / 2)
        guess = int(round(w * (middle / times[w]) ** (1 / 1.5) / 2)) * 2
        guess = min(max(guess, min_width), max_width)
        if abs(guess - w) > 2:
            timed(guess)
            w = guess
    step = -2 if times[w] > target else 2
    while not within_band(times[w], target, budget.tolerance) and len(times) < MAX_MEASURED:
        nxt = w + step
        if not min_width <= nxt <= max_width:
            break
        timed(nxt)
        w = nxt
        if step < 0 and times[w] <= target:  # came down under the target: the widest width under it is found
            break
        if step > 0 and times[w] > target:  # went over it: the width before was the widest under it
            break

    def best() -> int:
        # the slowest width at or under the target (time is not monotonic in width: onnxruntime's NCHWc kernels
        # run channel counts in blocks of 16, and a searched Indian Pines network ran 0.35 ms at width 14,
        # 0.24 ms at 16 and 0.46 ms at 18); none under it: the fastest
        under = [v for v in times if times[v] <= target]
        return max(under, key=lambda v: times[v]) if under else min(times, key=lambda v: times[v])

    # not landed: the untimed even neighbours of the best so far, while the budget of timings lasts
    while not within_band(times[best()], target, budget.tolerance) and len(times) < MAX_MEASURED:
        around = [v for v in (best() - 2, best() + 2) if min_width <= v <= max_width and v not in times]
        if not around:
            break
        timed(around[0])
    chosen = best()
    depths = list(genotype["depths"])
    depth_times: dict[tuple, float] = {tuple(depths): times[chosen]}
    if max_depth is not None and not within_band(times[chosen], target, budget.tolerance):
        delta = 1 if times[chosen] <= target else -1
        for block in range(len(depths)):
            variant = depths[:block] + [depths[block] + delta] + depths[block + 1:]
            if 1 <= variant[block] <= max_depth:
                ms, busy = measure({**genotype, "depths": variant}, chosen)
                depth_times[tuple(variant)] = float(ms)
                contended = contended or bool(busy)
    under = [d for d in depth_times if depth_times[d] <= target]
    kept = max(under, key=depth_times.get) if under else min(depth_times, key=depth_times.get)
    ms = depth_times[kept]
    landed = within_band(ms, target, budget.tolerance)
    shown = ", ".join(f"{v}: {times[v]:.3f} ms" for v in sorted(times))
    if len(depth_times) > 1:
        shown += "; at init_channels {}: ".format(chosen) + ", ".join(
            f"depths {list(d)}: {t:.3f} ms" for d, t in depth_times.items())
    what = f"init_channels {chosen}" + (f", depths {list(kept)}" if list(kept) != depths else "")
    if landed:
        message = f"measured here: {what} runs in {ms:.3f} ms, inside {budget.band()} (timed {shown})"
    else:
        message = (f"MISSED the measured band {budget.band()}: no even width (nor one block's depth ±1) lands on this "
                   f"machine (timed {shown}); kept {what}")
    if contended:
        message += "; WARNING: the machine was busy while timing, these times may be high"
    costs = {**fit.costs, "latency_ms": ms}
    changed = chosen != width or list(kept) != depths
    new_fit = replace(fit, genotype={**genotype, "depths": list(kept)}, init_channels=chosen, costs=costs, met=landed,
                      adjusted=fit.adjusted or changed, message=f"{fit.message}; {message}")
    record = {"widths": {str(v): times[v] for v in sorted(times)},
              "depths": {str(list(d)): t for d, t in depth_times.items()}, "predicted_width": width,
              "chosen": chosen, "chosen_depths": list(kept), "landed": landed, "contended": contended,
              "message": message}
    return new_fit, record


def retrained_check(landing: dict, trained_ms: float, target: float, tolerance: float) -> dict:
    """Compare the retrained network's time with the time its width was landed on, minutes earlier.

    Both are the same graph timed the same way (the weights do not change the graph), so they differ only by how far
    the machine moved in between. On the development VM that is often more than the band: a landed Indian Pines
    network ran 3.77 ms (wall clock) right after retraining and 1.32 ms fifty minutes later, both recorded quiet
    (BENCHMARKS.md). The record says so instead of letting a report claim a landing the machine cannot repeat.

    Returns ``{"trained_over_landed", "trained_in_band", "steady", "message"}``; ``steady`` is False when the two
    timings differ by more than ``tolerance``.
    """
    from compactrs.nas.losses import within_band

    landed_ms = float(landing["depths"][str(list(landing["chosen_depths"]))])
    ratio = float(trained_ms) / landed_ms
    steady = abs(ratio - 1.0) <= tolerance
    in_band = within_band(float(trained_ms), target, tolerance)
    message = (f"the retrained network ran {trained_ms:.3f} ms, {ratio:.2f}x the {landed_ms:.3f} ms its width was "
               f"landed on" + (" (inside the band)" if in_band else " (outside the band)"))
    if not steady:
        message += (f"; WARNING: the same graph moved by more than ±{tolerance:.0%} between the two timings, so this "
                    f"machine is not steady enough to land within the band: time the bundle again on a quiet device "
                    f"('compactrs bench')")
    return {"trained_over_landed": ratio, "trained_in_band": in_band, "steady": steady, "message": message}
