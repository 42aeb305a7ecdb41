"""From search to a network on budget: the space's cost range, the search width, and the width/depth fit.

MACs scale roughly with the square of the width, so when the derived genotype misses the budget band
``[target·(1 − tolerance), target]`` the width (``init_channels``, kept even) is adjusted first; if no even
width lands, block depths are moved by ±1 as well. A miss that no candidate fixes is reported, never hidden.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Sequence

from compactrs.cost import count_macs
from compactrs.errors import TargetError
from compactrs.models import arch_of, build_model
from compactrs.nas.costs import CostTable, LatencyCost, MacCost
from compactrs.nas.losses import log_distance, relative_miss, within_band
from compactrs.nas.space import supernet_layout
from compactrs.nn.geometry import STEM_STRIDES, validate_stem
from compactrs.units import human_count

MAC_COST = MacCost()  # one shared cache of per-op MAC counts
MAX_WIDTH = 256
#: the narrowest first-block width the search chooses on its own (issue 9: never fewer than 8 channels;
#: a user who asks for a smaller --init-channels gets that as the floor instead)
MIN_WIDTH = 8


@dataclass(frozen=True)
class Budget:
    """One budget: ``kind`` is "macs" or "latency_ms"; the result must land in [target·(1 − tolerance), target]."""

    kind: str
    target: float
    tolerance: float

    def show(self, value: float) -> str:
        return f"{human_count(value)} MACs" if self.kind == "macs" else f"{value:.3f} ms"

    def band(self) -> str:
        return f"[{self.show(self.target * (1 - self.tolerance))}, {self.show(self.target)}]"


class BudgetSpace:
    """Prices genotypes of one dataset shape at any width: MAC tables (and latency tables with a profile)."""

    def __init__(self, in_bands: int, input_size: int, num_classes: int, ops, stem_multiplier: int = 1, blocks: int = 3,
                 max_depth: int = 5, nodes: int = 4, profile=None, min_width: int = MIN_WIDTH, stem_kinds=("conv",)):
        self.in_bands, self.input_size, self.num_classes = in_bands, input_size, num_classes
        self.stem_kinds = tuple(stem_kinds)  # the stem kinds the search may use (both with --stem search)
        self.min_width = min_width
        self.ops, self.stem_multiplier, self.blocks, self.max_depth, self.nodes = tuple(ops), stem_multiplier, blocks, max_depth, nodes
        self.profile = profile
        self._tables: dict = {}

    def profile_widths(self, budgets) -> tuple[int, ...] | None:
        """The widths a latency budget can be priced at (those the profile measured), or None if unrestricted."""
        if self.profile is None or not any(b.kind == "latency_ms" for b in budgets):
            return None
        widths = (getattr(self.profile, "space", None) or {}).get("init_channels")
        return tuple(sorted(int(w) for w in widths)) if widths else None

    def table(self, kind: str, width: int, stride: int = 1, stem_kinds=None) -> CostTable:
        """The cost table of the supernet at ``width`` with stems of ``stride`` (built once, cached).

        ``stem_kinds`` (default: the space's) are the stems it prices, each with its own fixed cost.
        """
        stem_kinds = tuple(stem_kinds or self.stem_kinds)
        key = (kind, width, stride, stem_kinds)
        if key not in self._tables:
            model = MAC_COST if kind == "macs" else LatencyCost(self.profile, self.nodes, self.blocks)
            layout = supernet_layout(self.input_size, width, self.stem_multiplier, self.blocks, self.max_depth, self.nodes,
                                     {"kind": stem_kinds[0], "stride": stride})
            self._tables[key] = CostTable(model, layout, self.ops, self.in_bands, self.input_size, self.num_classes, self.nodes,
                                          stem_kinds)
        return self._tables[key]

    def cost(self, kind: str, genotype: dict, width: int) -> float:
        if kind == "latency_ms":
            # the profile's own whole-network prediction (may model more than the per-piece table)
            return float(self.profile.predict_genotype(genotype, self.in_bands, self.input_size, self.num_classes,
                                                       init_channels=width, stem_multiplier=self.stem_multiplier))
        stem = validate_stem(genotype.get("stem"))
        return self.table(kind, width, stem["stride"], (stem["kind"],)).discrete(genotype)

    def start_cost(self, kind: str, width: int, stride: int = 1, initial_depth: int = 3) -> float:
        """Expected cost of the distribution a search starts from at ``width``: the supernet's initial logits
        (uniform ops, uniform readable inputs, ``initial_depth`` favoured with probability 1/2, stems uniform)."""
        import torch

        from compactrs.nas.costs import ArchProbs
        from compactrs.nas.supernet import initial_depth_logits, readable_inputs

        table = self.table(kind, width, stride)
        slots, n_ops = 2 * self.nodes, len(self.ops)
        readable = readable_inputs(self.nodes).double()
        inputs = readable / readable.sum(1, keepdim=True)
        depth_logits = initial_depth_logits(self.blocks, self.max_depth, min(initial_depth, self.max_depth), torch.float64)
        kinds = len(table.stem_kinds)
        probs = ArchProbs(ops={t: torch.full((slots, n_ops), 1.0 / n_ops, dtype=torch.float64) for t in ("normal", "reduce")},
                          inputs={t: inputs for t in ("normal", "reduce")}, depths=torch.softmax(depth_logits, -1),
                          stems=torch.full((kinds,), 1.0 / kinds, dtype=torch.float64) if kinds > 1 else None)
        return float(table.expected(probs))

    def extremes(self, kind: str, width: int, stride: int = 1) -> tuple[float, float]:
        """(cheapest, dearest) cost of simple genotypes of the space at ``width`` (its reachable range).

        Cheapest: the cheapest op on every slot, depth 1. Dearest: the dearest op (and, in reduction cells,
        input) on every slot with both cell inputs read (no dead code), depth ``max_depth``. The stem is the
        cheapest / dearest of the space's stem kinds.
        """
        table = self.table(kind, width, stride)
        n_ops = len(self.ops)
        out = []
        for pick in (min, max):
            normal_costs = table.normal_ops.sum(0)  # per op (the ranking is the same in every block)
            reduce_costs = table.reduce_ops.sum(0) if len(table.reduce_ops) else None
            genotype = {"normal": [], "reduce": []}
            for slot in range(2 * self.nodes):
                node = slot // 2
                genotype["normal"].append([self.ops[pick(range(n_ops), key=lambda o: normal_costs[o])], slot % 2])
                sources = [slot % 2] if node == 0 else range(node + 2)
                if reduce_costs is None:
                    genotype["reduce"].append([self.ops[0], slot % 2])
                    continue
                s, o = pick(((s, o) for s in sources for o in range(n_ops)), key=lambda so: reduce_costs[so[0], so[1]])
                genotype["reduce"].append([self.ops[o], s])
            depth = 1 if pick is min else self.max_depth
            stem_kind = table.stem_kinds[pick(range(len(table.stem_kinds)), key=lambda k: float(table.stem_fixed[k]))]
            out.append(table.discrete({**genotype, "depths": [depth] * self.blocks, "stem": {"kind": stem_kind, "stride": stride}}))
        return out[0], out[1]


def _nearest_even(predicate, start: int, step: int, low: int = 2) -> int | None:
    """The even width nearest ``start`` in direction ``step`` (±2) where a monotone predicate turns true.

    Gallops (2, 4, 8, ... widths away) and then bisects, so few cost tables are built.
    """
    inside = lambda w: low <= w <= MAX_WIDTH  # noqa: E731
    last_false, distance = start, 1
    while True:
        w = start + step * distance
        if not inside(w):
            w = low if step < 0 else MAX_WIDTH
            if w == last_false or not predicate(w):
                return None
            break
        if predicate(w):
            break
        last_false, distance = w, distance * 2
    lo, hi = sorted((last_false, w))
    while hi - lo > 2:  # bisect the even widths strictly between the last failing and the first passing one
        mid = lo + 2 * ((hi - lo) // 4)
        if predicate(mid) == (step > 0):
            hi = mid
        else:
            lo = mid
    return hi if step > 0 else lo


def centred_width(space: BudgetSpace, budget: Budget, stride: int = 1, initial_depth: int = 3,
                  widths: Sequence[int] | None = None) -> tuple[int, float]:
    """The width (even, or one of ``widths``) whose search *starts* in the band: ``(width, starting cost)``.

    The starting cost is the expected cost of the supernet's initial distribution (``BudgetSpace.start_cost``).
    Latency: every width is priced and the widest whose start lies in ``budget``'s band wins, else the one whose
    start is nearest the band's centre (log distance). MACs grow with the width: the two widths around the
    centre are found by bisection, and the one inside the band (else nearer the centre) wins. Searched from there,
    the budget loss has little to pull at first and the task loss picks the ops: started below the band, the
    push up raises the costliest op's probability on every edge alike (2026-12-02: every edge of three Indian
    Pines searches ended as the dearest op, ``mbconv_e6_k5_se``). Time is not monotonic in the width
    (onnxruntime runs channels in blocks: width 10 started at 0.61 ms where 16 started at 0.28 ms in one space).
    """
    candidates = sorted(widths) if widths else list(range(space.min_width, MAX_WIDTH + 1, 2))
    centre = budget.target * (1 - budget.tolerance / 2)
    costs: dict[int, float] = {}

    def cost(i: int) -> float:
        if i not in costs:
            costs[i] = space.start_cost(budget.kind, candidates[i], stride, initial_depth)
        return costs[i]

    if budget.kind == "macs":
        lo, hi = 0, len(candidates) - 1
        while hi - lo > 1:  # the last index whose start is under the centre, and the next
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if cost(mid) <= centre else (lo, mid)
        indices = sorted({lo, hi})
    else:
        indices = range(len(candidates))
    inside = [i for i in indices if within_band(cost(i), budget.target, budget.tolerance)]
    best = max(inside) if inside else min(indices, key=lambda i: (abs(math.log(cost(i) / centre)), -i))
    return candidates[best], cost(best)


def choose_search_width(space: BudgetSpace, budgets: list[Budget], width: int, stride: int = 1,
                        centre: bool = False, initial_depth: int = 3) -> tuple[int, str]:
    """The even width nearest ``width`` whose space contains every budget band; returns (width, message).

    Both ends of the space's cost range grow with the width: if its dearest genotype is under a target the
    search widens to the narrowest width that reaches it; if its cheapest genotype is above a band's floor it
    narrows to the widest width under it. With ``centre`` the width is instead the one whose starting
    distribution costs inside (else nearest the centre of) the band (``centred_width``; the latency band when
    there is one), kept if its space holds every band.

    Raises:
        TargetError: no even width in ``space.min_width``..256 can hold the band(s).
    """
    def ranges(w: int) -> str:
        return "; ".join(f"{b.show(space.extremes(b.kind, w, stride)[0])} to {b.show(space.extremes(b.kind, w, stride)[1])}"
                         for b in budgets)

    def reaches(w: int) -> bool:
        return all(space.extremes(b.kind, w, stride)[1] >= b.target for b in budgets)

    def under_floor(w: int) -> bool:
        return all(space.extremes(b.kind, w, stride)[0] <= b.target * (1 - b.tolerance) for b in budgets)

    bands = ", ".join(b.band() for b in budgets)
    covered = space.profile_widths(budgets)
    if centre:
        primary = next((b for b in budgets if b.kind == "latency_ms"), budgets[0])
        chosen, start = centred_width(space, primary, stride, initial_depth, covered)
        if reaches(chosen) and under_floor(chosen):
            where = ("inside" if within_band(start, primary.target, primary.tolerance)
                     else "of all widths' starts the nearest to the centre of")
            return chosen, (f"searching at init_channels {chosen}, where the starting distribution costs "
                            f"{primary.show(start)}, {where} the target band {primary.band()} "
                            f"(the space spans {ranges(chosen)})")
    if covered is not None:
        # A latency budget can only be priced at widths the profile measured: choose among those.
        if width in covered and reaches(width) and under_floor(width):
            return width, f"at init_channels {width} the space spans {ranges(width)}: it holds the target band {bands}"
        # nearest first, stopping at the first that holds the band: each width costs a latency table (an export
        # and a profiled session per op context), and a profile of every even width 8–64 has 29 of them
        chosen = next((w for w in sorted(covered, key=lambda w: (abs(w - width), w)) if reaches(w) and under_floor(w)),
                      None)
        if chosen is None:
            raise TargetError(f"no width the latency profile covers (init_channels {list(covered)}) holds the target band "
                              f"{bands}; re-profile with more widths ('compactrs profile --init-channels ...') or change the targets")
        return chosen, (f"searching at init_channels {chosen}, the nearest width the latency profile covers whose space "
                        f"holds the target band {bands} (spans {ranges(chosen)})")
    if reaches(width) and under_floor(width):
        return width, f"at init_channels {width} the space spans {ranges(width)}: it holds the target band {bands}"
    if not reaches(width):
        chosen = _nearest_even(reaches, width, +2, space.min_width)
    else:
        chosen = _nearest_even(under_floor, width, -2, space.min_width)
    if chosen is None or not (reaches(chosen) and under_floor(chosen)):
        edge = MAX_WIDTH if not reaches(width) else space.min_width  # the width limit in the direction the target lies
        raise TargetError(f"no width of the search space reaches the target band {bands} on this input "
                          f"(init_channels {width} spans {ranges(width)}; init_channels {edge} spans {ranges(edge)}); "
                          f"choose a target inside what the space can reach, or another --ops set")
    return chosen, (f"at init_channels {width} the space spans {ranges(width)}, which does not hold the target band "
                    f"{bands}; searching at init_channels {chosen} instead (spans {ranges(chosen)})")


def stem_strides(space: BudgetSpace, budgets: list[Budget], stride: int | None) -> tuple[int, ...]:
    """The stem strides the search may choose from: the one asked for, or all (stride 1 only under a latency budget)."""
    if stride is not None:
        return (int(stride),)
    if space.stem_kinds != ("conv",):
        return (1,)  # the spectral and pointwise stems keep the resolution (compactrs.nn.geometry.KIND_STRIDES)
    if any(b.kind == "latency_ms" for b in budgets):
        return (1,)  # latency profiles price the stride-1 stem only (compactrs.nas.costs.LatencyCost)
    return STEM_STRIDES


def choose_stem_and_width(space: BudgetSpace, budgets: list[Budget], width: int,
                          stride: int | None = None, centre: bool = False, initial_depth: int = 3) -> tuple[int, int, str]:
    """The stem stride and search width for the budgets: ``(stride, width, message)``, before any training.

    The rule (issue 9: keep channels, give up resolution): the smallest stride whose space holds every band at
    the requested ``width`` or wider (full resolution when the budget allows the width); if no stride does,
    the stride that allows the widest first cells. Widths stay ≥ ``space.min_width`` (8) at every stride.

    Raises:
        TargetError: no stride and width holds the band(s); the one-line message names the reachable range.
    """
    fallback = []
    for s in stem_strides(space, budgets, stride):
        try:
            w, message = choose_search_width(space, budgets, width, s, centre, initial_depth)
        except TargetError:
            continue
        if w >= width or centre:
            return s, w, f"stem stride {s}: {message}"
        fallback.append((w, -s, message))
    if fallback:
        w, s, message = max(fallback)
        return -s, w, f"stem stride {-s} (the stride that keeps the widest cells under this budget): {message}"
    strides = stem_strides(space, budgets, stride)
    lows = {b.kind: min(space.extremes(b.kind, space.min_width, s)[0] for s in strides) for b in budgets}
    # the dearest network is the widest at the smallest stride (one table; width 256 tables are slow to build)
    highs = {b.kind: space.extremes(b.kind, MAX_WIDTH, min(strides))[1] for b in budgets}
    reach = "; ".join(f"{b.show(lows[b.kind])} to {b.show(highs[b.kind])}" for b in budgets)
    raise TargetError(f"the search space cannot hold the target band {', '.join(b.band() for b in budgets)} on "
                      f"{space.in_bands}x{space.input_size}x{space.input_size} inputs with ≥ {space.min_width} channels per "
                      f"first cell (stem stride {'/'.join(map(str, strides))}): it reaches {reach}; choose a target in that range")


@dataclass
class BudgetFit:
    """What derive settled on, and whether it is on budget."""

    genotype: dict
    init_channels: int
    costs: dict             # kind -> value at the chosen width (MACs from the built network)
    met: bool
    adjusted: bool
    message: str
    searched: dict = field(default_factory=dict)  # kind -> cost of the genotype as searched (before any fit)


def measure_macs(genotype: dict, in_bands: int, input_size: int, num_classes: int, init_channels: int, stem_multiplier: int = 1) -> int:
    """MACs of the CellNet built from ``genotype`` through arch.json (what the run reports)."""
    arch = arch_of("cellnet", in_bands, num_classes, genotype=genotype, init_channels=init_channels, stem_multiplier=stem_multiplier)
    return count_macs(build_model(arch), (1, in_bands, input_size, input_size))


def fit_budget(space: BudgetSpace, budgets: list[Budget], genotype: dict, width: int) -> BudgetFit:
    """Keep ``genotype`` if it lands in every band; else adjust width, then depths (±1), to land; else report the miss."""
    def evaluate(g: dict, w: int) -> dict:
        return {b.kind: space.cost(b.kind, g, w) for b in budgets}

    def lands(costs: dict) -> bool:
        return all(within_band(costs[b.kind], b.target, b.tolerance) for b in budgets)

    searched = evaluate(genotype, width)
    if lands(searched):
        fit = BudgetFit(genotype, width, searched, True, False, "the derived network lands in the target band as searched", searched)
        return _measured(space, fit)
    covered = space.profile_widths(budgets)
    if covered is not None:
        near = list(covered)  # a latency budget is priced only at the widths the profile measured
    else:
        primary = budgets[0]
        # widths around the one whose cost crosses the target (costs grow with width)
        under = lambda w: space.cost(primary.kind, genotype, w) <= primary.target  # noqa: E731
        if under(width):
            above = _nearest_even(lambda w: not under(w), width, +2, space.min_width)
            crossing = MAX_WIDTH if above is None else above - 2
        else:
            crossing = _nearest_even(under, width, -2, space.min_width) or space.min_width
        near = sorted({w for w in (crossing - 2, crossing, crossing + 2) if space.min_width <= w <= MAX_WIDTH} | {width})
    depth_options = [sorted({min(max(d + delta, 1), space.max_depth) for delta in (-1, 0, 1)}) for d in genotype["depths"]]
    # The best candidate lands (miss 0) with the least depth change, then the least width change, then the
    # least log-distance. Pricing candidates in groups of equal (depth change, width change), nearest first,
    # and stopping after the first group where one lands picks exactly what pricing all of them would (a
    # latency prediction costs an export and an optimised session: pricing every profiled width × depth
    # vector took minutes). When none lands, every candidate is priced to report the closest miss.
    groups: dict[tuple[int, int], list[tuple[int, list[int]]]] = {}
    for w in near:
        for depths in itertools.product(*depth_options):
            depth_change = sum(abs(a - b) for a, b in zip(depths, genotype["depths"]))
            groups.setdefault((depth_change, abs(w - width)), []).append((w, list(depths)))
    candidates = []
    for (depth_change, width_change), members in sorted(groups.items()):
        for w, depths in members:
            g = {**genotype, "depths": depths}
            costs = evaluate(g, w)
            miss = max(relative_miss(costs[b.kind], b.target, b.tolerance) for b in budgets)
            candidates.append((miss, depth_change, width_change,
                               sum(log_distance(costs[b.kind], b.target, b.tolerance) for b in budgets), w, g, costs))
        if any(c[0] == 0 for c in candidates):
            break
    candidates.sort(key=lambda c: c[:4])
    miss, depth_change, _, _, w, g, costs = candidates[0]
    changes = ([f"init_channels {width} → {w}"] if w != width else []) + \
        ([f"depths {genotype['depths']} → {g['depths']}"] if depth_change else [])
    what = ", ".join(changes) or f"init_channels {width} (unchanged)"
    as_searched = ", ".join(b.show(searched[b.kind]) for b in budgets)
    if miss == 0:
        message = f"the derived network ({as_searched} at init_channels {width}) missed the band; adjusted {what} to land on it"
        fit = BudgetFit(g, w, costs, True, True, message, searched)
    else:
        message = (f"MISSED the target band {', '.join(b.band() for b in budgets)}: the derived network costs {as_searched} at init_channels "
                   f"{width} and no even width (with depths ±1) lands; closest: {what} at "
                   f"{', '.join(b.show(costs[b.kind]) for b in budgets)} ({miss:.1%} outside)")
        fit = BudgetFit(g, w, costs, False, w != width or depth_change > 0, message, searched)
    return _measured(space, fit)


def _measured(space: BudgetSpace, fit: BudgetFit) -> BudgetFit:
    """Replace the table's MAC figure by the count on the built network (they agree; the count is what is reported)."""
    fit.costs["macs"] = measure_macs(fit.genotype, space.in_bands, space.input_size, space.num_classes, fit.init_channels, space.stem_multiplier)
    return fit
