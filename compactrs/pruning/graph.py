"""Channel coupling: which convolutions must keep the same output channels, found by tracing the network.

The network is traced with ``torch.fx`` and every tensor is labelled with the *channel group* that
defines its channel axis. A regular convolution starts a new group; BatchNorm, activations, pooling,
dropout, depthwise convolutions, spatial slicing / padding and flatten-after-global-pooling carry their
input's group through; a residual ``add`` merges the groups of its operands (so every member of an add
group — the block outputs, the stem, the downsample branch — ends up in one group and keeps identical
channels). Any operation whose channel semantics are not known here (concatenation, tensor × tensor
products such as attention, reshapes, grouped convolutions, adding a constant) *fixes* the groups it
touches: their channels are never removed, so pruning stays exact. The network's output is fixed too.

A module may declare a prunable width of its own (``prunable_width() -> (channels, gate module)``, with
``width_macs``, ``width_saliency``, ``fold_width_gate`` and ``keep_width``; e.g. the inner width of a Mamba
mixer, coupled across its projections, conv, state matrices and skip). The tracer keeps such a module whole
(a leaf), gives its width a group of its own, and leaves what flows in and out of it fixed.

Why our own tracer rather than Torch-Pruning's DependencyGraph: the plan must be replayable without
torch-pruning, and the gate points and MAC bookkeeping of the search need the same per-layer facts
(input group, output group, output size) that the trace yields anyway; a test cross-checks the
residual groups against Torch-Pruning's on ResNet-34.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass, field

import torch
from torch import nn

from compactrs.errors import ModelError

#: modules that map a channel to the same channel and map zero to zero (so a zeroed channel stays zero).
_CHANNEL_PRESERVING_MODULES = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.Hardtanh, nn.SiLU, nn.GELU, nn.Dropout, nn.Dropout2d, nn.Identity,
    nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d,
)
_CHANNEL_PRESERVING_FUNCTIONS = {
    torch.relu, torch.nn.functional.relu, torch.nn.functional.relu6, torch.nn.functional.hardtanh,
    torch.nn.functional.leaky_relu, torch.nn.functional.silu, torch.nn.functional.gelu,
    torch.nn.functional.dropout, torch.nn.functional.max_pool2d, torch.nn.functional.avg_pool2d,
    torch.nn.functional.adaptive_avg_pool2d, torch.nn.functional.adaptive_max_pool2d,
}
_CHANNEL_PRESERVING_METHODS = {"relu", "relu_", "contiguous", "clone"}
_ADD_OPS = {operator.add, operator.iadd, torch.add, operator.sub, torch.sub}
_MUL_OPS = {operator.mul, operator.imul, torch.mul}


@dataclass
class Layer:
    """One convolution or linear layer as the trace saw it (everything MAC bookkeeping and replay need)."""

    name: str
    kind: str                 # "conv" | "depthwise" | "linear" | "width" (a module's declared width)
    in_channels: int
    out_channels: int
    macs: int                 # multiply-accumulates of the unpruned layer for one sample
    in_group: int | None      # group of the input channels (None: not prunable)
    out_group: int | None     # group of the output channels (None: not prunable)
    gate_at: str = ""         # module whose output the channel gate multiplies (its BN, or itself)
    weight_shape: tuple = ()  # of the unpruned layer (the plan records it, replay checks it)
    note: str = ""            # what of this layer stays whole and why (declared widths)


@dataclass
class Group:
    """A set of coupled channels: all its member layers keep exactly the same channel indices."""

    id: int
    channels: int
    producers: list[str] = field(default_factory=list)    # regular convs writing these channels
    passthrough: list[str] = field(default_factory=list)  # depthwise convs carrying them
    batchnorms: list[str] = field(default_factory=list)
    consumers: list[str] = field(default_factory=list)    # convs / linears reading them
    gate_points: list[str] = field(default_factory=list)  # modules whose outputs get the group's gate
    fixed_reason: str | None = None

    @property
    def prunable(self) -> bool:
        return self.fixed_reason is None and bool(self.producers)


@dataclass
class ChannelGraph:
    """The result of tracing: layers in execution order, prunable groups, and the MAC total they cover."""

    layers: list[Layer]
    groups: dict[int, Group]
    input_shape: tuple[int, ...]

    @property
    def prunable_groups(self) -> list[Group]:
        return [g for g in self.groups.values() if g.prunable]

    @property
    def total_macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    def macs_for(self, kept: dict[int, float]) -> float:
        """MACs when group ``g`` keeps ``kept[g]`` channels (count or expectation; absent groups keep all)."""
        total = 0.0
        for layer in self.layers:
            fin = kept[layer.in_group] / self.groups[layer.in_group].channels if layer.in_group in kept else 1.0
            fout = kept[layer.out_group] / self.groups[layer.out_group].channels if layer.out_group in kept else 1.0
            # A depthwise conv's input and output are the same group: its cost scales once, not twice.
            total = total + layer.macs * (fout if layer.kind == "depthwise" else fin * fout)
        return total


class _UnionFind:
    def __init__(self):
        self.parent: dict[int, int] = {}
        self.fixed: dict[int, str] = {}
        self.size: dict[int, int] = {}

    def new(self, channels: int, fixed: str | None = None) -> int:
        gid = len(self.parent)
        self.parent[gid] = gid
        self.size[gid] = channels
        if fixed:
            self.fixed[gid] = fixed
        return gid

    def find(self, gid: int) -> int:
        while self.parent[gid] != gid:
            self.parent[gid] = self.parent[self.parent[gid]]
            gid = self.parent[gid]
        return gid

    def union(self, a: int, b: int) -> int:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return ra
        if self.size[ra] != self.size[rb]:
            self.fix(ra, "added to a tensor of another width")
            self.fix(rb, "added to a tensor of another width")
        self.parent[rb] = ra
        if rb in self.fixed and ra not in self.fixed:
            self.fixed[ra] = self.fixed[rb]
        return ra

    def fix(self, gid: int, reason: str) -> None:
        root = self.find(gid)
        self.fixed.setdefault(root, reason)


def _is_spatial_index(index) -> bool:
    """``x[:, :, a:b, ::s]``: slices that leave the batch and channel axes whole."""
    if not isinstance(index, tuple) or not index:
        return False
    whole = slice(None, None, None)
    return all(isinstance(i, slice) for i in index) and index[0] == whole and (len(index) < 2 or index[1] == whole)


def trace_channel_groups(model: nn.Module, input_shape) -> ChannelGraph:
    """Trace ``model`` on a zero input of ``input_shape`` (batch included) and find its coupled channel groups.

    Raises:
        ModelError: the model cannot be traced symbolically (data-dependent control flow, ...).
    """
    from torch.fx import GraphModule, Tracer
    from torch.fx.passes.shape_prop import ShapeProp

    class _WidthAwareTracer(Tracer):
        def is_leaf_module(self, module, qualified_name):
            # a declared width is handled as one unit; a Conv2d subclass (e.g. nn.pointwise.StridedPointwiseConv,
            # whose training path subsamples) is the convolution it extends, whatever module defines it
            return (hasattr(module, "prunable_width") or isinstance(module, nn.Conv2d)
                    or super().is_leaf_module(module, qualified_name))

    was_training = model.training
    model.eval()
    try:
        graph_module = GraphModule(model, _WidthAwareTracer().trace(model), type(model).__name__)
        with torch.no_grad():
            ShapeProp(graph_module).propagate(torch.zeros(*input_shape))
    except Exception as exc:  # fx raises many types (TraceError, TypeError on proxies, ...)
        raise ModelError(
            f"cannot trace {type(model).__name__} to find coupled channels ({type(exc).__name__}: {exc}); "
            "pruning needs a forward() without data-dependent Python control flow"
        ) from exc
    finally:
        model.train(was_training)
    return _label(graph_module, dict(model.named_modules()), tuple(input_shape))


def _shape(node) -> tuple[int, ...] | None:
    meta = node.meta.get("tensor_meta")
    return tuple(meta.shape) if meta is not None and hasattr(meta, "shape") else None


def _label(graph_module, modules: dict[str, nn.Module], input_shape) -> ChannelGraph:
    uf = _UnionFind()
    label: dict = {}            # fx node -> group id (channel axis 1) or None
    layers: list[Layer] = []
    bn_group: dict[str, int] = {}
    calls: dict[str, tuple] = {}  # module name -> (in group, out group) of its first call

    def group_of(arg):
        return label.get(arg) if isinstance(arg, torch.fx.Node) else None

    def fix_inputs(node, reason: str) -> None:
        for arg in node.all_input_nodes:
            gid = label.get(arg)
            if gid is not None:
                uf.fix(gid, reason)

    def opaque(node, reason: str):
        """An op we do not model: fix what flows in, and give its output a fixed group of its own."""
        fix_inputs(node, reason)
        shape = _shape(node)
        return uf.new(shape[1], reason) if shape is not None and len(shape) >= 2 else None

    for node in graph_module.graph.nodes:
        if node.op == "placeholder":
            label[node] = uf.new(input_shape[1], "network input")
        elif node.op == "call_module":
            label[node] = _module_node(node, modules[node.target], uf, group_of, opaque, layers, bn_group)
            _merge_repeated_call(node.target, layers, bn_group, calls, uf, label, node)
        elif node.op in ("call_function", "call_method"):
            label[node] = _function_node(node, uf, group_of, opaque)
        elif node.op == "output":
            fix_inputs(node, "network output")
        else:  # get_attr: a constant tensor
            label[node] = opaque(node, f"uses parameter '{node.target}' directly")

    groups: dict[int, Group] = {}
    for layer in layers:
        layer.in_group = uf.find(layer.in_group) if layer.in_group is not None else None
        layer.out_group = uf.find(layer.out_group) if layer.out_group is not None else None
    for gid in list(uf.parent):
        root = uf.find(gid)
        if root not in groups:
            groups[root] = Group(root, uf.size[root], fixed_reason=uf.fixed.get(root))
    for layer in layers:
        if layer.out_group is not None:
            members = groups[layer.out_group].passthrough if layer.kind == "depthwise" else groups[layer.out_group].producers
            if layer.kind != "linear":
                members.append(layer.name)
        if layer.in_group is not None and layer.kind != "depthwise":
            groups[layer.in_group].consumers.append(layer.name)
    for name, gid in bn_group.items():
        groups[uf.find(gid)].batchnorms.append(name)
    _place_gates(graph_module, modules, layers, groups, bn_group, uf)
    # Groups that cannot change lose their labels on layers, so MAC bookkeeping treats them as constant.
    for layer in layers:
        if layer.in_group is not None and not groups[layer.in_group].prunable:
            layer.in_group = None
        if layer.out_group is not None and not groups[layer.out_group].prunable:
            layer.out_group = None
    return ChannelGraph(layers, {g.id: g for g in groups.values() if g.producers or g.consumers}, input_shape)


def _merge_repeated_call(name, layers, bn_group, calls, uf, label, node) -> None:
    """A module called twice (a shared MLP) has one weight: its calls' channel groups must be one group."""
    if layers and layers[-1].name == name:
        current = (layers[-1].in_group, layers[-1].out_group)
    elif name in bn_group:
        current = (bn_group[name], bn_group[name])
    else:
        return
    if name not in calls:
        calls[name] = current
        return
    for first, now in zip(calls[name], current):
        if first is not None and now is not None:
            uf.union(first, now)
        elif first is not None or now is not None:
            uf.fix(first if first is not None else now, f"module '{name}' is called on unrelated inputs")


