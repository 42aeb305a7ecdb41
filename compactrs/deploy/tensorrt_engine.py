"""TensorRT 10 engine building and inference: build_engine.py, profile_runner.py and the host's runner share it.

``tensorrt`` is imported when an engine is built or run (``ImportError`` where it is missing), so this
module imports anywhere. Device memory goes through the CUDA runtime library via ctypes — the one CUDA
binding of compactrs — so no pycuda / cuda-python / torch is needed on the device.
"""
from __future__ import annotations

import ctypes
import ctypes.util
from pathlib import Path

import numpy as np

from .bundle import BundleError
from .runners import Runner


def _tensorrt():
    import tensorrt  # the device's TensorRT; ImportError elsewhere, which callers turn into an install hint

    return tensorrt


def calibration_batches(samples: np.ndarray, batch: int):
    """Fixed-size float32 batches for a TensorRT INT8 calibrator (the last, short batch is dropped)."""
    samples = np.ascontiguousarray(samples, dtype=np.float32)
    for start in range(0, len(samples) - batch + 1, batch):
        yield samples[start : start + batch]

_H2D, _D2H = 1, 2  # cudaMemcpyKind


class Cuda:
    """The few CUDA runtime calls inference needs (cudaMalloc / cudaMemcpy / streams), via ctypes."""

    _lib = None

    def __init__(self):
        if Cuda._lib is None:
            names = [ctypes.util.find_library("cudart"), "libcudart.so", "libcudart.so.13", "libcudart.so.12", "libcudart.so.11.0"]
            for name in filter(None, names):
                try:
                    Cuda._lib = ctypes.CDLL(name)
                    break
                except OSError:
                    continue
            else:
                raise BundleError("cannot load the CUDA runtime library (libcudart.so); install the CUDA runtime that TensorRT uses")
        self.lib = Cuda._lib

    def _check(self, status: int, what: str) -> None:
        if status != 0:
            raise BundleError(f"CUDA call {what} failed with error code {status}")

    def malloc(self, nbytes: int) -> int:
        ptr = ctypes.c_void_p()
        self._check(self.lib.cudaMalloc(ctypes.byref(ptr), ctypes.c_size_t(max(nbytes, 1))), "cudaMalloc")
        return int(ptr.value)

    def free(self, ptr: int) -> None:
        self.lib.cudaFree(ctypes.c_void_p(ptr))

    def to_device(self, ptr: int, array: np.ndarray) -> None:
        array = np.ascontiguousarray(array)
        self._check(self.lib.cudaMemcpy(ctypes.c_void_p(ptr), array.ctypes.data_as(ctypes.c_void_p), ctypes.c_size_t(array.nbytes), _H2D), "cudaMemcpy H2D")

    def to_host(self, array: np.ndarray, ptr: int) -> None:
        self._check(self.lib.cudaMemcpy(array.ctypes.data_as(ctypes.c_void_p), ctypes.c_void_p(ptr), ctypes.c_size_t(array.nbytes), _D2H), "cudaMemcpy D2H")

    def stream(self) -> int:
        handle = ctypes.c_void_p()
        self._check(self.lib.cudaStreamCreate(ctypes.byref(handle)), "cudaStreamCreate")
        return int(handle.value or 0)

    def synchronize(self, stream: int) -> None:
        self._check(self.lib.cudaStreamSynchronize(ctypes.c_void_p(stream)), "cudaStreamSynchronize")


def entropy_calibrator(samples: np.ndarray, batch: int, cache_path: Path):
    """An INT8 calibrator fed fixed-size batches of real (normalised) training samples; it caches its scales."""
    trt = _tensorrt()

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self):
            trt.IInt8EntropyCalibrator2.__init__(self)
            self.cuda = Cuda()
            self.batch = int(min(batch, len(samples)))
            self.batches = calibration_batches(samples, self.batch)
            self.cache_path = Path(cache_path)
            self.device = self.cuda.malloc(self.batch * int(np.prod(samples.shape[1:])) * 4)

        def get_batch_size(self) -> int:
            return self.batch

        def get_batch(self, names):
            chunk = next(self.batches, None)
            if chunk is None:
                return None
            self.cuda.to_device(self.device, chunk)
            return [self.device]

        def read_calibration_cache(self):
            return self.cache_path.read_bytes() if self.cache_path.is_file() else None

        def write_calibration_cache(self, cache) -> None:
            self.cache_path.write_bytes(bytes(cache))

    return EntropyCalibrator()


