"""``prune``: a network (registered name, run directory or user factory) → pruned, fine-tuned run directory.

Order of work: resolve the network and data → trace the coupled channel groups and check that the target is
reachable (before any training, so a bad request fails in seconds) → pre-train if there are no weights →
measure the unpruned network → bi-level score search → fold the soft gates into the weights → global
threshold by bisection → physical removal → measure MACs (fvcore) and refuse a miss → fine-tune with the
shared loop and write the run directory (with prune_plan.json) through ``train_network``.
"""
from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from compactrs._progress import Progress
from compactrs.cost import count_macs, count_params
from compactrs.data import Dataset, check_dataset_fits, load_dataset
from compactrs.errors import ModelError, TargetError
from compactrs.models import arch_of, build_model
from compactrs.nn.surgery import apply_prune_plan
from compactrs.pruning.config import PruneConfig
from compactrs.pruning.gates import ChannelGates, fold_gates, magnitude_prior
from compactrs.pruning.graph import ChannelGraph, trace_channel_groups
from compactrs.pruning.plan import build_plan, reachable_ratios, search_threshold
from compactrs.pruning.scores import search_scores
from compactrs.runtime import measure_latency
from compactrs.runtime import speedup as latency_speedup


@dataclass
class Source:
    """The network to prune and where it came from."""

    network: nn.Module
    arch: dict
    dataset: Dataset
    origin: dict          # {"kind": "run" | "registered" | "factory", ...}
    trained: bool         # weights came from a checkpoint


def resolve_source(model: str | os.PathLike, data: str | Dataset | None, seed: int, model_kwargs: dict | None = None) -> Source:
    """A run directory / model.pt, a registered model name, or ``package.module:factory`` → a ``Source``.

    Raises:
        ModelError, ArtifactError, DataError: unknown model, unreadable run, data that does not fit the run.
    """
    from compactrs.training import load_checkpoint, trained_seed

    path = Path(str(model))
    if path.exists():
        network, payload = load_checkpoint(path)
        arch, spec = payload["arch"], payload["input_spec"]
        if arch.get("prune_plan") is not None:
            raise ModelError(f"'{model}' is already a pruned network; prune the run it came from with the smaller target instead")
        # the run's own split (its training seed) when pruning on the run's data: drawn with prune's seed, a run
        # trained with --seed 1 was fine-tuned on a split whose test half it had trained on, and "before" was not
        # the run's accuracy; other data is split with ``seed``
        own = data is None or data == spec["dataset"]
        dataset = data if isinstance(data, Dataset) else load_dataset(
            data or spec["dataset"], seed=trained_seed(payload, default=seed) if own else seed)
        check_dataset_fits(dataset, spec["in_bands"], spec["num_classes"], f"the model in '{model}'", spec["dataset"],
                           fix=f"pass --data {spec['dataset']}")
        return Source(network, arch, dataset, {"kind": "run", "path": str(path.resolve())}, trained=True)
    dataset = data if isinstance(data, Dataset) else load_dataset(data or "synthetic", seed=seed)
    arch = arch_of(str(model), dataset.in_bands, dataset.num_classes, **(model_kwargs or {}))
    torch.manual_seed(seed)
    network = build_model(arch)
    kind = "factory" if ":" in str(model) else "registered"
    return Source(network, arch, dataset, {"kind": kind, "model": str(model)}, trained=False)


def _nothing_prunable(graph: ChannelGraph, name: str) -> ModelError:
    reasons = sorted({g.fixed_reason for g in graph.groups.values() if g.fixed_reason and g.producers})
    detail = "; ".join(reasons[:3]) or "it has no convolution whose output channels can be removed"
    return ModelError(f"nothing in '{name}' can be pruned: every convolution's output channels are fixed ({detail}); "
                      "pruning removes conv output channels that feed convs, BN, activations, pooling, residual adds "
                      "or the classifier — not concatenations or attention products")


def _fixed_share(graph: ChannelGraph) -> str:
    """Why a floor is high: the share of MACs in layers whose channels pruning must keep, and the main reason."""
    fixed = sum(layer.macs for layer in graph.layers if layer.in_group is None and layer.out_group is None)
    if fixed < 0.05 * graph.total_macs:
        return ""
    reasons = [g.fixed_reason for g in graph.groups.values() if g.fixed_reason and g.producers]
    common = max(set(reasons), key=reasons.count) if reasons else "unsupported operations"
    return f" ({fixed / graph.total_macs:.0%} of the MACs are in layers whose channels must stay, e.g. because {common})"


