"""Random whole CellNets of a search space: the fitting set of the overhead model and the validation set."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from compactrs.cost._opgraphs import _randomise_bn, export_graph
from compactrs.nn.cells import random_genotype

#: seeds of the two sets differ by this offset, and validation also skips any genotype seen in fitting.
VALIDATION_SEED_OFFSET = 1_000_003


def sample_networks(space: dict, n: int, seed: int, exclude: list[dict] = ()) -> list[dict]:
    """``n`` random network specs ``{"genotype", "in_bands", "input_size", "init_channels", "num_classes",
    "stem_multiplier"}`` drawn uniformly from ``space`` (contexts too), none equal to a spec in ``exclude``."""
    rng = np.random.default_rng(seed)
    seen = {json.dumps(spec, sort_keys=True) for spec in exclude}
    specs: list[dict] = []
    while len(specs) < n:
        spec = {
            "genotype": random_genotype(rng, space["ops"], space["nodes"], space["blocks"], space["max_depth"]),
            "in_bands": int(rng.choice(space["in_bands"])),
            "input_size": int(rng.choice(space["input_size"])),
            "init_channels": int(rng.choice(space["init_channels"])),
            "num_classes": int(rng.choice(space["num_classes"])),
            "stem_multiplier": int(space["stem_multiplier"]),
        }
        text = json.dumps(spec, sort_keys=True)
        if text not in seen:
            seen.add(text)
            specs.append(spec)
    return specs


def network_module(spec: dict, seed: int = 0):
    """The CellNet a spec describes, in eval mode with non-trivial BN statistics."""
    from compactrs.models import create_model

    model = create_model("cellnet", spec["in_bands"], spec["num_classes"], genotype=spec["genotype"],
                         init_channels=spec["init_channels"], stem_multiplier=spec["stem_multiplier"])
    return _randomise_bn(model, seed)


def network_input_shape(spec: dict, batch: int) -> tuple[int, int, int, int]:
    return (batch, spec["in_bands"], spec["input_size"], spec["input_size"])


def emit_network_graphs(specs: list[dict], folder: Path, batch: int, role: str, progress=None) -> list[dict]:
    """Export each network to ``folder`` as ``{role}-NNN.onnx``; returns manifest items with MACs."""
    from compactrs.cost.flops import count_macs

    items = []
    if progress is not None:
        progress.start(role, f"exporting {role} networks", len(specs))
    for index, spec in enumerate(specs):
        model = network_module(spec, index)
        shape = network_input_shape(spec, batch)
        name = f"{role}-{index:03d}.onnx"
        export_graph(model, folder / name, shape)
        macs = count_macs(model, (1, *shape[1:]))
        items.append({"file": name, "role": role, "input_shape": list(shape), "network": spec, "macs": macs})
        if progress is not None:
            progress.advance(role)
    if progress is not None:
        progress.finish(role)
    return items
