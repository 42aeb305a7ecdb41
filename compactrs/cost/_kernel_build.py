"""Building a kernel-level profile: sample networks, profile them in situ, fit the per-kernel regressors.

1. Random CellNets are drawn where the search space puts its kernels (every op, every width of the region,
   every input size and band count of the shipped datasets, every share of ``zero`` edges from dense to
   the sparse networks budget searches derive), spread evenly over the decades of network size so small
   networks are as well represented as large ones (``sample_specs``), and exported to a folder
   (``emit_networks``).
2. Each is measured twice over (``measure_networks``): once with onnxruntime's per-node profiler (the kernels
   of its optimised graph, each timed in context over many runs; trimmed mean) and end to end without the
   profiler, in interleaved rounds over *all* networks — fitting and validation alike — so the machine's
   drift reaches both sets equally, and every network has one median per round (test–retest).
3. The kernel samples of the fitting networks train one regressor per kernel type; the end-to-end times fit
   the whole-network term (``fit_network_term``).
4. Adaptive sampling: after a first batch, the ops whose kernels the regressors predict worst (leave-one-out)
   are drawn more often in the next batch.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from compactrs.cost._kernel_model import SAMPLE_FIELDS, aggregate_samples, sample_row

NETWORKS_SCHEMA = "compactrs.kernel-profile-graphs/1"


#: ops that run no convolution: a network made of them is cheap whatever its width (the size proxy).
LIGHT_OPS = frozenset({"zero", "skip_connect", "max_pool_3x3", "avg_pool_3x3"})
#: candidates drawn per network kept (enough that every stratum holds its share: checked for the shipped space and
#: the tests' tiny ones), and the number of log-size strata they are spread over.
POOL_FACTOR, STRATA = 64, 8


def sample_specs(space: dict, n: int, seed: int, op_weights: dict | None = None, exclude=(),
                 max_depth: int | None = None) -> list[dict]:
    """``n`` random network specs from ``space``, spread evenly over the decades of network size.

    Uniform draws put most networks where widths, depths and inputs are all large (a 1–200 ms spread of
    which few fall near the 0.2–1 ms networks a latency-budget search derives); so ``POOL_FACTOR · n``
    candidates are drawn (``_draw_specs``), cut into ``STRATA`` equal bins of ``log size_proxy`` between the
    pool's smallest and largest, and taken round-robin from the bins: small networks are as well represented
    as large ones and the whole region stays covered. ``op_weights`` biases which ops the genotypes use, ``max_depth``
    (default: the space's) caps the cells per block.
    """
    pool = _draw_specs(space, POOL_FACTOR * n, n, seed, op_weights, exclude, max_depth)
    sizes = np.log([size_proxy(spec) for spec in pool])
    edges = np.linspace(sizes.min(), sizes.max(), STRATA + 1)[1:-1]
    strata = [[spec for spec, b in zip(pool, np.digitize(sizes, edges)) if b == k] for k in range(STRATA)]
    # the pool's smallest and largest networks lead their strata, so the sample spans the whole range
    for stratum, extreme in ((strata[0], pool[int(np.argmin(sizes))]), (strata[-1], pool[int(np.argmax(sizes))])):
        stratum.remove(extreme)
        stratum.insert(0, extreme)
    specs: list[dict] = []
    while len(specs) < n:
        for stratum in strata:
            if stratum and len(specs) < n:
                specs.append(stratum.pop(0))
    return specs


#: the work (``size_proxy`` units: channel² · pixel) whose arithmetic takes as long as launching one kernel: a
#: least-squares fit of log time on the Intel profile's 160 networks (fitting + validation, 0.36–465 ms) put it at
#: ~24 000. It barely changes how well the proxy fits (rms of log time 0.503 → 0.493) but ranks sparse networks small
KERNEL_WORK = 24_000


def size_proxy(spec: dict) -> float:
    """A cheap stand-in for a network's time (no module built): a cell's convolutions cost ∝ C²·side² in every
    block (channels double as the side halves), scaled by the share of its edges that convolve, plus the stem,
    plus a launch cost per kernel (``KERNEL_WORK`` per live edge of every cell) — which is what a small network's
    time is mostly made of: sparse one-cell-per-block networks are the smallest, not the narrowest ones."""
    genotype = spec["genotype"]
    cells = sum(genotype["depths"]) + len(genotype["depths"]) - 1
    edges = [op for cell in ("normal", "reduce") for op, _ in genotype[cell]]
    heavy = sum(op not in LIGHT_OPS for op in edges) / max(len(edges), 1)
    live = sum(op != "zero" for op in edges) / 2  # per cell: half the edges belong to each cell type
    c, side = spec["init_channels"] * spec["stem_multiplier"], spec["input_size"]
    work = c * c * side * side * cells * (0.1 + heavy) + spec["in_bands"] * c * side * side
    return float(work + KERNEL_WORK * cells * (1 + live))


def _draw_specs(space: dict, n: int, least: int, seed: int, op_weights: dict | None, exclude,
                max_depth: int | None) -> list[dict]:
    """Up to ``n`` distinct draws (none in ``exclude``), at least ``least`` (ConfigError if the space holds fewer
    distinct networks): uniform over the space, but ``BUDGET_LIKE_SHARE`` of them shaped like the networks a
    budget search derives (one cell per block, at least ``BUDGET_LIKE_SPARSITY`` of the edges ``zero``) and
    ``FEW_OPS_SHARE`` built from a few ops only (``_op_mix``)."""
    from compactrs.errors import ConfigError
    from compactrs.nn.cells import random_genotype

    rng = np.random.default_rng(seed)
    ops = list(space["ops"])
    if op_weights:
        # repeat each op in proportion to its weight: random_genotype draws uniformly from the list
        total = sum(op_weights.get(op, 0.0) for op in ops) or 1.0
        ops = [op for op in ops for _ in range(max(1, round(20 * op_weights.get(op, 0.0) / total * len(ops))))]
    seen = {json.dumps(spec, sort_keys=True) for spec in exclude}
    specs, attempts = [], 0
    while len(specs) < n and attempts < 20 * n:
        attempts += 1
        depth = min(space["max_depth"], max_depth or space["max_depth"])
        budget_like = rng.random() < BUDGET_LIKE_SHARE
        deep_narrow = not budget_like and rng.random() < DEEP_NARROW_SHARE
        if deep_narrow:
            depth = space["max_depth"]
        genotype = random_genotype(rng, _op_mix(rng, ops), space["nodes"], space["blocks"], 1 if budget_like else depth)
        if "zero" in space["ops"]:
            _sparsify(rng, genotype, BUDGET_LIKE_SPARSITY if budget_like else 0.0)
        widths = _narrow(space["init_channels"]) if deep_narrow else space["init_channels"]
        spec = {"genotype": genotype,
                **_input_shape(rng, space), "init_channels": int(rng.choice(widths)),
                "num_classes": int(rng.choice(space["num_classes"])), "stem_multiplier": int(space["stem_multiplier"])}
        _draw_stem(rng, space, spec)
        text = json.dumps(spec, sort_keys=True)
        if text not in seen:
            seen.add(text)
            specs.append(spec)
    if len(specs) < least:
        raise ConfigError(f"the profiled space yields only {len(specs)} distinct networks beside the {len(exclude)} "
                          f"already drawn, {least} were asked for; ask for fewer networks or widen the space")
    return specs


#: the largest share of a genotype's edges ``_sparsify`` may turn into ``zero``
MAX_SPARSITY = 0.9
#: the share of drawn networks shaped like a budget search's result, and the least share of ``zero`` edges
#: they have. The six latency-budget searches of the accuracy–latency benchmark (2026-11-29, two datasets) all
#: derived one cell per block, an earlier 0.5 ms search 13 of 16 edges ``zero``: 0.2–1 ms networks. Few uniform
#: draws look like that (one cell per block: 1 in 8 at the fitting networks' depth cap of 2, 1 in 125 at depth 5;
#: a third of those that sparse); the Intel profile had 3 fitting networks of 60 under 1 ms and over-predicted
#: the searched 0.4 ms EuroSAT networks ~2×.
BUDGET_LIKE_SHARE, BUDGET_LIKE_SPARSITY = 0.25, 0.6


#: the share of the other draws that are deep and narrow — every block up to the space's ``max_depth`` (past the
#: fitting networks' depth cap), a width from the narrowest third — like the deeper networks a latency-target
#: search derives at width 16 (Indian Pines, 3.2 and 6.4 ms: blocks of 3–5 cells on 9×9 patches, 700–1700 kernels
#: of a few µs each). Capped at two cells per block, no fitting network was like them and the network term
#: extrapolated (2026-12-03: ten such Indian Pines networks ran 0.8–1.46× the AVX2 profile's prediction, most of
#: them slower; with this share and the fitted kernel floor, 0.99–1.38×).
DEEP_NARROW_SHARE = 0.15


def _narrow(widths) -> list[int]:
    """The narrowest third of ``widths`` (at least one)."""
    ordered = sorted(int(w) for w in widths)
    return ordered[:max(1, len(ordered) // 3)]


#: the widths (quantiles of the space's) at which every stem kind other than the conv stem is probed, per many-band input
STEM_PROBE_QUANTILES = (0.0, 0.25, 0.5, 0.75, 1.0)
STEM_PROBE_SEED_OFFSET = 3_000_017


def stem_probe_specs(space: dict, seed: int, exclude=()) -> list[dict]:
    """Fitting networks that measure each stem kind other than the conv stem at widths spread over the space's
    (``STEM_PROBE_QUANTILES``), for every input of ``MIN_SPECTRAL_BANDS`` bands or more: sparse one-cell-per-block
    networks, so the stem is much of what they run.

    The spectral stem's kernels (the scan's broadcast products, splits and exponentials over every pixel's pieces)
    are of generic types whose other samples come from cells, and behave like none of them; drawn like any other
    choice, a stem kind was met at two or three widths in a profile (the AVX2 AMD profile: the spectral stem at widths 36
    and 42 only), and it priced every other width 15–44 % low (its validation networks with that stem; at width 64
    the scan's broadcast product at a fifteenth of its profiled time).
    """
    from compactrs.nn.cells import random_genotype
    from compactrs.nn.spectral_stem import MIN_SPECTRAL_BANDS

    kinds = [kind for kind in space.get("stem_kinds", ["conv"]) if kind != "conv"]
    widths = sorted(int(w) for w in space["init_channels"])
    chosen = sorted({widths[int(round(q * (len(widths) - 1)))] for q in STEM_PROBE_QUANTILES})
    inputs = space.get("inputs") or [[b, s] for b in space["in_bands"] for s in space["input_size"]]
    rng = np.random.default_rng(seed + STEM_PROBE_SEED_OFFSET)
    seen = {json.dumps(spec, sort_keys=True) for spec in exclude}
    specs = []
    for bands, side in inputs:
        if bands < MIN_SPECTRAL_BANDS:
            continue
        for kind in kinds:
            for width in chosen:
                genotype = random_genotype(rng, _op_mix(rng, list(space["ops"])), space["nodes"], space["blocks"], 1)
                if "zero" in space["ops"]:
                    _sparsify(rng, genotype, BUDGET_LIKE_SPARSITY)
                genotype["stem"] = {"kind": kind, "stride": 1}
                spec = {"genotype": genotype, "in_bands": int(bands), "input_size": int(side), "init_channels": width,
                        "num_classes": int(space["num_classes"][0]), "stem_multiplier": int(space["stem_multiplier"])}
                text = json.dumps(spec, sort_keys=True)
                if text not in seen:
                    seen.add(text)
                    specs.append(spec)
    return specs


#: the share of drawn networks whose edges use only 1–``FEW_OPS_MAX`` ops of the space (besides ``zero``)
FEW_OPS_SHARE, FEW_OPS_MAX = 0.5, 3


def _op_mix(rng, ops: list[str]) -> list[str]:
    """The ops one network's edges are drawn from: all of ``ops`` (repeats are weights), or for ``FEW_OPS_SHARE``
    of the networks a few of them.

    A searched network is one kind of op almost everywhere — the landing searches of 2026-12-02 derived cells of
    16 MBConv(-SE) edges, or 16 dilated convs — while a uniform draw blends all 20 ops in every network, so every
    fitting network was the same average mix, and the profile priced the large searched networks 1.4–1.6× too
    fast (one of 686 kernels, mostly MBConv: its kernels ran 1.2× slower than the regressors fitted on the blends
    say). Drawn from few ops, such networks are inside the fitted region.
    """
    if rng.random() >= FEW_OPS_SHARE:
        return ops
    names = sorted({op for op in ops if op != "zero"})
    if len(names) <= 1:
        return ops
    weights = np.array([ops.count(op) for op in names], dtype=float)
    chosen = rng.choice(names, size=int(rng.integers(1, min(FEW_OPS_MAX, len(names)) + 1)), replace=False,
                        p=weights / weights.sum())
    return [str(op) for op in chosen]


def _sparsify(rng, genotype: dict, least: float = 0.0) -> None:
    """Turn a share of the edges, drawn uniformly in [least, MAX_SPARSITY], into ``zero`` (in place).

    A searched network under a tight budget is sparse — most of its edges are ``zero`` (a 0.5 ms search on
    Indian Pines derived 13 of 16), so it runs ~50 kernels where a uniform draw over 20 ops runs 250+. Fitted
    on dense networks only, the whole-network term extrapolates to such networks from hundreds of kernels
    (a 0.13 ms network was predicted at 2.2 ms); drawn at every sparsity, they are inside the fitted region.
    """
    share = rng.uniform(least, MAX_SPARSITY)
    for cell in ("normal", "reduce"):
        for pair in genotype[cell]:
            if rng.random() < share:
                pair[0] = "zero"


def _draw_stem(rng, space: dict, spec: dict) -> None:
    """Give a many-band network a stem kind drawn uniformly from the space's (the conv stem stays implicit).

    Profiles made before stem kinds existed have no ``stem_kinds``: their networks keep the conv stem and the
    random draws are unchanged (no draw is made for a single kind).
    """
    from compactrs.nn.spectral_stem import MIN_SPECTRAL_BANDS

    kinds = list(space.get("stem_kinds", ["conv"]))
    if len(kinds) < 2 or spec["in_bands"] < MIN_SPECTRAL_BANDS:
        return
    kind = kinds[int(rng.integers(len(kinds)))]
    if kind != "conv":
        spec["genotype"]["stem"] = {"kind": kind, "stride": 1}


def _input_shape(rng, space: dict) -> dict:
    """Bands and side drawn together from ``space["inputs"]`` (the datasets' shapes), else independently."""
    if space.get("inputs"):
        bands, size = space["inputs"][int(rng.integers(len(space["inputs"])))]
        return {"in_bands": int(bands), "input_size": int(size)}
    return {"in_bands": int(rng.choice(space["in_bands"])), "input_size": int(rng.choice(space["input_size"]))}


def emit_networks(specs: list[dict], folder: Path, batch: int, role: str, start: int = 0, progress=None) -> list[dict]:
    """Export each spec's CellNet as ``{role}-NNN.onnx`` (NNN from ``start``); manifest items
    ``{"file", "role", "input_shape", "network"}`` (``macs`` is added from the kernels once they are read).

    MACs are not counted with fvcore here: tracing a deep network a second time costs as much as exporting it.
    Exporting is most of a profile's time and times nothing, so it runs in one worker process per core
    (``export_workers``); the kernels and networks are timed afterwards, one at a time.
    """
    from compactrs.cost._networks import network_input_shape

    jobs = [(spec, index, f"{role}-{index:03d}.onnx", network_input_shape(spec, batch))
            for index, spec in enumerate(specs, start)]
    if progress is not None:
        progress.start(f"{role}{start}", f"exporting {role} networks", len(specs))
    workers = min(export_workers(), len(jobs))
    if workers > 1 and len(jobs) >= MIN_PARALLEL_EXPORTS:
        _export_in_workers(jobs, folder, workers, lambda: progress.advance(f"{role}{start}") if progress else None)
    else:
        for job in jobs:
            _export_one(job, folder)
            if progress is not None:
                progress.advance(f"{role}{start}")
    if progress is not None:
        progress.finish(f"{role}{start}")
    return [{"file": name, "role": role, "input_shape": list(shape), "network": spec} for spec, _, name, shape in jobs]


def _export_in_workers(jobs: list[tuple], folder: Path, workers: int, advance) -> None:
    """Export ``jobs`` in ``workers`` fresh ``python -m compactrs.cost._kernel_build`` processes (round-robin
    shares; one torch thread each). Fresh interpreters, not multiprocessing: a spawned worker would re-run the
    caller's main script, a forked one can deadlock in torch's thread pool."""
    import os
    import subprocess
    import sys
    import time

    from compactrs.errors import ArtifactError

    procs = []
    for k in range(workers):
        share = folder / f".export-jobs-{k}.json"
        share.write_text(json.dumps([[spec, index, name, list(shape)] for spec, index, name, shape in jobs[k::workers]]))
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        procs.append((subprocess.Popen([sys.executable, "-m", "compactrs.cost._kernel_build", str(share), str(folder)],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env), share))
    done = 0
    while any(proc.poll() is None for proc, _ in procs):
        time.sleep(0.5)
        now = sum((folder / name).is_file() for _, _, name, _ in jobs)
        for _ in range(now - done):
            advance()
        done = now
    for proc, share in procs:
        error = proc.stderr.read()
        share.unlink(missing_ok=True)
        if proc.returncode != 0:
            last = [line for line in error.splitlines() if line.strip()][-1:] or ["no message"]
            raise ArtifactError(f"an export worker failed (exit {proc.returncode}): {last[0]}")
    for _ in range(len(jobs) - done):
        advance()


#: fewer networks than this are exported in this process (a fresh worker takes seconds to import torch)
MIN_PARALLEL_EXPORTS = 8


def export_workers() -> int:
    """Processes exporting networks in parallel: ``COMPACTRS_EXPORT_WORKERS``, else one per available core."""
    import os

    value = os.environ.get("COMPACTRS_EXPORT_WORKERS")
    if value:
        return max(1, int(value))
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def _export_one(job: tuple, folder: Path) -> str:
    """Export one network ``(spec, seed index, file name, input shape)`` into ``folder`` (written atomically)."""
    from compactrs.cost._networks import network_module
    from compactrs.cost._opgraphs import export_graph

    spec, index, name, shape = job
    export_graph(network_module(spec, index), Path(folder) / name, tuple(shape))  # written atomically
    return name


def prepare_runtime_graphs(folder: Path, items: list[dict], runtime: str, precision: str, progress=None) -> None:
    """Write what ``runtime`` runs for each item's float graph (INT8: its quantised version) into ``folder`` and
    name it in the item's ``run_file``; nothing to do in FP32 (the float graph runs)."""
    from compactrs.cost._runtime_kernels import runtime_graph

    if precision == "fp32":
        return
    if progress is not None:
        progress.start("quantise", f"quantising networks to {precision} for {runtime}", len(items))
    for item in items:
        item["run_file"] = runtime_graph(folder / item["file"], item["input_shape"], runtime, precision, folder).name
        if progress is not None:
            progress.advance("quantise")
    if progress is not None:
        progress.finish("quantise")


#: runs of the reference graph timed just before and just after each network's kernel profile
REFERENCE_RUNS = 15


def profile_kernels(folder: Path, items: list[dict], threads: int, node_runs: int = 20, progress=None,
                    runtime: str = "onnxruntime", precision: str = "fp32", speed: dict | None = None) -> list[dict]:
    """Per-node profile of every network of ``items`` (kernels in situ); one record per item.

    Returns records ``{"file", "nodes", "optimized"}`` for onnxruntime FP32: ``nodes`` is
    ``compactrs.deploy.nodeprof.profile_nodes``'s output (per node of the optimised graph, which is saved in
    ``folder`` as ``optimized``); for another runtime or precision ``{"file", "kernels"}``, the kernels read
    by ``_runtime_kernels.profile_graph`` from the item's ``run_file``.

    ``speed`` (a dict shared by every call of one profile): each network's kernel profile is bracketed by
    ``REFERENCE_RUNS`` runs of the timing reference graph (``compactrs.cost._measure``), and its kernels'
    times are later scaled by ``speed["anchor_ms"]`` / the reference's median around it (``record_kernels``):
    a VM that runs everything 2–4× slower for seconds at a time would otherwise put its phase into every
    kernel sample of the networks profiled then. (It did not narrow the spread of end-to-end ÷ kernel-sum
    ratios across networks on the development VM — 0.32–1.1 before, 0.35–1.43 after: that spread is the
    network model's, see BENCHMARKS.md.) The anchor is the first call's median reference time.
    """
    import time

    from compactrs.cost._runtime_kernels import profile_graph
    from compactrs.deploy.nodeprof import profile_nodes

    reference = None
    if speed is not None:
        from compactrs.cost._measure import REFERENCE_FILE, REFERENCE_SHAPE, ort_callable, write_reference_graph

        path = folder / REFERENCE_FILE
        reference = ort_callable(path if path.is_file() else write_reference_graph(path), REFERENCE_SHAPE, threads)
        for _ in range(5):
            reference()

    def reference_ms() -> list[float]:
        times = []
        for _ in range(REFERENCE_RUNS):
            start = time.perf_counter()
            reference()
            times.append((time.perf_counter() - start) * 1e3)
        return times

    rng = np.random.default_rng(0)
    records = []
    if progress is not None:
        progress.start("kernels", "profiling kernels in situ", len(items))
    for item in items:
        around = reference_ms() if reference is not None else []
        if runtime != "onnxruntime" or precision != "fp32":
            kernels = profile_graph(folder / item.get("run_file", item["file"]), folder / item["file"],
                                    item["input_shape"], runtime, precision, threads, 5, node_runs, folder)
            records.append({"file": item["file"], "kernels": kernels})
        else:
            x = rng.standard_normal(tuple(item["input_shape"])).astype(np.float32)
            optimized = item["file"].replace(".onnx", ".opt.onnx")
            nodes = profile_nodes(folder / item["file"], x, threads, warmup=5, runs=node_runs,
                                  optimized_path=folder / optimized)
            records.append({"file": item["file"], "nodes": nodes, "optimized": optimized})
        if reference is not None:
            records[-1]["reference_ms"] = float(np.median(around + reference_ms()))
        if progress is not None:
            progress.advance("kernels")
    if speed is not None and records:
        speed.setdefault("anchor_ms", float(np.median([r["reference_ms"] for r in records])))
        for record in records:
            record["speed"] = speed["anchor_ms"] / record["reference_ms"]
    if progress is not None:
        progress.finish("kernels")
    return records


def time_networks(folder: Path, items: list[dict], threads: int, timing, progress=None,
                  conditions: dict | None = None, runtime: str = "onnxruntime", precision: str = "fp32") -> list[dict]:
    """End-to-end times of every network in ``max(2, timing.rounds)`` interleaved rounds (the one timing loop).

    Records ``{"file", "median_ms", "p90_ms", "round_ms", ...}``: ``round_ms`` holds each round's median
    (test–retest), ``median_ms`` pools every sample. ``conditions`` is filled with the machine's state.
    """
    from dataclasses import replace

    from compactrs.cost._measure import measure_folder

    timing = replace(timing, rounds=max(2, timing.rounds))
    return measure_folder(folder, items, threads, timing, progress, conditions, runtime, precision)


def record_kernels(folder: Path, record: dict, original: str) -> list[dict]:
    """The kernels (configurations + measured µs) of one measured network record."""
    from compactrs.cost.kernels import read_kernels

    if "kernels" in record:  # profiled by another runtime or precision: already read
        kernels = record["kernels"]
    else:
        kernels = read_kernels(folder / record["optimized"], record["nodes"], folder / original)
    factor = record.get("speed", 1.0)  # the machine's phase while they were profiled (profile_kernels)
    return [{**kernel, "us": kernel["us"] * factor} for kernel in kernels] if factor != 1.0 else kernels


#: soft-L1 scale of the network term's log residuals: a network off by more than ~10 % counts linearly, not squared
NETWORK_FIT_F_SCALE = 0.1
#: with the kernel floor fitted, the profiler's per-node overhead may be up to this many times the cheapest
#: profiled kernel (a guard against a degenerate fit, not a physical bound: the AVX2 AMD profiles' fits put it at
#: 1.65× (the thirteenth session's, refitted) and 1.15× (the fourteenth's))
OVERHEAD_BOUND = 3.0
#: the most a kernel's floor (its least cost in a real run) may be fitted at, µs
FLOOR_MAX_US = 10.0


def fit_network_term(networks: list[dict], cheapest_kernel_us: float = 0.0, per_run_us: float | None = None,
                     prices: list | None = None) -> dict:
    """Fit ``measured_us ≈ per_run + Σ_kernels max(scale · kernel µs + per_kernel, floor)`` (bounded, robust least
    squares on the log of predicted ÷ measured).

    ``per_kernel`` may be negative: a node's profiled time includes a few µs of the profiler's own per-node
    work that end-to-end runs do not pay. On networks of many small kernels that overhead is most of the profiled time (profiled
    Σ ≈ 2.3 × the measured latency of a 1 ms network, ≈ 0.8 × for a 100 ms one), so a non-negative
    per-kernel term forces one compromise scale that over-predicts small networks and under-predicts large
    ones.

    ``floor`` is the least a kernel costs in a real run (the executor's dispatch of one node). It is fitted when
    ``prices`` gives each network's kernels one by one; otherwise (sums only) it stays ``KERNEL_FLOOR_US`` and the
    term is linear in the sums. With the floor fitted, the profiler overhead may exceed the cheapest kernel's
    profiled time (the floor then prices the smallest kernels), up to ``OVERHEAD_BOUND`` times it; without it, it is
    bounded by ``cheapest_kernel_us``. This fit on the thirteenth session's AVX2 AMD profile's stored measurements
    (2026-12-03, its kernels re-enumerated, nothing re-timed): 62 → 69 % of its 100 validation networks within ±10 %,
    MAPE 11.1 → 9.0 %, networks under 1 ms +21 → +8 % median error (floor 1.3 µs, per-kernel −5.5 µs).

    The loss: log residuals, soft-L1 beyond ``NETWORK_FIT_F_SCALE``. Squared *relative* errors (the fit until
    2026-12-03) pull every prediction low by about the variance of the measured ÷ predicted ratio — a network
    measured 1.3× slow costs less than one predicted 1.3× slow — which on a noisy VM was a −7 % median bias on
    the profile's own validation (AVX2 AMD profile: 53 % within ±10 %, MAPE 11.6 %, median error −6.9 %; refitted
    in log space with soft-L1: 62 %, 11.1 %, −2.6 %); a log residual treats over and under alike, and soft-L1 keeps
    a network timed in one slow phase from moving the term for all. The linear solution is the starting point.

    Σ kernel µs is the *predicted* sum where a row has it (``predicted_kernel_us``: the regressors' prices of its
    kernels, what the coefficients multiply when the profile prices a new network), else the profiled sum. One
    scale and one per-kernel term for every kernel type: a variant with both per kernel group (pointwise,
    depthwise, spatial convs, elementwise, pooling, dense, data movement) fitted the 60 fitting networks better but
    validated worse on 100 unseen ones (MAPE 14.8 % against 12.5 %, worst 132 % against 80 %): the groups occur
    together in every cell, so their coefficients trade against each other.

    Args:
        networks: ``{"measured_ms", "n_kernels", "kernel_us"}`` per fitting network (``kernel_us``: Σ of its
            kernels' profiled times), optionally ``predicted_kernel_us``.
        cheapest_kernel_us: a low quantile of the profiled kernel times (the bound on the per-node overhead).
        per_run_us: the measured end-to-end time of an empty graph, the ceiling of ``per_run``. Without it the
            fit may trade a large ``per_run`` against a negative ``per_kernel`` (the fitting networks all have
            100+ kernels, so the two are nearly collinear), which is harmless there and 3× off for a
            15-kernel network.
        prices: per network (same order), the µs of each of its kernels (as the profile prices them): fits ``floor``.

    Returns:
        ``{"per_run_us", "per_kernel_us", "scale", "floor_us"}``.
    """
    from scipy.optimize import least_squares, lsq_linear

    from compactrs.cost.kernel_latency import KERNEL_FLOOR_US

    y = np.array([n["measured_ms"] * 1e3 for n in networks])
    x = np.array([[1.0, n["n_kernels"], n["predicted_kernel_us"] if "predicted_kernel_us" in n else n["kernel_us"]]
                  for n in networks])
    a, b = x / y[:, None], np.ones(len(y))
    # a weak pull of the scale towards 1 (the profiled kernels are the network's time), as strong as one network
    share = float(np.median(a[:, 2]))
    cheapest = max(float(cheapest_kernel_us), 0.0)
    lower = np.array([0.0, -cheapest, 1e-6])
    upper = np.array([np.inf if per_run_us is None else max(float(per_run_us), 1e-6), np.inf, np.inf])
    start = lsq_linear(np.vstack([a, [[0.0, 0.0, share]]]), np.concatenate([b, [share]]), bounds=(lower, upper)).x
    if prices is not None:
        if len(prices) != len(networks):
            raise ValueError(f"prices for {len(prices)} networks, {len(networks)} networks")
        kernel_prices = [np.asarray(p, dtype=float) for p in prices]
        lower = np.array([0.0, -OVERHEAD_BOUND * cheapest, 1e-6, KERNEL_FLOOR_US])
        upper = np.append(upper, FLOOR_MAX_US)
        start = np.append(start, KERNEL_FLOOR_US)

        def price(c: np.ndarray) -> np.ndarray:
            return c[0] + np.array([np.maximum(c[2] * p + c[1], c[3]).sum() for p in kernel_prices])
    else:
        def price(c: np.ndarray) -> np.ndarray:
            return x @ c
    inside = np.where(np.isfinite(upper), (upper - lower) * 1e-9, 1e-9)  # least_squares starts strictly inside
    start = np.minimum(np.maximum(start, lower + inside), np.where(np.isfinite(upper), upper - inside, np.inf))

    def residuals(c: np.ndarray) -> np.ndarray:
        predicted = np.maximum(price(c), 1e-3 * y)  # a coefficient set that prices a network at ≤ 0 is far off, not NaN
        return np.concatenate([np.log(predicted / y), [np.log(c[2])]])  # the last: the pull of the scale towards 1

    solution = least_squares(residuals, start, bounds=(lower, upper), loss="soft_l1", f_scale=NETWORK_FIT_F_SCALE).x
    return {"per_run_us": float(solution[0]), "per_kernel_us": float(solution[1]), "scale": float(solution[2]),
            "floor_us": float(solution[3]) if prices is not None else KERNEL_FLOOR_US}


def add_predicted_sums(fit_rows: list[dict], per_network: list, regressors: dict) -> list[np.ndarray]:
    """Give each fitting row its ``predicted_kernel_us``: Σ of its kernels as the regressors price them; returns
    those prices kernel by kernel, per network (what ``fit_network_term`` fits the kernel floor on)."""
    prices = []
    for row, (_, kernels) in zip(fit_rows, per_network):
        each = np.zeros(len(kernels))
        by_type: dict[str, list[int]] = {}
        for index, kernel in enumerate(kernels):
            by_type.setdefault(kernel["type"], []).append(index)
        for kind, indices in by_type.items():
            each[indices] = regressors[kind].predict([sample_row(kernels[i]) for i in indices])
        row["predicted_kernel_us"] = float(each.sum())
        prices.append(each)
    return prices


def cheapest_kernel_us(samples: dict, quantile: float = 10) -> float:
    """The ``quantile``-th percentile of every profiled kernel time in ``samples`` (µs; repeats counted)."""
    us = [t for data in samples.values() for t, n in zip(data["us"], data["counts"]) for _ in range(int(n))]
    return float(np.percentile(us, quantile)) if us else 0.0


def op_errors(regressors: dict, kernels_by_network: list[tuple[dict, list[dict]]]) -> dict[str, float]:
    """Leave-one-out relative error of the predicted edge time per op (which op to sample more)."""
    errors: dict[str, list[float]] = {}
    for spec, kernels in kernels_by_network:
        per_op: dict[str, list[float]] = {}
        for kernel in kernels:
            path = kernel["source"].split(".")
            if len(path) < 4 or path[0] != "cells" or path[2] != "edges":
                continue
            op = _edge_op(spec, int(path[1]), int(path[3]))
            predicted = regressors[kernel["type"]].predict([sample_row(kernel)], exclude_self=True)[0]
            pair = per_op.setdefault(op, [0.0, 0.0])
            pair[0] += predicted
            pair[1] += kernel["us"]
        for op, (predicted, measured) in per_op.items():
            errors.setdefault(op, []).append(abs(predicted - measured) / max(measured, 1e-3))
    return {op: float(np.mean(values)) for op, values in errors.items()}


def _edge_op(spec: dict, cell_index: int, edge: int) -> str:
    genotype = spec["genotype"]
    kinds = []
    for block, depth in enumerate(genotype["depths"]):
        kinds += (["reduce"] if block > 0 else []) + ["normal"] * int(depth)
    return genotype[kinds[cell_index]][edge][0]


def kernel_macs(kernels: list[dict]) -> int:
    """MACs of a network's convolutions and linear layers as onnxruntime runs them (its kernels)."""
    from compactrs.cost.kernels import MAC_OPS

    return int(sum(k["macs"] for k in kernels if k["op"] in MAC_OPS))


def kernel_samples(folder: Path, items: list[dict], records: list[dict]) -> tuple[dict, list]:
    """Aggregated kernel samples of ``items`` and, per network, ``(spec, kernels)``; sets each item's ``macs``."""
    per_network = [(item["network"], record_kernels(folder, record, item["file"])) for item, record in zip(items, records)]
    for item, (_, kernels) in zip(items, per_network):
        item["macs"] = kernel_macs(kernels)
    return aggregate_samples([k for _, ks in per_network for k in ks]), per_network


def network_rows(items: list[dict], timings: list[dict], per_network: list | None = None) -> list[dict]:
    """The end-to-end facts of each network (what the network term is fitted on and validation scores)."""
    rows = []
    for index, (item, record) in enumerate(zip(items, timings)):
        row = {"network": item["network"], "macs": item["macs"], "measured_ms": record["median_ms"],
               "round_ms": record["round_ms"], "p90_ms": record["p90_ms"]}
        if per_network is not None:
            kernels = per_network[index][1]
            row.update({"n_kernels": len(kernels), "kernel_us": float(sum(k["us"] for k in kernels))})
        rows.append(row)
    return rows


def fit_report(regressors: dict, samples: dict) -> dict:
    """Per kernel type: samples, leave-one-out MAPE (how well the type generalises to a new configuration) and
    the region of configurations it was measured over."""
    report = {}
    for kind, data in samples.items():
        rows, us = np.asarray(data["rows"]), np.asarray(data["us"])
        if len(us) >= 3:
            loo = regressors[kind].predict(rows, exclude_self=True)
            mape = float(np.mean(np.abs(loo - us) / np.maximum(us, 1e-3)) * 100)
        else:
            mape = None
        columns = {f: rows[:, i] for i, f in enumerate(SAMPLE_FIELDS)}
        report[kind] = {"configs": int(len(us)), "kernels": int(sum(data["counts"])), "loo_mape_pct": mape,
                        "region": {f: [int(columns[f].min()), int(columns[f].max())]
                                   for f in ("c_in", "c_out", "h_out", "k_h", "stride", "groups")}}
    return report


if __name__ == "__main__":  # an export worker (_export_in_workers): JOBS.json FOLDER
    import sys

    import torch

    torch.set_num_threads(1)
    for entry in json.loads(Path(sys.argv[1]).read_text()):
        _export_one(tuple(entry), Path(sys.argv[2]))
