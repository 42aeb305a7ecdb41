"""Layer 1: running models — ONNX lowering, the runners (torch, onnxruntime, tensorrt, ...), timing.

Everything that runs or times a model goes through here, so there is one implementation of each:

* ``export_onnx`` / ``check_onnx`` / ``onnx_summary`` / ``simplify_onnx``: PyTorch → ONNX (``runtime/onnx.py``);
* runners with one interface (activate / infer / infer_batched / deactivate / input_metadata / timing):
  ``TorchRunner`` here, the torch-free ones (``OnnxRuntimeRunner``, TensorRT, any runtime registered in
  ``RUNTIMES``) in ``compactrs.deploy.runners``; ``make_runner(runtime, path)`` / ``runner_for_file(path)``;
* ``onnxruntime_session``: the one place onnxruntime session options are set;
* timing: ``TimingConfig``, ``time_samples``, ``summarise``, ``spread``, ``time_callable``, ``time_interleaved``
  (``compactrs.deploy.timing``) and ``watch_machine`` (contention detection, ``compactrs.deploy.machine``);
* ``measure_latency``: the one "latency of this model" helper, with one error policy (``runtime/latency.py``).

Nothing here imports a layer above (data, models, cost, training, ...); the torch-free half lives in
``compactrs.deploy`` so that bundles can carry it to devices without torch.
"""
from compactrs.deploy.machine import describe_machine, physical_cores, watch_machine
from compactrs.deploy.runners import RUNTIMES, OnnxRuntimeRunner, Runner, RuntimeEntry, onnxruntime_session, register_runtime
from compactrs.deploy.timing import CLOCKS, NOISY_SPREAD, STATISTIC, TimingConfig, spread, summarise, time_callable, time_interleaved, time_samples
from compactrs.runtime.latency import describe_latency, latency_key, measure_latency, speedup
from compactrs.runtime.onnx import DEFAULT_OPSET, check_onnx, export_onnx, onnx_summary, simplify_onnx
from compactrs.runtime.runners import make_runner, runner_for_file
from compactrs.runtime.torch_runner import TorchRunner

__all__ = ["CLOCKS", "DEFAULT_OPSET", "NOISY_SPREAD", "STATISTIC", "RUNTIMES", "OnnxRuntimeRunner", "Runner", "RuntimeEntry", "TimingConfig", "TorchRunner",
           "check_onnx", "describe_latency", "describe_machine", "export_onnx", "latency_key", "make_runner", "measure_latency", "onnx_summary",
           "onnxruntime_session", "physical_cores", "register_runtime", "runner_for_file", "simplify_onnx", "speedup", "spread",
           "summarise", "time_callable", "time_interleaved", "time_samples", "watch_machine"]
