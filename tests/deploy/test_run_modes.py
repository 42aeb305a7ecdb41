"""The device scripts run three ways — ``python -m compactrs.deploy.X``, ``python compactrs/deploy/X.py`` and
``python BUNDLE/deploy/X.py`` (test_bundle.py) — and the host never puts the device modules on ``sys.path``."""
import json
import subprocess
import sys
from pathlib import Path

import compactrs.deploy

PACKAGE_DIR = Path(compactrs.deploy.__file__).resolve().parent


def test_verify_as_a_module_of_the_installed_package(ip_bundle, tmp_path):
    bundle, _ = ip_bundle
    result = subprocess.run([sys.executable, "-m", "compactrs.deploy.verify", str(bundle), "--json"], capture_output=True,
                            text=True, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["passed"]


def test_verify_from_the_source_tree_without_torch(ip_bundle, device_python):
    bundle, _ = ip_bundle
    result = device_python(PACKAGE_DIR / "verify.py", bundle, "--runtime", "onnxruntime")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("bundle verified")


def test_a_script_without_a_bundle_says_what_to_pass(device_python, tmp_path):
    result = device_python(PACKAGE_DIR / "bench.py", tmp_path)
    assert result.returncode == 2 and "no manifest.json in" in result.stderr and "Traceback" not in result.stderr


def test_bench_rows_say_whether_the_machine_was_busy(ip_bundle, device_python):
    bundle, _ = ip_bundle
    result = device_python(bundle / "deploy" / "bench.py", "--batch", "2", "--threads", "1", "--min-seconds", "0.05",
                           "--min-runs", "3", "--warmup", "1", "--json")  # no BUNDLE: the bundle the script sits in
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["bundle"] == str(bundle.resolve()) and report["threads"] == 1 and report["statistic"] == "median"
    (row,) = report["results"]
    assert isinstance(row["conditions"]["contended"], bool) and row["conditions"]["reason"]
    assert report["contended"] == row["conditions"]["contended"]


def test_the_host_keeps_device_modules_off_sys_path(ip_bundle):
    # ip_bundle exported in this process: the golden self-check ran deploy/verify.py's code here
    assert not [p for p in sys.path if Path(p).name == "deploy"]
    generic = {"verify", "bundle", "runners", "timing", "machine", "bench", "run", "_common", "_trt"}
    assert not generic & set(sys.modules)
