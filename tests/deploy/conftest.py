"""A small run trained on the real Indian Pines subset, exported once (FP32 + INT8) for the deploy tests."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from compactrs.exporter import ExportConfig, export
from compactrs.training import TrainConfig, train

#: runs a script with torch and compactrs made unimportable, as on an on-board computer without them
BLOCKER = '''
import importlib.abc, runpy, sys
class _Blocked(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "compactrs"):
            raise ImportError(f"{name} is not available on the device")
        return None
sys.meta_path.insert(0, _Blocked())
script = sys.argv[1]
sys.argv = sys.argv[1:]
runpy.run_path(script, run_name="__main__")
'''


@pytest.fixture(scope="session")
def ip_run(tmp_path_factory, indian_pines):
    out = tmp_path_factory.mktemp("deploy") / "ip-run"
    train("patchcnn", f"hsi:{indian_pines}", TrainConfig(epochs=2, threads=1), out)
    return out


@pytest.fixture(scope="session")
def ip_bundle(ip_run):
    manifest = export(ip_run, ip_run.parent / "bundle", ExportConfig(int8=True, calib=500, trt=True))
    return Path(manifest["bundle"]), manifest


@pytest.fixture(scope="session")
def device_python(tmp_path_factory):
    """``run(script, *args)``: a subprocess where ``import torch`` / ``import compactrs`` raise ImportError."""
    wrapper = tmp_path_factory.mktemp("device") / "no_torch.py"
    wrapper.write_text(BLOCKER)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}

    def run(script, *args):
        return subprocess.run([sys.executable, str(wrapper), str(script), *map(str, args)], capture_output=True, text=True,
                              env=env, cwd=str(wrapper.parent), timeout=120)

    return run
