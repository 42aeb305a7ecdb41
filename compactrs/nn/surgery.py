"""Physical channel removal: replay a prune plan on a freshly built network (no tracing, no torch-pruning).

A prune plan (``prune_plan.json``; made by ``compactrs.prune``) lists, per layer, the original weight
shape and the kept channel indices::

    {"format": "compactrs.prune_plan/1",
     "layers": {"layer1.0.conv1": {"type": "conv", "weight_shape": [64, 64, 3, 3], "out": [0, 3, ...], "in": null},
                "layer1.0.bn1":   {"type": "bn", "num_features": 64, "keep": [0, 3, ...]},
                "features.0":     {"type": "depthwise", "weight_shape": [32, 1, 3, 3], "keep": [...]},
                "fc":             {"type": "linear", "weight_shape": [10, 512], "in": [...]},
                "blocks.0.mixer": {"type": "width", "weight_shape": [128], "keep": [...]}},
     ...}

``null`` / absent means "all channels". Slicing keeps the selected rows of every tensor (weights, biases,
BN statistics), so the result is a plain dense network whose state_dict loads into
``build_model(arch_with_plan)`` — this is how a pruned model.pt is rebuilt without pickling.
"""
from __future__ import annotations

import torch
from torch import nn

from compactrs.errors import ArtifactError

PLAN_FORMAT = "compactrs.prune_plan/1"


def apply_prune_plan(model: nn.Module, plan: dict) -> nn.Module:
    """Slice ``model``'s layers in place to the channels ``plan`` keeps; returns ``model``.

    Raises:
        ArtifactError: the plan is malformed, names a layer the model lacks, or was made for other shapes.
    """
    if not isinstance(plan, dict) or plan.get("format") != PLAN_FORMAT or not isinstance(plan.get("layers"), dict):
        raise ArtifactError(f"not a prune plan (expected a JSON object with format '{PLAN_FORMAT}' and 'layers'); "
                            "re-create it with 'compactrs prune'")
    modules = dict(model.named_modules())
    for name, entry in plan["layers"].items():
        module = modules.get(name)
        if module is None:
            raise ArtifactError(f"prune plan names layer '{name}', which {type(model).__name__} does not have; "
                                "the plan belongs to another architecture")
        kind = entry.get("type")
        with torch.no_grad():
            if kind in ("conv", "depthwise") and isinstance(module, nn.Conv2d):
                _slice_conv(name, module, entry, depthwise=kind == "depthwise")
            elif kind == "bn" and isinstance(module, nn.BatchNorm2d):
                _slice_bn(name, module, entry)
            elif kind == "linear" and isinstance(module, nn.Linear):
                _slice_linear(name, module, entry)
            elif kind == "width" and hasattr(module, "keep_width"):
                _slice_width(name, module, entry)
            else:
                raise ArtifactError(f"prune plan says layer '{name}' is a '{kind}' but the model has a "
                                    f"{type(module).__name__} there; the plan belongs to another architecture")
    return model


def _indices(name: str, entry: dict, key: str, size: int) -> torch.Tensor | None:
    keep = entry.get(key)
    if keep is None:
        return None
    if (not isinstance(keep, list) or not keep or any(not isinstance(i, int) for i in keep)
            or sorted(set(keep)) != keep or keep[0] < 0 or keep[-1] >= size):
        raise ArtifactError(f"prune plan entry '{name}.{key}' must be sorted unique channel indices in 0..{size - 1}, "
                            f"got {str(keep)[:80]}")
    return torch.tensor(keep, dtype=torch.long)


def _check_shape(name: str, entry: dict, actual) -> None:
    expected = entry.get("weight_shape") if "weight_shape" in entry else [entry.get("num_features")]
    if expected not in (None, [None]) and list(expected) != list(actual):
        raise ArtifactError(f"prune plan expects layer '{name}' of shape {expected}, the model has {list(actual)}; "
                            "the plan was made for another model configuration (bands, classes, width)")


def _param(tensor: torch.Tensor, like: nn.Parameter) -> nn.Parameter:
    return nn.Parameter(tensor.contiguous().clone(), requires_grad=like.requires_grad)


def _slice_conv(name: str, conv: nn.Conv2d, entry: dict, depthwise: bool) -> None:
    _check_shape(name, entry, conv.weight.shape)
    if depthwise:
        if not conv.groups == conv.in_channels == conv.out_channels:
            raise ArtifactError(f"prune plan says '{name}' is depthwise but it has groups={conv.groups}")
        keep = _indices(name, entry, "keep", conv.out_channels)
        if keep is None:
            return
        conv.weight = _param(conv.weight[keep], conv.weight)
        if conv.bias is not None:
            conv.bias = _param(conv.bias[keep], conv.bias)
        conv.in_channels = conv.out_channels = conv.groups = len(keep)
        return
    if conv.groups != 1:
        raise ArtifactError(f"prune plan slices '{name}', a grouped conv (groups={conv.groups}); only regular and "
                            "depthwise convs can be pruned")
    out = _indices(name, entry, "out", conv.out_channels)
    keep_in = _indices(name, entry, "in", conv.in_channels)
    weight = conv.weight
    if out is not None:
        weight = weight[out]
        if conv.bias is not None:
            conv.bias = _param(conv.bias[out], conv.bias)
        conv.out_channels = len(out)
    if keep_in is not None:
        weight = weight[:, keep_in]
        conv.in_channels = len(keep_in)
    conv.weight = _param(weight, conv.weight)


def _slice_bn(name: str, bn: nn.BatchNorm2d, entry: dict) -> None:
    _check_shape(name, entry, [bn.num_features])
    keep = _indices(name, entry, "keep", bn.num_features)
    if keep is None:
        return
    if bn.affine:
        bn.weight = _param(bn.weight[keep], bn.weight)
        bn.bias = _param(bn.bias[keep], bn.bias)
    if bn.track_running_stats and bn.running_mean is not None:
        bn.running_mean = bn.running_mean[keep].clone()
        bn.running_var = bn.running_var[keep].clone()
    bn.num_features = len(keep)


def _slice_width(name: str, module: nn.Module, entry: dict) -> None:
    """A module's declared prunable width (e.g. a Mamba mixer's inner channels): it slices its own tensors."""
    channels = module.prunable_width()[0]
    _check_shape(name, entry, [channels])
    keep = _indices(name, entry, "keep", channels)
    if keep is not None:
        module.keep_width(keep)


def _slice_linear(name: str, linear: nn.Linear, entry: dict) -> None:
    _check_shape(name, entry, linear.weight.shape)
    keep_in = _indices(name, entry, "in", linear.in_features)
    if keep_in is None:
        return
    linear.weight = _param(linear.weight[:, keep_in], linear.weight)
    linear.in_features = len(keep_in)
