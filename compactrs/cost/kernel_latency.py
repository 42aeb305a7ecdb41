"""The fusion-aware latency predictor: Σ predicted kernels of the optimised graph + a whole-network term.

A network is exported to ONNX and optimised by onnxruntime exactly as it will run (``compactrs.cost.kernels``);
every kernel of the optimised graph is priced by the regressor of its type (``_kernel_model``) and ::

    latency_ms = (per_run_us + Σ_k max(scale · predicted_us(k) + per_kernel_us, floor_us)) / 1000

where the network coefficients are fitted on whole networks measured end to end (they hold what per-node
profiling does not see: the cost of ``session.run`` itself, dispatch between kernels, and the profiler's own
share of each node's time — which makes ``per_kernel_us`` negative, see ``_kernel_build.fit_network_term``;
``floor_us``, the least a kernel costs in a real run, is fitted too since 2026-12-03 — older profiles have
none and use ``KERNEL_FLOOR_US``, which only keeps a kernel's price positive).

The search needs the same prediction split into the pieces it chooses between (``edge`` / ``cell_base`` /
``fixed``, compactrs.nas.costs): each piece is priced *in context* — the op inside a real cell, exported and
optimised, so that its fusion with neighbours is as in a network — by summing the kernels attributed to it
(by module path), so Σ p(op) · edge_ms(op, …) stays a differentiable weighted sum of numbers.

A profile records the runtime (``runtime.name``: onnxruntime or openvino) and precision (fp32 or int8) it
measured; every network it prices is enumerated the way *that* runtime runs it at that precision
(``compactrs.cost._runtime_kernels``): OpenVINO fuses differently from onnxruntime, and an INT8 graph
runs other kernels than its FP32 one, so a kernel list from another runtime would be priced by regressors
fitted on kernels that never ran it.
"""
from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

from compactrs.cost._kernel_model import KernelRegressor, sample_row
from compactrs.errors import ArtifactError, ConfigError

KERNEL_PROFILE_SCHEMA = "compactrs.latency-profile/2"
#: the least a kernel is priced at (µs), once the profiler's per-node overhead is taken off its prediction.
KERNEL_FLOOR_US = 0.1
NETWORK_FORMULA = ("ms = (per_run_us + Σ_kernels max(scale·predicted µs + per_kernel_us, floor_us)) / 1000, "
                   "fitted on the predicted kernel prices of the fitting networks; a negative per_kernel_us is the "
                   "profiler's own overhead per node, floor_us the least a kernel costs in a real run")


def network_ms(coefficients: dict, kernel_us, per_run: bool = True) -> float:
    """The network term applied to one network's kernel prices (µs, one per kernel): its predicted ms
    (``per_run``: with the once-per-inference cost)."""
    each = np.maximum(coefficients["scale"] * np.asarray(kernel_us, dtype=float) + coefficients["per_kernel_us"],
                      coefficients.get("floor_us", KERNEL_FLOOR_US))
    return (float(each.sum()) + (coefficients["per_run_us"] if per_run else 0.0)) / 1e3
#: kernel types that only move data, in the order a missing one borrows a sampled one's regressor
DATA_MOVEMENT = ("reorder", "transpose", "stridedslice", "slice", "split", "gather", "reshape", "concatenation", "concat")
REQUIRED = ("schema", "device", "runtime", "precision", "threads", "batch", "space", "kernels", "network")


