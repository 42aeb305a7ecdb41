"""One geometry: CellNet, the supernet layout and the MAC cost table all read ``cellnet_geometry``."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from compactrs.cost import count_macs
from compactrs.errors import ModelError
from compactrs.models import create_model
from compactrs.nas.costs import CostTable, MacCost, layer_macs
from compactrs.nn.ops import OPS, make_op
from compactrs.nas.space import supernet_layout
from compactrs.nn.cells import random_genotype
from compactrs.nn.geometry import cellnet_geometry, stem_output_size


@pytest.mark.parametrize("stride, size", [(1, 11), (2, 11), (4, 11), (4, 16), (2, 64)])
def test_cellnet_cells_sit_where_the_geometry_says(stride, size):
    genotype = {**random_genotype(np.random.default_rng(stride + size), max_depth=2), "stem": {"kind": "conv", "stride": stride}}
    model = create_model("cellnet", 5, 3, genotype=genotype, init_channels=4).eval()
    seen = []
    for cell in model.cells:
        cell.register_forward_hook(lambda m, inputs, output: seen.append(
            (inputs[0].shape[1], inputs[1].shape[1], inputs[1].shape[2], inputs[0].shape[2], output.shape[1], output.shape[2])))
    with torch.no_grad():
        stem_out = model.stem(torch.zeros(1, 5, size, size))
        model(torch.zeros(1, 5, size, size))
    geometry = cellnet_geometry(genotype["depths"], size, 4, stem=genotype["stem"])
    assert stem_out.shape[2] == geometry.stem_size == stem_output_size(genotype["stem"], size) == -(-size // stride)
    assert [(c.c_prev_prev, c.c_prev, c.size, c.size_prev_prev, c.channels * 4, c.node_size) for c in geometry.cells] == seen
    assert geometry.final_channels == model.classifier.in_features


@pytest.mark.parametrize("stride, seed", [(1, 0), (2, 1), (4, 2), (1, 3)])
def test_cost_table_of_the_supernet_layout_equals_the_built_network(stride, seed):
    # every op of the space (mobile ops included) is priced exactly as fvcore counts the built network
    genotype = {**random_genotype(np.random.default_rng(seed), ops=list(OPS), max_depth=3),
                "stem": {"kind": "conv", "stride": stride}}
    layout = supernet_layout(20, 6, max_depth=3, stem=genotype["stem"])
    table = CostTable(MacCost(), layout, list(OPS), 7, 20, 5)
    model = create_model("cellnet", 7, 5, genotype=genotype, init_channels=6)
    assert table.discrete(genotype) == count_macs(model, (1, 7, 20, 20))


@pytest.mark.parametrize("name", [op for op in OPS if op == "conv_3x3" or op.startswith("mbconv")])
@pytest.mark.parametrize("stride", [1, 2])
def test_mobile_op_macs_are_counted_exactly(name, stride):
    op = make_op(name, 8, stride)
    assert layer_macs(op, (1, 8, 9, 9)) == count_macs(op, (1, 8, 9, 9)) > 0


def test_old_genotypes_load_with_the_stride_one_stem_and_bad_stems_are_refused():
    genotype = random_genotype(np.random.default_rng(0), max_depth=1)
    model = create_model("cellnet", 3, 2, genotype=genotype, init_channels=4)
    assert model.stem[0].stride == (1, 1) and list(model.state_dict())[:2] == ["stem.0.weight", "stem.1.weight"]
    with pytest.raises(ModelError, match="stem stride 3 is not one of 1, 2, 4"):
        create_model("cellnet", 3, 2, genotype={**genotype, "stem": {"kind": "conv", "stride": 3}})
