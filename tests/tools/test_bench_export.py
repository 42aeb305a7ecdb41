"""tools/bench_export.py on a tiny setting: every runtime / precision row of the table, with parity and speed-ups."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("openvino")
pytest.importorskip("nncf")

SCRIPT = Path(__file__).resolve().parents[2] / "tools" / "bench_export.py"


@pytest.mark.slow  # ~40 s on a busy 2-core machine (a subprocess importing torch + NNCF, two quantisations)
def test_bench_export_table_has_every_runtime_and_precision(tmp_path):
    out = tmp_path / "rows.json"
    result = subprocess.run([sys.executable, str(SCRIPT), "--models", "resnet8:3:8", "--batches", "1,2", "--min-seconds", "0",
                             "--min-runs", "2", "--rounds", "1", "--calib", "8", "--threads", "1", "--out", str(out)],
                            capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = json.loads(out.read_text())["rows"]
    assert [(r["runtime"], r["precision"]) for r in rows] == [("torch", "fp32"), ("onnxruntime", "fp32"), ("onnxruntime", "int8"),
                                                             ("openvino", "fp32"), ("openvino", "bf16"), ("openvino", "int8")]
    assert all(r["b1_ms"] > 0 and r["b2_ms"] > 0 for r in rows)
    assert rows[1]["b1_speedup"] == 1.0 and rows[1]["b2_speedup"] == 1.0  # speed-ups are over onnxruntime FP32
    assert rows[1]["fp32_allclose_1e-5"] and rows[3]["fp32_allclose_1e-5"] and rows[3]["fp32_max_abs_err"] < 1e-4
    assert "| OpenVINO bf16" in result.stdout and "n/a (random weights)" in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.json"]  # nothing else written where it ran
