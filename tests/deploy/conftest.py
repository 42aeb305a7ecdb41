"""A small run trained on the real Indian Pines subset, exported once (FP32 + INT8) for the deploy tests.

``device_python`` (torch and compactrs unimportable) lives in tests/conftest.py.
"""
from pathlib import Path

import pytest

from compactrs.exporter import ExportConfig, export
from compactrs.training import TrainConfig, train


@pytest.fixture(scope="session")
def ip_run(tmp_path_factory, indian_pines):
    out = tmp_path_factory.mktemp("deploy") / "ip-run"
    train("patchcnn", f"hsi:{indian_pines}", TrainConfig(epochs=2, threads=1), out)
    return out


@pytest.fixture(scope="session")
def ip_bundle(ip_run):
    manifest = export(ip_run, ip_run.parent / "bundle", ExportConfig(int8=True, calib=500, trt=True))
    return Path(manifest["bundle"]), manifest
