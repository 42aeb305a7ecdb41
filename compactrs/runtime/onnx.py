"""PyTorch → ONNX lowering with a dynamic batch axis (the one export call every stage uses), check and simplify."""
from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from compactrs._io import atomic_path

INPUT_NAME = "x"
OUTPUT_NAME = "logits"
DEFAULT_OPSET = 17


def export_onnx(model: nn.Module, path: str | os.PathLike, input_shape: Sequence[int], opset: int = DEFAULT_OPSET,
                dynamic_batch: bool = True, exporter: str = "torchscript") -> Path:
    """Export ``model`` (eval mode) to a self-contained .onnx file with input ``x`` and output ``logits``.

    ``exporter="torchscript"`` (default) uses torch's TorchScript exporter: 0.5–1 s per model, honours
    ``opset`` and a dynamic batch axis; ``"dynamo"`` uses torch.export (4–10 s, opset ≥ 18). Both match
    PyTorch to ~1e-7 on every op of the search space (FINDINGS.md). The file is written atomically.
    """
    model = model.eval()
    example = torch.zeros(*input_shape)
    with atomic_path(path) as tmp, torch.no_grad(), warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        logging.getLogger("torch.onnx").setLevel(logging.ERROR)
        if exporter == "dynamo":
            dynamic = {INPUT_NAME: {0: torch.export.Dim("batch", min=1, max=4096)}} if dynamic_batch else None
            torch.onnx.export(model, (example,), str(tmp), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                              dynamo=True, dynamic_shapes=dynamic, external_data=False, opset_version=max(opset, 18))
        elif exporter == "torchscript":
            axes = {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}} if dynamic_batch else None
            torch.onnx.export(model, (example,), str(tmp), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                              dynamo=False, dynamic_axes=axes, opset_version=opset, do_constant_folding=True)
        else:
            raise ValueError(f"unknown exporter '{exporter}'; valid: torchscript, dynamo")
    return Path(path)


def check_onnx(path: str | os.PathLike) -> dict:
    """Run onnx.checker (full check, with shape inference) and summarise the graph's interface.

    Returns ``{"opset", "inputs", "outputs", "nodes", "op_types"}`` where inputs/outputs map a name to
    ``{"dtype", "shape"}`` (a dynamic dim is its symbolic name).

    Raises:
        ArtifactError: the file is not a valid ONNX model.
    """
    import onnx

    from compactrs.errors import ArtifactError

    try:
        onnx.checker.check_model(str(path), full_check=True)
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # onnx raises ValidationError / DecodeError / OSError
        raise ArtifactError(f"'{path}' does not pass onnx.checker ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); re-export it") from exc
    return onnx_summary(model)


def onnx_summary(model) -> dict:
    """Opset, named inputs / outputs (dtype, shape with symbolic dims as strings), node and op-type counts."""
    import onnx

    def describe(values) -> dict:
        out = {}
        for value in values:
            tensor = value.type.tensor_type
            dims = [d.dim_param or (d.dim_value if d.HasField("dim_value") else None) for d in tensor.shape.dim]
            out[value.name] = {"dtype": onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type).name, "shape": dims}
        return out

    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    op_types: dict[str, int] = {}
    for node in model.graph.node:
        op_types[node.op_type] = op_types.get(node.op_type, 0) + 1
    return {"opset": opset, "inputs": describe(model.graph.input), "outputs": describe(model.graph.output),
            "nodes": len(model.graph.node), "op_types": dict(sorted(op_types.items()))}


def simplify_onnx(src: str | os.PathLike, dst: str | os.PathLike) -> dict:
    """Simplify an ONNX graph with onnxslim (constant folding, dead-node and redundant-op removal) into ``dst``.

    The caller must verify the result numerically (``compactrs.exporter.validate``) before trusting it.
    Returns ``{"nodes_before", "nodes_after", "tool"}``.

    Raises:
        MissingDependency: onnxslim is not installed.
    """
    import onnx

    from compactrs.errors import require

    onnxslim = require("onnxslim", "graph simplification (--simplify)", "pip install 'compactrs[simplify]' or pass --no-simplify")
    before = onnx.load(str(src))
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        slim = onnxslim.slim(before)
    with atomic_path(dst) as tmp:
        onnx.save(slim, str(tmp))
    return {"nodes_before": len(before.graph.node), "nodes_after": len(slim.graph.node), "tool": f"onnxslim {getattr(onnxslim, '__version__', '?')}"}