def build_engine(onnx_path: Path, plan_path: Path, precision: str, input_shape, max_batch: int = 64, opt_batch: int = 8,
                 calib_samples: np.ndarray | None = None, workspace_mb: int = 1024) -> dict:
    """Parse the ONNX file, build a serialized engine for ``precision`` (fp32 | fp16 | int8), write ``plan_path``.

    The optimisation profile lets only the batch axis vary (1..max_batch); FP32 builds clear TF32 so FP32
    means FP32. INT8 uses ``entropy_calibrator`` over ``calib_samples`` (real training samples).
    """
    trt = _tensorrt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 10: networks are always explicit-batch
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise BundleError(f"TensorRT's ONNX parser rejected {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mb << 20)
    if precision == "fp32":
        config.clear_flag(trt.BuilderFlag.TF32)
    elif precision == "fp16":
        config.set_flag(trt.BuilderFlag.FP16)
    elif precision == "int8":
        if calib_samples is None or not len(calib_samples):
            raise BundleError("an INT8 engine needs calibration samples (calibration.npy in the bundle); re-export with --trt --int8")
        config.set_flag(trt.BuilderFlag.INT8)
        config.set_flag(trt.BuilderFlag.FP16)  # layers INT8 cannot run fall back to FP16, not FP32
    else:
        raise BundleError(f"unknown precision '{precision}'; valid: fp32, fp16, int8")
    name = network.get_input(0).name
    sample = tuple(int(d) for d in input_shape[1:])
    profile = builder.create_optimization_profile()
    profile.set_shape(name, (1, *sample), (min(opt_batch, max_batch), *sample), (max_batch, *sample))
    config.add_optimization_profile(profile)
    if precision == "int8":
        calib_profile = builder.create_optimization_profile()
        batch = min(32, len(calib_samples))
        calib_profile.set_shape(name, (batch, *sample), (batch, *sample), (batch, *sample))
        config.set_calibration_profile(calib_profile)
        config.int8_calibrator = entropy_calibrator(calib_samples, batch, Path(plan_path).with_suffix(".calibration.cache"))
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise BundleError(f"TensorRT could not build a {precision} engine from {onnx_path} (see the TensorRT log above)")
    Path(plan_path).write_bytes(bytes(serialized))
    return {"precision": precision, "max_batch": max_batch, "opt_batch": opt_batch, "tensorrt": trt.__version__}


class TensorRTRunner(Runner):
    """Inference of a serialized engine (.plan) with the runner interface of ``runners.py``."""

    name = "tensorrt"
    cpu_bound = False

    def __init__(self, plan_path: str | Path, threads: int | None = None):
        self.plan_path = Path(plan_path)  # threads: accepted for the common signature; TensorRT runs on the GPU
        self.engine = None

    def activate(self) -> "TensorRTRunner":
        trt = self.trt = _tensorrt()
        if not self.plan_path.is_file():
            raise BundleError(f"no engine at {self.plan_path}; build it on this device with deploy/build_engine.py")
        self.cuda = Cuda()
        self.runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engine = self.runtime.deserialize_cuda_engine(self.plan_path.read_bytes())
        if self.engine is None:
            raise BundleError(f"cannot deserialize {self.plan_path}: engines are specific to the GPU and TensorRT version; rebuild it here")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.input_name = next(n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT)
        self.output_name = next(n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT)
        self.stream = self.cuda.stream()
        self.buffers: dict[str, tuple[int, int]] = {}
        return self

    def input_metadata(self) -> dict:
        trt = self.trt
        return {self.input_name: {"dtype": str(trt.nptype(self.engine.get_tensor_dtype(self.input_name))),
                                  "shape": list(self.engine.get_tensor_shape(self.input_name))}}

    def _buffer(self, name: str, nbytes: int) -> int:
        ptr, size = self.buffers.get(name, (0, 0))
        if size < nbytes:
            if ptr:
                self.cuda.free(ptr)
            ptr, size = self.cuda.malloc(nbytes), nbytes
            self.buffers[name] = (ptr, size)
        return ptr

    def _bind(self, x: np.ndarray) -> tuple[np.ndarray, int]:
        """Copy ``x`` to the GPU and point the engine at it; returns an empty host output array and its GPU pointer."""
        trt = self.trt
        x = np.ascontiguousarray(x, dtype=trt.nptype(self.engine.get_tensor_dtype(self.input_name)))
        self.context.set_input_shape(self.input_name, x.shape)
        out_shape = tuple(self.context.get_tensor_shape(self.output_name))
        out = np.empty(out_shape, dtype=trt.nptype(self.engine.get_tensor_dtype(self.output_name)))
        x_ptr, out_ptr = self._buffer(self.input_name, x.nbytes), self._buffer(self.output_name, out.nbytes)
        self.cuda.to_device(x_ptr, x)
        self.context.set_tensor_address(self.input_name, x_ptr)
        self.context.set_tensor_address(self.output_name, out_ptr)
        return out, out_ptr

    def _execute(self) -> None:
        if not self.context.execute_async_v3(self.stream):
            raise BundleError("TensorRT execute_async_v3 failed")
        self.cuda.synchronize(self.stream)

    def infer(self, x: np.ndarray) -> np.ndarray:
        out, out_ptr = self._bind(x)
        self._execute()
        self.cuda.to_host(out, out_ptr)
        return out.astype(np.float32)

    def prepared_call(self, x: np.ndarray):
        """A zero-argument callable executing the engine on ``x``, copied to the GPU once (what the profiler times)."""
        self._bind(x)
        return self._execute

    def deactivate(self) -> None:
        for ptr, _ in getattr(self, "buffers", {}).values():
            self.cuda.free(ptr)
        self.buffers, self.context, self.engine = {}, None, None