def _module_node(node, module, uf, group_of, opaque, layers, bn_group):
    source = node.args[0] if node.args else None
    gid = group_of(source)
    out_shape = _shape(node)
    if hasattr(module, "prunable_width"):
        return _width_node(node, module, source, uf, opaque, layers)
    if isinstance(module, nn.Conv1d):  # not pruned (no 1-D plan entries), but its MACs belong in the table
        layers.append(Layer(node.target, "conv", module.in_channels, module.out_channels,
                            module.weight.numel() * (out_shape[-1] if out_shape else 0), None, None))
        return opaque(node, f"1-D conv '{node.target}' is not pruned")
    if isinstance(module, nn.Conv2d):
        if out_shape is None or gid is None:
            return opaque(node, f"conv '{node.target}' input has no known channel axis")
        spatial = out_shape[2] * out_shape[3]
        macs = module.weight.numel() * spatial  # = k_h k_w (c_in / groups) c_out h_out w_out
        if module.groups == 1:
            out = uf.new(module.out_channels)
            layers.append(Layer(node.target, "conv", module.in_channels, module.out_channels, macs, gid, out,
                                weight_shape=tuple(module.weight.shape)))
            return out
        if module.groups == module.in_channels == module.out_channels:
            layers.append(Layer(node.target, "depthwise", module.in_channels, module.out_channels, macs, gid, gid,
                                weight_shape=tuple(module.weight.shape)))
            return gid
        uf.fix(gid, f"grouped conv '{node.target}' (groups={module.groups}) is not supported")
        out = uf.new(module.out_channels, f"output of grouped conv '{node.target}'")
        layers.append(Layer(node.target, "conv", module.in_channels, module.out_channels, macs, None, None))
        return out
    if isinstance(module, nn.BatchNorm2d):
        if gid is not None:
            bn_group[node.target] = gid
        return gid
    if isinstance(module, nn.Linear):
        in_shape = _shape(source) if isinstance(source, torch.fx.Node) else None
        if gid is not None and (in_shape is None or len(in_shape) != 2):
            uf.fix(gid, f"linear '{node.target}' reads a tensor that is not (batch, features)")
            gid = None
        layers.append(Layer(node.target, "linear", module.in_features, module.out_features, module.weight.numel(), gid, None,
                            weight_shape=tuple(module.weight.shape)))
        return uf.new(module.out_features, f"output of linear '{node.target}'")
    if isinstance(module, nn.Flatten):
        return _flatten(node, source, gid, uf, opaque)
    if isinstance(module, _CHANNEL_PRESERVING_MODULES):
        return gid
    return opaque(node, f"{type(module).__name__} '{node.target}' is not a layer pruning understands")


