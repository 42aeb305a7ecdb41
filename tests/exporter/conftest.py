"""Fixtures of the exporter tests."""
import pytest
import torch
from torch import nn


def _calibrate_batchnorm(model, shape):
    """Set BN running statistics from real forward passes, as training does: a freshly initialised deep
    residual net otherwise has activations that grow with depth, far beyond anything a trained net sees."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the calibration batches
    model.train()
    with torch.no_grad():
        for _ in range(2):
            model(torch.randn(8, *shape[1:]))
    return model.eval()


@pytest.fixture
def calibrate_batchnorm():
    """``calibrate_batchnorm(model, input_shape) -> model`` in eval mode with trained-like BN statistics."""
    return _calibrate_batchnorm
