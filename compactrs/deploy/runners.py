"""One runner interface for every runtime (Polygraphy style), the onnxruntime runner and the runtime registry.

A runner loads one model file and runs float32 numpy batches: ``with runner: runner.infer(x)``. The
interface: ``activate`` / ``deactivate`` (also as a context manager), ``input_metadata``, ``infer``,
``infer_batched``, ``threads_used`` and ``timing`` (the one timing loop of ``timing.py``). Runtime packages
are imported only when a runner is activated, so this module imports with numpy alone.

Adding a runtime (e.g. OpenVINO) = one module with a ``Runner`` subclass + one ``register_runtime`` entry
below: name, the Python module it needs, an install hint, the model file suffixes and default bundle file
it runs, the precisions it offers, and ``"module:Class"`` of its runner (imported lazily).
"""
from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .bundle import BundleError
from .machine import physical_cores
from .timing import TimingConfig, time_callable


class Runner:
    """Base class: ``with runner: runner.infer(x)``; subclasses implement activate / infer / input_metadata."""

    name = "runner"
    #: False where inference waits on an accelerator (the host CPU idles, so CPU-per-wall says nothing).
    cpu_bound = True

    def activate(self) -> "Runner":
        return self

    def deactivate(self) -> None:
        pass

    def input_metadata(self) -> dict:
        """``{input_name: {"dtype": str, "shape": [None | int, ...]}}`` (None = dynamic)."""
        raise NotImplementedError

    def infer(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def threads_used(self) -> int | None:
        """The intra-op thread count this runner really runs with (the runtime's default resolved), if it has one."""
        return None

    def infer_batched(self, x: np.ndarray, batch: int = 32) -> np.ndarray:
        return np.concatenate([self.infer(x[i : i + batch]) for i in range(0, len(x), batch)])

    def timing(self, x: np.ndarray, config: TimingConfig | None = None) -> dict:
        """Latency of ``infer(x)`` on an active runner: the statistics, conditions, runtime, batch and threads."""
        result = time_callable(lambda: self.infer(x), config, cpu_bound=self.cpu_bound)
        return {"runtime": self.name, "batch": int(len(x)), "threads": self.threads_used(), **result}

    def __enter__(self):
        return self.activate()

    def __exit__(self, *exc) -> None:
        self.deactivate()


#: execution providers in preference order for ``providers="auto"`` (the device scripts): the GPU where onnxruntime has it
AUTO_PROVIDERS = ("CUDAExecutionProvider", "CPUExecutionProvider")


def onnxruntime_session(path: str | os.PathLike, threads: int | None = None, providers: list[str] | str | None = None,
                        optimized_model_path: str | os.PathLike | None = None, enable_profiling: bool = False,
                        profile_prefix: str | None = None):
    """The one place compactrs configures onnxruntime: every session of the host and the device comes from here.

    Args:
        threads: intra-op threads (None = onnxruntime's default, one per physical core); inter-op is 1.
        providers: execution providers in preference order; None = CPU only (the host: parity against PyTorch on
            the CPU), "auto" = ``AUTO_PROVIDERS`` that this onnxruntime build has (the device scripts).
        optimized_model_path: also save the graph as optimised for this machine (to see fused kernels).
        enable_profiling: write onnxruntime's per-node profile (``session.end_profiling()`` returns its path).
        profile_prefix: path prefix of that profile file (default: onnxruntime's, in the working directory).
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = int(threads)
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    if optimized_model_path is not None:
        options.optimized_model_filepath = str(optimized_model_path)
    options.enable_profiling = bool(enable_profiling)
    if enable_profiling and profile_prefix:
        options.profile_file_prefix = str(profile_prefix)
    if providers == "auto":
        providers = [p for p in AUTO_PROVIDERS if p in ort.get_available_providers()]
    return ort.InferenceSession(str(path), sess_options=options, providers=providers or ["CPUExecutionProvider"])


class OnnxRuntimeRunner(Runner):
    """onnxruntime inference of an .onnx file."""

    name = "onnxruntime"

    def __init__(self, path: str | os.PathLike, threads: int | None = None, providers: list[str] | str | None = None):
        self.path, self.threads, self.providers = Path(path), threads, providers
        self.session = None

    def activate(self) -> "OnnxRuntimeRunner":
        if not self.path.is_file():
            raise BundleError(f"no ONNX model at '{self.path}'; pass an .onnx file written by 'compactrs export'")
        self.session = onnxruntime_session(self.path, self.threads, self.providers)
        self.input_name = self.session.get_inputs()[0].name
        return self

    def deactivate(self) -> None:
        self.session = None

    def threads_used(self) -> int:
        return int(self.threads) if self.threads else physical_cores()

    def input_metadata(self) -> dict:
        meta = self.session.get_inputs()[0]
        return {meta.name: {"dtype": meta.type, "shape": [d if isinstance(d, int) else None for d in meta.shape]}}

    def infer(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: np.ascontiguousarray(x, dtype=np.float32)})[0].astype(np.float32, copy=False)

    def prepared_call(self, x: np.ndarray):
        """A zero-argument callable running ``x`` (already converted): what the profiler times."""
        feed = {self.input_name: np.ascontiguousarray(x, dtype=np.float32)}
        return lambda: self.session.run(None, feed)


# --- the registry of runtimes ------------------------------------------------------------------------------

@dataclass(frozen=True)
class RuntimeEntry:
    """What compactrs needs to know to run models with one runtime."""

    name: str                   # as in --runtime, manifests and reports
    module: str                 # the Python package that must import, e.g. "onnxruntime"
    install_hint: str           # how to get it, shown when it is missing
    suffixes: tuple[str, ...]   # model files it runs
    default_file: str           # the bundle file it runs by default
    precisions: tuple[str, ...]
    runner: str                 # "module:Class" inside this package, imported when first used
    cpu_bound: bool = True
    takes_precision: bool = False  # the runner compiles a file for a precision (``precision=`` of a bundle entry)
    device_options: tuple = ()  # (name, value) pairs the device scripts pass to the runner (e.g. the GPU provider)

    def runner_class(self):
        module, _, cls = self.runner.partition(":")
        return getattr(importlib.import_module(f".{module}", __package__), cls)


RUNTIMES: dict[str, RuntimeEntry] = {}


def register_runtime(entry: RuntimeEntry) -> RuntimeEntry:
    RUNTIMES[entry.name] = entry
    return entry


register_runtime(RuntimeEntry("onnxruntime", "onnxruntime", "pip install onnxruntime (onnxruntime-gpu on CUDA devices)",
                              (".onnx",), "model.onnx", ("fp32", "fp16", "int8"), "runners:OnnxRuntimeRunner",
                              device_options=(("providers", "auto"),)))
register_runtime(RuntimeEntry("tensorrt", "tensorrt", "install TensorRT on the device (JetPack ships it) or pip install tensorrt",
                              (".plan", ".engine"), "model.plan", ("fp32", "fp16", "int8"), "tensorrt_engine:TensorRTRunner",
                              cpu_bound=False))
register_runtime(RuntimeEntry("openvino", "openvino", "pip install 'compactrs[openvino]' (on the device: pip install openvino)",
                              (".xml",), "model.xml", ("fp32", "bf16", "int8"), "openvino_runner:OpenVinoRunner",
                              takes_precision=True))


def runtime_entry(name: str) -> RuntimeEntry:
    if name not in RUNTIMES:
        raise BundleError(f"unknown runtime '{name}'; valid: {', '.join(RUNTIMES)}")
    return RUNTIMES[name]


def runtime_for_file(path: str | os.PathLike) -> RuntimeEntry:
    """The runtime that runs a model file, chosen by its suffix."""
    suffix = Path(path).suffix.lower()
    for entry in RUNTIMES.values():
        if suffix in entry.suffixes:
            return entry
    known = ", ".join(s for e in RUNTIMES.values() for s in e.suffixes)
    raise BundleError(f"'{path}' has no model suffix compactrs runs ({known}); pass a file written by 'compactrs export'")


def make_runner(runtime: str, path: str | os.PathLike, threads: int | None = None, **options) -> Runner:
    """A runner of ``runtime`` over the model file ``path`` (not yet activated).

    Raises:
        BundleError: an unknown runtime name.
        ImportError: the runtime's package is not importable here (the caller adds ``install_hint``).
    """
    entry = runtime_entry(runtime)
    cls = entry.runner_class()
    return cls(path, threads=threads, **options)


def bundle_precision(manifest: dict, runtime: str, model: str | None, precision: str | None = None) -> str | None:
    """The precision to run a bundle's model in: ``precision`` if the manifest offers it for that file, else the
    file's first manifest entry (``model.xml`` is listed as fp32, and as bf16 when exported with --bf16).

    Raises:
        BundleError: ``precision`` was asked for but the bundle does not offer it for that file.
    """
    model = model or runtime_entry(runtime).default_file
    offered = [e["precision"] for e in manifest.get("models", []) if e.get("runtime") == runtime and e.get("file") == model]
    if precision is None:
        return offered[0] if offered else None
    if precision not in offered:
        raise BundleError(f"the bundle offers {model} [{runtime}] in {offered or 'no precision'}, not {precision}; "
                          f"pass one of those (re-export with --bf16 / --int8 for more)")
    return precision


def bundle_runner(bundle: Path, runtime: str, model: str | None = None, threads: int | None = None,
                  precision: str | None = None) -> Runner:
    """The device scripts' runner for ``runtime`` over a bundle's model file (default: the runtime's default file).

    ``precision`` (a manifest entry's) reaches runtimes that compile one file for several precisions
    (OpenVINO: ``model.xml`` as fp32, or as bf16 when the bundle offers that).
    """
    entry = runtime_entry(runtime)
    options = dict(entry.device_options)
    if entry.takes_precision and precision:
        options["precision"] = precision
    return make_runner(runtime, Path(bundle) / (model or entry.default_file), threads, **options)
