"""Shared fixtures: the real data in ../shared/data (same relative path in CI), torch's thread count restored after
every test, a guard that the suite writes nothing into the working directory or the repository, and the one
interpreter wrapper that runs device scripts with torch and compactrs unimportable."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
INDIAN_PINES = SHARED_DATA / "hsi" / "indian_pines_subset"
INDIAN_PINES_FULL = SHARED_DATA / "hsi" / "indian_pines_full"

#: folders whose tests run tiny tensors: one intra-op thread is faster and steadier on a shared 2-core box
ONE_THREAD_FOLDERS = ("nn", "nas")


@pytest.fixture(autouse=True)
def _restore_torch_threads(request):
    """Every test gets torch's thread count back as it found it (code under test may set it)."""
    previous = torch.get_num_threads()
    if request.path.parent.name in ONE_THREAD_FOLDERS:
        torch.set_num_threads(1)
    yield
    if torch.get_num_threads() != previous:
        torch.set_num_threads(previous)


@pytest.fixture
def one_thread():
    """torch on one thread for this test (``_restore_torch_threads`` puts the count back afterwards)."""
    torch.set_num_threads(1)


def _visible_files(root: Path, skip=(".git", ".venv", "__pycache__", ".pytest_cache")) -> set[str]:
    found = set()
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in skip and not d.endswith(".egg-info")]
        found.update(os.path.relpath(os.path.join(folder, f), root) for f in files)
    return found


@pytest.fixture(autouse=True, scope="session")
def _nothing_written_to_cwd_or_repository():
    """Fail the session if a test left files in the repository or the directory pytest was started from."""
    cwd = Path.cwd()
    roots = [REPO] + ([cwd] if cwd.resolve() != REPO and REPO not in cwd.resolve().parents else [])
    before = {root: (_visible_files(root) if root == REPO else set(os.listdir(root))) for root in roots}
    yield
    for root, files in before.items():
        now = _visible_files(root) if root == REPO else set(os.listdir(root))
        new = sorted(now - files)
        assert not new, f"tests wrote into {root}: {new[:10]}; write under tmp_path instead"


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
def device_python(tmp_path_factory):
    """``run(script, *args, timeout=120)``: a subprocess where ``import torch`` / ``import compactrs`` raise ImportError."""
    wrapper = tmp_path_factory.mktemp("device") / "no_torch.py"
    wrapper.write_text(BLOCKER)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}

    def run(script, *args, timeout: float = 120):
        return subprocess.run([sys.executable, str(wrapper), str(script), *map(str, args)], capture_output=True, text=True,
                              env=env, cwd=str(wrapper.parent), timeout=timeout)

    return run
