"""Shared fixtures: the real data in ../shared/data (same relative path in CI)."""
from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
INDIAN_PINES = SHARED_DATA / "hsi" / "indian_pines_subset"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"real test data not found at {SHARED_DATA}; check out ../shared beside the project")
    return SHARED_DATA


@pytest.fixture(scope="session")
def indian_pines(shared_data) -> Path:
    return INDIAN_PINES
