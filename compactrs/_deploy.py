"""Where the device-side deploy/ scripts live, and loading them as modules on the host.

deploy/ is the single implementation of what runs on the device (TensorRT engine build and inference,
golden parity, the normalisation contract); the host reuses it instead of keeping a second copy.
"""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

from compactrs.errors import ArtifactError

DEPLOY_FILES = ("_common.py", "_trt.py", "verify.py", "run.py", "bench.py", "build_engine.py")


def deploy_dir() -> Path:
    """The deploy/ folder of this compactrs checkout (beside the package)."""
    path = Path(__file__).resolve().parent.parent / "deploy"
    missing = [name for name in DEPLOY_FILES if not (path / name).is_file()]
    if missing:
        raise ArtifactError(f"the deploy scripts {missing} are missing from {path}; reinstall compactrs from a full source checkout")
    return path


def load_deploy_module(name: str):
    """Import ``deploy/<name>.py`` (e.g. ``_common``, ``_trt``) with deploy/ on sys.path, as the scripts expect."""
    folder = str(deploy_dir())
    if folder not in sys.path:
        sys.path.insert(0, folder)
    return importlib.import_module(name)
