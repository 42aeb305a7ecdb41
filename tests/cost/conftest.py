"""Fixtures shared by the cost-model tests."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from compactrs.cost._kernel_model import SAMPLE_FIELDS
from compactrs.cost.kernel_latency import KernelProfile


def _roofline_priced(path: Path) -> KernelProfile:
    """The measured profile with every kernel sample re-priced by a fixed roofline (1 µs + MACs + bytes), so a
    test checks how pieces and networks are decomposed into kernels, not this machine's noise."""
    data = json.loads(Path(path).read_text())
    fields = list(SAMPLE_FIELDS)
    for samples in data["kernels"]["samples"].values():
        samples["us"] = [1.0 + row[fields.index("macs")] / 2e3 + row[fields.index("bytes")] / 2e4 for row in samples["rows"]]
    data["network"]["coefficients"] = {"per_run_us": 10.0, "per_kernel_us": 1.0, "scale": 1.0}
    return KernelProfile(data, str(path))


@pytest.fixture
def roofline_priced():
    """``roofline_priced(path)`` → the profile at ``path`` with deterministic kernel prices."""
    return _roofline_priced