def _width_node(node, module, source, uf, opaque, layers):
    """A module with a declared prunable width: one group for that width, its MACs scale with it."""
    channels, gate = module.prunable_width()
    in_shape = _shape(source) if isinstance(source, torch.fx.Node) else None
    width = uf.new(channels)
    outer = in_shape[-1] if in_shape else "?"
    note = (f"only its inner width ({channels}) is pruned; its input and output width ({outer}, on the last axis) "
            f"is shared through residual adds and norms with the layers around it, so it stays whole")
    layers.append(Layer(node.target, "width", channels, channels, int(module.width_macs(in_shape)), None, width,
                        gate_at=f"{node.target}.{gate}", weight_shape=(channels,), note=note))
    return opaque(node, f"'{node.target}' keeps its input and output width")


def _flatten(node, source, gid, uf, opaque):
    shape = _shape(source) if isinstance(source, torch.fx.Node) else None
    if gid is not None and shape is not None and len(shape) == 4 and shape[2] == shape[3] == 1:
        return gid  # flatten after global pooling: feature i is channel i
    return opaque(node, "flatten of a feature map larger than 1x1")


def _function_node(node, uf, group_of, opaque):
    target = node.target
    args = node.args
    tensor_args = [a for a in args if isinstance(a, torch.fx.Node) and _shape(a) is not None]
    if node.op == "call_function" and target in _ADD_OPS:
        if len(tensor_args) == 2 and all(group_of(a) is not None for a in tensor_args):
            if _shape(tensor_args[0]) == _shape(tensor_args[1]):
                return uf.union(group_of(tensor_args[0]), group_of(tensor_args[1]))
        return opaque(node, "added to something that is not a same-shaped feature map")
    if node.op == "call_function" and target in _MUL_OPS:
        if len(tensor_args) == 1 and all(isinstance(a, (int, float)) for a in args if a is not tensor_args[0]):
            return group_of(tensor_args[0])  # scaling by a constant keeps zero channels zero
        return opaque(node, "multiplied by another tensor (attention / gating)")
    if (node.op == "call_function" and target in _CHANNEL_PRESERVING_FUNCTIONS) or (
            node.op == "call_method" and target in _CHANNEL_PRESERVING_METHODS):
        return group_of(args[0]) if args else None
    if node.op == "call_method" and target == "mul" and len(args) == 2 and isinstance(args[1], (int, float)):
        return group_of(args[0])
    if node.op == "call_function" and target is operator.getitem and len(args) == 2 and _is_spatial_index(args[1]):
        return group_of(args[0])
    if node.op == "call_function" and target is torch.nn.functional.pad:
        pad = args[1] if len(args) > 1 else node.kwargs.get("pad")
        mode = node.kwargs.get("mode", "constant")
        value = node.kwargs.get("value", None)
        if isinstance(pad, (tuple, list)) and len(pad) <= 4 and mode == "constant" and not value:
            return group_of(args[0])  # zero padding of the spatial axes only
    if (node.op == "call_function" and target is torch.flatten) or (node.op == "call_method" and target == "flatten"):
        start = args[1] if len(args) > 1 else node.kwargs.get("start_dim", 0)
        if start == 1 and args:
            return _flatten(node, args[0], group_of(args[0]), uf, opaque)
    if node.op == "call_method" and target in ("size", "dim"):
        return None
    name = getattr(target, "__name__", str(target))
    return opaque(node, f"'{name}' is an operation whose channel coupling pruning does not model")


