"""Shared fixtures: the real data in ../shared/data (same relative path in CI)."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
INDIAN_PINES = SHARED_DATA / "hsi" / "indian_pines_subset"
INDIAN_PINES_FULL = SHARED_DATA / "hsi" / "indian_pines_full"


@pytest.fixture(autouse=True)
def _one_thread_for_small_tensors(request):
    """nn/ and search/ tests run tiny tensors: one intra-op thread is faster and steadier on a shared 2-core box."""
    if request.path.parent.name not in ("nn", "search"):
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"real test data not found at {SHARED_DATA}; check out ../shared beside the project")
    return SHARED_DATA


@pytest.fixture(scope="session")
def indian_pines(shared_data) -> Path:
    return INDIAN_PINES


@pytest.fixture(scope="session")
def indian_pines_full(shared_data) -> Path:
    """The whole 145x145x200 Indian Pines scene as .npy cube + ground truth (16 classes)."""
    return INDIAN_PINES_FULL