class KernelProfile:
    """A kernel-level latency profile of one device + runtime + precision, and the predictor built on it."""

    def __init__(self, data: dict, source: str = "profile"):
        missing = [key for key in REQUIRED if key not in data]
        if data.get("schema") != KERNEL_PROFILE_SCHEMA or missing:
            raise ArtifactError(f"{source} is not a {KERNEL_PROFILE_SCHEMA} profile (schema {data.get('schema')!r}, "
                                f"missing {missing}); re-create it with 'compactrs profile --out {source}'")
        self.data = data
        self.source = source
        self.space: dict = data["space"]
        self.regressors = {kind: KernelRegressor.from_json(samples) for kind, samples in data["kernels"]["samples"].items()}
        self.coefficients: dict = dict(data["network"]["coefficients"])

    @property
    def runtime(self) -> str:
        """The runtime the profile measured (``onnxruntime`` or ``openvino``)."""
        runtime = self.data["runtime"]
        return runtime.get("name", "onnxruntime") if isinstance(runtime, dict) else str(runtime)

    @property
    def precision(self) -> str:
        return str(self.data["precision"])

    def check_target(self, runtime: str | None = None, precision: str | None = None) -> None:
        """ConfigError when a caller targets another runtime/precision than the profile measured;
        MissingDependency when the profile's runtime is not installed here (its predictions need it)."""
        from compactrs.cost._runtime_kernels import check_runtime

        for what, wanted, have in (("runtime", runtime, self.runtime), ("precision", precision, self.precision)):
            if wanted is not None and wanted != have:
                raise ConfigError(f"latency profile '{self.source}' measured {self.runtime} {self.precision}, not "
                                  f"{what} {wanted}; use a profile made with 'compactrs profile --runtime "
                                  f"{runtime or self.runtime} --precision {precision or self.precision}'")
        check_runtime(self.runtime, self.precision)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "KernelProfile":
        from compactrs.cost._schema import read_profile_json

        return cls(read_profile_json(path), str(path))

    def save(self, path: str | os.PathLike) -> Path:
        from compactrs._io import write_json

        self.data["network"]["coefficients"] = dict(self.coefficients)
        return write_json(path, self.data)

    @property
    def validation(self) -> dict | None:
        return self.data.get("validation")

    def validation_at(self, in_bands: int, input_size: int) -> dict | None:
        """The profile's own validation restricted to its networks of this input shape: how far a prediction for
        such a network is to be trusted, beside how far the machine agreed with itself timing them again.

        One number for the whole region hides where a profile is weak: the shipped AMD EPYC profile predicts its
        79 unseen 3- to 13-band networks 78–95 % within ±10 % but its 21 200-band 9×9 ones 24 % (MAPE 18 %;
        timed twice, the machine agreed with itself on 52 % of them, MAPE 17 %). None when the profile holds no
        validated network of that shape.
        """
        from compactrs.cost._fit import accuracy_by_input

        return accuracy_by_input((self.validation or {}).get("archs") or []).get(f"{in_bands}x{input_size}x{input_size}")

    def trust_line(self, in_bands: int, input_size: int) -> str:
        """One line for a search's log: how well this profile predicted unseen networks of this input shape."""
        at = self.validation_at(in_bands, input_size)
        if at is None:
            return (f"latency profile '{self.source}' holds no validated network of {in_bands}x{input_size}x{input_size} "
                    f"inputs: how close its predictions come for them is unmeasured ('compactrs profile validate')")
        line = (f"latency profile's own validation on {at['input']} inputs: {at['n']} unseen networks, "
                f"{at['within_10pct']:.0%} predicted within ±10 % (MAPE {at['mape_pct']:.1f} %, bias "
                f"{at['bias_pct']:+.1f} %)")
        floor = at.get("noise_floor")
        if floor:
            line += (f"; the machine timing them twice agreed {floor['within_10pct']:.0%} within ±10 % "
                     f"(MAPE {floor['mape_pct']:.1f} %)")
        return line + ": a landed network's measured latency can be expected about that close to its prediction"

    # -- coverage ----------------------------------------------------------------------------------
    def region(self) -> str:
        sp = self.space
        widths = sp["init_channels"]
        shapes = sp.get("inputs") or [[b, s] for b in sp["in_bands"] for s in sp["input_size"]]
        return (f"inputs (bands, side) {[tuple(p) for p in shapes]}, init_channels {min(widths)}–{max(widths)}, "
                f"ops {sp['ops']}, depths 1–{sp['max_depth']} over 1–{sp['blocks']} blocks, "
                f"1–{sp.get('nodes', 4)} nodes per cell, "
                f"stem_multiplier {sp['stem_multiplier']}, stems {self.stem_kinds}")

    @property
    def stem_kinds(self) -> list[str]:
        """Stem kinds the profile's networks had (a profile made before stem kinds: the conv stem only)."""
        return list(self.space.get("stem_kinds", ["conv"]))

    def check_stem(self, kind: str, in_bands: int | None = None, input_size: int | None = None,
                   channels: int | None = None) -> None:
        """Raise ConfigError naming the profile's region if it cannot price a ``kind`` stem.

        A kind the profile's networks had is covered. Another kind, given the input and width it would run at,
        is covered when every kernel the runtime runs for it is of a type the profile fitted, at a kernel
        size, stride and dilation its samples of that type had, with channels and side inside their range —
        what the kernel regressors price from measurement, not extrapolation (the pointwise stem's 1×1 conv is
        the cells' preprocessing kernel with more input channels)."""
        if kind in self.stem_kinds:
            return
        outside = "it never measured one" if in_bands is None else self._stem_outside(kind, int(in_bands), int(input_size),
                                                                                        int(channels))
        if outside is None:
            return
        raise ConfigError(f"latency profile '{self.source}' does not cover the '{kind}' stem ({outside}): it covers "
                          f"{self.region()}; re-profile with 'compactrs profile' (its networks draw the spectral and "
                          f"pointwise stems for inputs of >= 16 bands), or search with --stem conv")

    def _stem_outside(self, kind: str, in_bands: int, input_size: int, channels: int) -> str | None:
        """Why the kernels of a ``kind`` stem (``in_bands`` → ``channels`` at side ``input_size``) lie outside the
        sampled kernels, or None when every one lies inside."""
        key = (kind, in_bands, input_size, channels)
        cache = self.__dict__.setdefault("_stem_coverage", {})
        if key not in cache:
            from torch import nn

            from compactrs.cost._kernel_model import SAMPLE_FIELDS
            from compactrs.nn.stems import make_stem

            stem = nn.Sequential(make_stem({"kind": kind, "stride": 1}, in_bands, channels)).eval()
            kernels = [k for k in self.network_kernels(stem, (self.data["batch"], in_bands, input_size, input_size))
                       if k["op"] != "ReorderOutput"]
            column = {field: i for i, field in enumerate(SAMPLE_FIELDS)}
            problems = [f"kernel type {t}" for t in self.unknown_types(kernels)]
            for kernel in kernels:
                kind_of = self._regressor_type(kernel["type"])
                if kind_of not in self.regressors:
                    continue
                rows = self.regressors[kind_of].rows
                same = np.ones(len(rows), dtype=bool)
                for field in ("k_h", "k_w", "stride", "dilation"):
                    same &= rows[:, column[field]] == kernel[field]
                same &= (rows[:, column["groups"]] > 1) == (kernel["groups"] > 1)
                ranges = {field: (rows[same, column[field]].min(), rows[same, column[field]].max()) if same.any() else None
                          for field in ("c_in", "c_out", "h_out")}
                bad = [f"{field} {kernel[field]} (sampled {int(r[0])}–{int(r[1])})" if r else "its kernel size, stride or dilation (never sampled)"
                       for field, r in ranges.items() if r is None or not r[0] <= kernel[field] <= r[1]]
                if bad:
                    problems.append(f"{kind_of} kernel: {', '.join(dict.fromkeys(bad))}")
            problems = list(dict.fromkeys(problems))
            more = f"; and {len(problems) - 3} more kernels" if len(problems) > 3 else ""
            cache[key] = "; ".join(problems[:3]) + more if problems else None
        return cache[key]

    def check_covers(self, genotype: dict, in_bands: int, input_size: int, init_channels: int,
                     stem_multiplier: int = 1) -> None:
        """Raise ConfigError naming the profile's region if this network lies outside it."""
        sp = self.space
        problems = []
        if sp.get("inputs") and [in_bands, input_size] not in sp["inputs"]:
            problems.append(f"input {in_bands} bands × {input_size}²")
        elif in_bands not in sp["in_bands"] or input_size not in sp["input_size"]:
            problems.append(f"input {in_bands} bands × {input_size}²")
        if not min(sp["init_channels"]) <= init_channels <= max(sp["init_channels"]):
            problems.append(f"init_channels {init_channels}")
        if stem_multiplier != sp["stem_multiplier"]:
            problems.append(f"stem_multiplier {stem_multiplier}")
        kind = (genotype.get("stem") or {}).get("kind", "conv")
        if kind not in self.stem_kinds:
            outside = self._stem_outside(kind, in_bands, input_size, init_channels * stem_multiplier)
            if outside:
                problems.append(f"the '{kind}' stem ({outside})")
        ops = sorted({op for cell in ("normal", "reduce") for op, _ in genotype[cell]} - set(sp["ops"]))
        if ops:
            problems.append(f"ops {ops}")
        # Fewer blocks (a prefix of the profile's networks) and fewer nodes per cell (a subset of their edges)
        # run the same kernel types at channel counts and sides inside the region; more of either do not.
        if len(genotype["depths"]) > sp["blocks"] or max(genotype["depths"]) > sp["max_depth"]:
            problems.append(f"depths {genotype['depths']}")
        nodes = len(genotype["normal"]) // 2
        if nodes > int(sp.get("nodes", 4)):
            problems.append(f"cells of {nodes} nodes")
        if problems:
            raise ConfigError(f"latency profile '{self.source}' does not cover {', '.join(problems)}: it covers "
                              f"{self.region()}; re-profile with 'compactrs profile' options covering this network")

    # -- kernels and whole networks ----------------------------------------------------------------
    def kernel_us(self, kernels: list[dict]) -> np.ndarray:
        """Predicted µs of each kernel (its type's regressor); ConfigError on a type the profile never saw."""
        out = np.zeros(len(kernels))
        by_type: dict[str, list[int]] = {}
        for index, kernel in enumerate(kernels):
            by_type.setdefault(self._regressor_type(kernel["type"]), []).append(index)
        unknown = self.unknown_types(kernels)
        if unknown:
            raise ConfigError(f"latency profile '{self.source}' has no kernel of type {unknown} (it measured "
                              f"{sorted(self.regressors)}, over {self.region()}); re-profile with the ops that "
                              f"produce them")
        for kind, indices in by_type.items():
            out[indices] = self.regressors[kind].predict([sample_row(kernels[i]) for i in indices])
        return out

    def unknown_types(self, kernels: list[dict]) -> list[str]:
        """The kernel types among ``kernels`` that no regressor of this profile (nor a layout or data-movement
        twin) can price: the runtime produced them, the profile's fitting networks never did."""
        return sorted({self._regressor_type(k["type"]) for k in kernels} - set(self.regressors))

    def _regressor_type(self, kind: str) -> str:
        """``kind``, or its layout twin (``nchwc.maxpool`` ↔ ``maxpool``) when only that was sampled: whether
        onnxruntime picks the NCHWc kernel depends on channel counts, the work does not."""
        if kind in self.regressors:
            return kind
        twin = kind[len("nchwc."):] if kind.startswith("nchwc.") else f"nchwc.{kind}"
        if twin in self.regressors:
            return twin
        return self._data_movement_twin(kind) or kind

    def _data_movement_twin(self, kind: str) -> str | None:
        """A sampled data-movement type of the same runtime for an unsampled one (a slice priced as a reorder):
        such kernels only copy their bytes, and whether a runtime runs a small slice or copy as its own node
        can change between compilations of the same network (seen with OpenVINO's StridedSlice)."""
        prefix, _, base = kind.rpartition(".")
        if base not in DATA_MOVEMENT:
            return None
        for other in DATA_MOVEMENT:
            candidate = f"{prefix}.{other}" if prefix else other
            if candidate in self.regressors:
                return candidate
        return None

    def kernels_ms(self, kernels: list[dict], per_run: bool = True) -> float:
        """Predicted ms of a set of kernels (``per_run``: plus the once-per-inference cost)."""
        return network_ms(self.coefficients, self.kernel_us(kernels), per_run)

    def network_kernels(self, model, input_shape: Sequence[int]) -> list[dict]:
        """The kernels the profile's runtime runs for ``model`` here at its precision (one profiled run:
        configurations, not timings)."""
        if self.runtime == "onnxruntime" and self.precision == "fp32":
            from compactrs.cost.kernels import network_kernels

            return network_kernels(model, input_shape, threads=self.data["threads"], warmup=0, runs=1)
        import tempfile

        from compactrs.runtime import export_onnx

        with tempfile.TemporaryDirectory(prefix="compactrs-kernels-") as tmp:
            path = export_onnx(model, Path(tmp) / "model.onnx", tuple(input_shape), dynamic_batch=False)
            return self.onnx_kernels(path, input_shape)

    def onnx_kernels(self, path: str | os.PathLike, input_shape: Sequence[int]) -> list[dict]:
        """The kernels the profile's runtime runs here for a float .onnx graph (static input shape
        ``input_shape``), quantised first for an INT8 profile."""
        if self.runtime == "onnxruntime" and self.precision == "fp32":
            from compactrs.cost.kernels import graph_kernels

            return graph_kernels(path, input_shape, threads=self.data["threads"], warmup=0, runs=1)
        from compactrs.cost import _runtime_kernels

        return _runtime_kernels.graph_kernels(path, input_shape, self.runtime, self.precision,
                                              threads=self.data["threads"], warmup=0, runs=1)

    def predict_onnx(self, path: str | os.PathLike, input_shape: Sequence[int]) -> float:
        """Predicted ms of an .onnx graph (static input shape ``input_shape``)."""
        return self.kernels_ms(self.onnx_kernels(path, input_shape))

    def predict_module(self, model, input_shape: Sequence[int]) -> float:
        """Predicted ms of any torch module on an input of ``input_shape`` (batch included)."""
        return self.kernels_ms(self.network_kernels(model, input_shape))

    def predict_genotype(self, genotype: dict, in_bands: int, input_size: int, num_classes: int,
                         init_channels: int = 16, stem_multiplier: int = 1) -> float:
        """Predicted ms of the CellNet of ``genotype``; ConfigError if it lies outside the profile's region."""
        from compactrs.nn.cells import validate_genotype

        genotype = validate_genotype(genotype)
        self.check_covers(genotype, in_bands, input_size, init_channels, stem_multiplier)
        return self._predict_spec(_spec_json(genotype, in_bands, input_size, num_classes, init_channels,
                                             stem_multiplier))

    @lru_cache(maxsize=4096)
    def _predict_spec(self, spec_json: str) -> float:
        return self.kernels_ms(self._spec_kernels(spec_json))

    @lru_cache(maxsize=256)
    def _spec_kernels(self, spec_json: str) -> list[dict]:
        """The kernels of one network (by its spec), computed once: an export + an optimised session is most of
        a prediction's cost, and the search asks for the same network again (whole, then split in pieces).
        Callers must not modify the returned list."""
        from compactrs.cost._networks import network_input_shape, network_module

        spec = json.loads(spec_json)
        return self.network_kernels(network_module(spec), network_input_shape(spec, self.data["batch"]))

    def genotype_pieces(self, genotype: dict, in_bands: int, input_size: int, num_classes: int,
                        init_channels: int = 16, stem_multiplier: int = 1) -> dict:
        """The whole-graph prediction of a CellNet split by where its kernels come from (ms).

        Returns ``{"edges": ms, "cells": ms, "fixed": ms, "total": ms}``: kernels of cell edges (with the
        cells' node sums and concatenations), the cells' preprocessing, stem + head + the per-run cost.
        """
        from compactrs.nn.cells import validate_genotype

        kernels = self._spec_kernels(_spec_json(validate_genotype(genotype), in_bands, input_size, num_classes,
                                                init_channels, stem_multiplier))
        parts = {"edges": [], "cells": [], "fixed": []}
        for kernel in kernels:
            path = kernel["source"].split(".")
            piece = piece_of(kernel["source"], ".".join(path[:2])) if path[0] == "cells" and len(path) > 1 else None
            parts["fixed" if piece is None else "edges" if piece == "edges" else "cells"].append(kernel)
        out = {name: self.kernels_ms(ks, per_run=False) for name, ks in parts.items()}
        out["fixed"] += self.coefficients["per_run_us"] / 1e3
        out["total"] = sum(out.values())
        return out

    # -- the search's form (compactrs.nas.costs.LatencyCost) -----------------------------------------
    def edge_ms(self, op: str, channels: int, size: int, stride: int, nodes: int | None = None) -> float:
        """Predicted ms of candidate ``op`` on one cell edge (input ``size``², ``stride``), in a real cell of
        ``nodes`` nodes (default: the profile's; a search with fewer nodes prices its edges in its own cells)."""
        if nodes is not None and not 1 <= int(nodes) <= int(self.space.get("nodes", 4)):
            raise ConfigError(f"latency profile '{self.source}' does not cover cells of {nodes} nodes: it covers "
                              f"{self.region()}")
        return _context_edge(self, op, int(channels), int(size), int(stride), None if nodes is None else int(nodes))

    def cell_base_ms(self, c_prev_prev: int, c_prev: int, channels: int, size: int, reduction: bool,
                     reduction_prev: bool, reads=(0, 1)) -> float:
        """Op-independent kernels of one cell (``size`` = its input side): its two preprocessing convolutions."""
        return _context_cell_base(self, int(c_prev_prev), int(c_prev), int(channels), int(size), bool(reduction),
                                  bool(reduction_prev))

    def preprocess_parts(self, c_prev_prev: int, c_prev: int, channels: int, size: int,
                         reduction_prev: bool) -> tuple[float, float]:
        """Predicted ms of a cell's two preprocessing convolutions (each dead when no edge reads its input)."""
        return _context_preprocess(self, int(c_prev_prev), int(c_prev), int(channels), int(size), bool(reduction_prev))

    def fixed_ms(self, in_bands: int, input_size: int, stem_channels: int, final_channels: int, num_classes: int,
                 stem_kind: str = "conv", blocks: int | None = None) -> float:
        """Stem (stride 1, of ``stem_kind``) + head (ReLU, pool, linear) + the per-run cost; the head at the side
        ``blocks`` blocks leave (default: the profile's networks')."""
        if stem_kind != "conv":
            self.check_stem(stem_kind, in_bands, input_size, stem_channels)
        if blocks is not None and not 1 <= int(blocks) <= int(self.space["blocks"]):
            raise ConfigError(f"latency profile '{self.source}' does not cover networks of {blocks} blocks: it covers "
                              f"{self.region()}")
        return _context_fixed(self, int(in_bands), int(input_size), int(stem_channels), int(final_channels),
                              int(num_classes), stem_kind, None if blocks is None else int(blocks))

    def __hash__(self) -> int:
        return id(self)


def _spec_json(genotype: dict, in_bands: int, input_size: int, num_classes: int, init_channels: int,
               stem_multiplier: int) -> str:
    """The cache key of one network: its spec as canonical JSON (``compactrs.cost._networks`` reads it)."""
    return json.dumps({"genotype": genotype, "in_bands": int(in_bands), "input_size": int(input_size),
                       "num_classes": int(num_classes), "init_channels": int(init_channels),
                       "stem_multiplier": int(stem_multiplier)}, sort_keys=True)


def load_kernel_profile(path: str | os.PathLike) -> KernelProfile:
    return KernelProfile.load(path)


from compactrs.cost._contexts import (  # noqa: E402
    _context_cell_base, _context_edge, _context_fixed, _context_preprocess, piece_of)
