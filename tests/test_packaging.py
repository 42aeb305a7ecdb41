"""A regular (non-editable) install can train, export a bundle with its deploy/ scripts, and bench.

The source is copied to a temporary folder first (building writes build/ and *.egg-info beside the sources),
installed with ``pip install --no-deps --no-build-isolation --target`` (this venv's torch / onnxruntime are
reused), then the CLI runs from a folder outside the repository with only the installed copy on the path.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _run(args, cwd, env, timeout=300):
    result = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{args}: {result.stderr[-2000:]}"
    return result.stdout


def test_installed_package_trains_exports_and_benches(tmp_path):
    source, site, work = tmp_path / "src", tmp_path / "site", tmp_path / "work"
    shutil.copytree(REPO / "compactrs", source / "compactrs", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    _run(["-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--target", str(site), str(source)], tmp_path, env)
    assert (site / "compactrs" / "deploy" / "verify.py").is_file() and (site / "compactrs" / "py.typed").is_file()

    work.mkdir()
    env["PYTHONPATH"] = str(site)
    location = _run(["-c", "import compactrs; print(compactrs.__file__)"], work, env).strip()
    assert Path(location).resolve().is_relative_to(site.resolve())
    _run(["-m", "compactrs.cli", "train", "resnet8", "--data", "synthetic,n=10,size=16", "--epochs", "1", "--threads", "1",
          "--out", "run"], work, env)
    _run(["-m", "compactrs.cli", "export", "run", "--out", "bundle", "--no-simplify"], work, env)
    assert sorted(p.name for p in (work / "bundle" / "deploy").glob("*.py")) == sorted(
        p.name for p in (site / "compactrs" / "deploy").glob("*.py"))
    bench = json.loads(_run(["-m", "compactrs.cli", "bench", "bundle", "--batch", "1", "--min-runs", "3", "--min-seconds", "0",
                             "--warmup", "1", "--json"], work, env))
    assert bench["results"][0]["median_ms"] > 0 and bench["threads"] == 1
    assert _run([str(work / "bundle" / "deploy" / "verify.py")], work, env).strip().endswith("bundle verified")