def _place_gates(graph_module, modules, layers, groups, bn_group, uf) -> None:
    """Choose where each group's gate multiplies: after the BN that follows a conv, else after the conv.

    Every module that writes the group's channels gets a gate (producers, depthwise convs, and any BN
    whose input is not already gated), so a hard 0 gate zeroes that channel in every tensor of the group —
    which is what makes the masked network equal to the physically pruned one.
    """
    by_name = {node.target: node for node in graph_module.graph.nodes if node.op == "call_module"}
    gated_bn: set[str] = set()
    for layer in layers:
        if layer.kind == "linear" or layer.out_group is None:
            continue
        if layer.kind == "width":  # the module named its own gate point
            groups[layer.out_group].gate_points.append(layer.gate_at)
            continue
        node = by_name[layer.name]
        users = list(node.users)
        follower = users[0] if len(users) == 1 and users[0].op == "call_module" else None
        if follower is not None and isinstance(modules[follower.target], nn.BatchNorm2d):
            layer.gate_at = follower.target
            gated_bn.add(follower.target)
        else:
            layer.gate_at = layer.name
        groups[layer.out_group].gate_points.append(layer.gate_at)
    for name, gid in bn_group.items():
        if name not in gated_bn:
            groups[uf.find(gid)].gate_points.append(name)