def _scores(metrics: dict) -> dict:
    return {k: metrics[k] for k in ("oa", "aa", "kappa")}


def prune(model: str | os.PathLike, data: str | Dataset | None = None, config: PruneConfig | None = None,
          out: str | os.PathLike | None = None, model_kwargs: dict | None = None, progress: Progress | None = None,
          overwrite: bool = False) -> dict:
    """Prune ``model`` to a MAC target, fine-tune it, and write a run directory; returns its report.

    Args:
        model: a run directory (or its model.pt) from ``train`` / ``search``; a registered model name (trained
            from scratch first for ``config.pretrain_epochs``); or a user factory ``package.module:function``
            taking ``(in_bands, num_classes)`` and returning an ``nn.Module`` (also trained first).
        data: dataset spec or ``Dataset`` (default: the run's own dataset, else ``synthetic``).
        config: target and schedule (``PruneConfig(flops_ratio=0.5)``; FLOPs are MACs).
        out: run directory to create (default ``runs/prune-<model>-<time>``).

    Returns:
        The report (also in ``out/report.json``): top-level ``oa``/``aa``/``kappa``/``macs``/``params``/
        ``latency_ms`` describe the pruned, fine-tuned network; ``prune`` holds the before / after-surgery
        numbers, the requested and measured MAC ratio, speed-ups and the search history.

    Raises:
        TargetError: the target cannot be reached within ``config.tolerance`` (given round_to / min_channels).
        ModelError: nothing in the network can be pruned, or it cannot be traced.
    """
    from compactrs.training import TrainConfig, evaluate, fit, train_network
    from compactrs.training.loop import configure_threads
    from compactrs.training.run import default_run_dir

    config = config or PruneConfig(flops_ratio=0.5)
    configure_threads(config.threads)
    source = resolve_source(model, data, config.seed, model_kwargs)
    network, dataset = source.network.eval(), source.dataset
    input_shape = (1, dataset.in_bands, *dataset.input_size)
    base_macs = count_macs(network, input_shape)
    ratio = config.target_ratio(base_macs)
    graph = trace_channel_groups(network, input_shape)
    name = source.arch["model"]
    if not graph.prunable_groups:
        raise _nothing_prunable(graph, name)
    smallest = reachable_ratios(graph, config.round_to, config.min_channels)
    if ratio < smallest * (1 - config.tolerance):
        raise TargetError(f"MAC ratio {ratio:.4g} ({round(ratio * base_macs)} MACs) is unreachable for '{name}': with "
                          f"--round-to {config.round_to} and --min-channels {config.min_channels} the smallest reachable "
                          f"ratio is {smallest:.4g}{_fixed_share(graph)}; ask for more MACs or lower --round-to / --min-channels")

    train_base = dict(batch_size=config.batch_size, seed=config.seed, threads=config.threads)
    pretrain_history = []
    if not source.trained and config.pretrain_epochs > 0:
        pretrain_history = fit(network, dataset.x_train, dataset.y_train, TrainConfig(epochs=config.pretrain_epochs, **train_base),
                               progress=progress)
    before = {**_scores(evaluate(network, dataset.x_test, dataset.y_test, dataset.num_classes)),
              "macs": base_macs, "params": count_params(network)}
    if config.latency:
        before["latency_ms"] = measure_latency(network, (dataset.in_bands, *dataset.input_size), "onnxruntime", (1, 32), config.threads)

    gates = ChannelGates(graph, magnitude_prior(network, graph))
    history = search_scores(network, gates, dataset.x_train, dataset.y_train, ratio, config, progress)
    try:
        fold_gates(network, gates)
    except ValueError as exc:
        raise ModelError(f"cannot prune '{name}': {exc}") from exc
    selection = search_threshold(graph, gates.normalised_scores(), ratio, config.round_to, config.min_channels, config.tolerance)
    plan = build_plan(graph, selection)
    pruned = apply_prune_plan(copy.deepcopy(network), plan).eval()
    macs = count_macs(pruned, input_shape)
    if abs(macs / (ratio * base_macs) - 1) > config.tolerance:  # the layer table and fvcore disagree: refuse
        raise TargetError(f"pruned '{name}' measures {macs} MACs, {macs / base_macs:.4f} of the original, outside ±"
                          f"{config.tolerance:.0%} of the requested {ratio:.4f}; the network has layers the MAC table "
                          "does not model — report this with the model definition")
    plan["target"] = {"flops_ratio": ratio, "flops": round(ratio * base_macs), "tolerance": config.tolerance}
    plan["measured"] = {"macs_before": base_macs, "macs_after": macs, "ratio": macs / base_macs}
    after_surgery = _scores(evaluate(pruned, dataset.x_test, dataset.y_test, dataset.num_classes))
    after = {"macs": macs, "params": count_params(pruned)}
    if config.latency:
        after["latency_ms"] = measure_latency(pruned, (dataset.in_bands, *dataset.input_size), "onnxruntime", (1, 32), config.threads)

    summary = _summary(source, config, ratio, before, after, after_surgery, selection.threshold, graph, plan, history, pretrain_history)
    arch = {**source.arch, "prune_plan": plan}
    finetune = TrainConfig(epochs=config.finetune_epochs, lr=config.finetune_lr, **train_base)
    out = Path(out) if out is not None else default_run_dir("prune", name.replace(":", "-").replace(".", "-"))
    latency = {"measured": after.get("latency_ms", {}), "predicted": None, "before": before.get("latency_ms", {})}
    return train_network(pruned, arch, dataset, finetune, out, "prune", f"{name} pruned to {macs / base_macs:.2f} MACs",
                         progress, overwrite, target=plan["target"], extra_config={"prune": config.to_dict(), "source": source.origin},
                         extra_report={"prune": summary, "latency_ms": latency}, extra_files={"prune_plan.json": plan})


