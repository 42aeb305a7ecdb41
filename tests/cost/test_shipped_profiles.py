"""profiles/ ships only kernel-level profiles that passed their own validation on a quiet machine."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from compactrs.cost.kernel_latency import KERNEL_PROFILE_SCHEMA

PROFILES = sorted((Path(__file__).resolve().parents[2] / "profiles").glob("*.json"))
KERNEL_PROFILES = [p for p in PROFILES if json.loads(p.read_text()).get("schema") == KERNEL_PROFILE_SCHEMA]


@pytest.mark.parametrize("path", KERNEL_PROFILES, ids=[p.name for p in KERNEL_PROFILES])
def test_shipped_kernel_profile_is_quiet_and_validated(path):
    data = json.loads(path.read_text())
    state = data["measurement"]["machine_state"]
    assert not state["contended"], f"{path.name} was measured under contention: {state['reason']}"
    block = data["validation"]
    assert block and block["n"] >= 100 and block["noise_floor"]["n"] == block["n"]
    assert block["within_10pct"] >= 0.9 or block["noise_floor"]["within_10pct"] < 0.9
    assert not block["machine_state"]["contended"]