def _kept_whole(graph: ChannelGraph) -> list[dict]:
    """Layers whose channels were never candidates, with the reason their group is fixed."""
    kept = []
    for group in graph.groups.values():
        entry = {"layers": sorted(set(group.producers + group.passthrough + group.consumers)),
                 "channels": group.channels, "reason": group.fixed_reason}
        if group.fixed_reason and entry not in kept:
            kept.append(entry)
    kept += [{"layers": [layer.name], "channels": None, "reason": layer.note} for layer in graph.layers if layer.note]
    grouped = {name for entry in kept for name in entry["layers"]}
    loose = [layer.name for layer in graph.layers
             if layer.in_group is None and layer.out_group is None and layer.name not in grouped]
    if loose:
        kept.append({"layers": loose, "channels": None, "reason": "reads and writes only fixed channels"})
    return kept


def speedup_summary(before: dict, after: dict, mac_reduction: float) -> dict:
    """Latency speed-ups per measurement key, what share of the MAC reduction they realise, and whether to trust them.

    A speed-up is None where either latency holds an error; ``latency_contended`` names the keys whose
    before or after timing ran while other processes competed for the CPUs (the ratio may then be off).
    """
    speedup = {key: latency_speedup(before[key], after[key]) for key in after if key in before}
    contended = sorted(key for key in speedup if any(e.get("conditions", {}).get("contended") for e in (before[key], after[key])))
    return {"latency_speedup": speedup,
            # How much of the MAC reduction turns into real speed (1.0 = all of it; Torch-Pruning's ResNet-50 example: 0.57).
            "speedup_per_mac_reduction": {key: None if value is None else value / mac_reduction for key, value in speedup.items()},
            "latency_contended": contended}


def _summary(source, config, ratio, before, after, after_surgery, threshold, graph, plan, history, pretrain_history) -> dict:
    summary = {
        "source": source.origin,
        "pretrained_epochs": 0 if source.trained else config.pretrain_epochs,
        "requested_ratio": ratio,
        "requested_macs": round(ratio * before["macs"]),
        "achieved_ratio": after["macs"] / before["macs"],
        "mac_reduction": before["macs"] / after["macs"],
        "threshold": threshold,
        "round_to": config.round_to,
        "min_channels": config.min_channels,
        "prunable_groups": len(graph.prunable_groups),
        "kept_whole": _kept_whole(graph),
        "layers_changed": len(plan["layers"]),
        "before": before,
        "after_surgery": after_surgery,
        "after": after,
        "search": history,
        "pretrain_final_train_acc": pretrain_history[-1]["train_acc"] if pretrain_history else None,
    }
    if "latency_ms" in before and "latency_ms" in after:
        summary.update(speedup_summary(before["latency_ms"], after["latency_ms"], summary["mac_reduction"]))
    return summary
