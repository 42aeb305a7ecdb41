"""tools/bench_cell_shapes.py and bench_pareto's --nodes/--blocks, on tiny settings."""
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

TOOLS = Path(__file__).resolve().parents[2] / "tools"


def test_cell_shapes_times_every_shape_beside_the_reference_models(tmp_path):
    out = tmp_path / "shapes.json"
    done = subprocess.run([sys.executable, str(TOOLS / "bench_cell_shapes.py"), "--input", "3x8", "--shapes", "1:1:8,2:2:8",
                           "--archs", "2", "--max-depth", "1", "--classes", "3", "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    data = json.loads(out.read_text())
    assert list(data["summary"]) == ["resnet8", "resnet20", "nodes 1, blocks 1, width 8", "nodes 2, blocks 2, width 8"]
    cells = [n for n in data["networks"] if "genotype" in n]
    assert [len(n["genotype"]["normal"]) for n in cells] == [2, 2, 4, 4]
    assert [len(n["genotype"]["depths"]) for n in cells] == [1, 1, 2, 2]
    assert all(n["median_ms"] > 0 and n["ms_per_mmac"] == n["median_ms"] / (n["macs"] / 1e6) for n in data["networks"])
    assert {"contended", "reason", "reference"} <= set(data["conditions"])


def test_pareto_plan_passes_the_space_shape_to_searches_only():
    spec = importlib.util.spec_from_file_location("bench_pareto", TOOLS / "bench_pareto.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    args = bench.parse_args(["train", "--out", "/nonexistent/plan", "--datasets", "ip,eurosat", "--seeds", "0",
                             "--models", "patchcnn,patchcnn:width=128", "--no-prune", "--no-extra", "--mac-budgets", "ip=5M;eurosat=5M",
                             "--latency-budgets", "", "--nodes", "ip=2", "--blocks", "ip=1",
                             "--search-split", "ip=spatial", "--search-args=--centre-width --arch-lr 0.01"])
    jobs = {job["key"]: job["cmd"] for job in bench.plan(args)}
    ip = jobs["ip/search-5M-n2-b1-spatial-centre-width-arch-lr-0.01/0"]
    assert ip[ip.index("--search-split") + 1] == "spatial" and "--centre-width" in ip
    assert ip[ip.index("--arch-lr") + 1] == "0.01"
    assert ip[ip.index("--nodes") + 1] == "2" and ip[ip.index("--blocks") + 1] == "1"
    assert "--nodes" not in jobs["eurosat/search-5M-centre-width-arch-lr-0.01/0"] and "--nodes" not in jobs["ip/patchcnn/0"]
    assert "--centre-width" not in jobs["ip/patchcnn/0"] and "--model-arg" not in jobs["ip/patchcnn/0"]
    wide = jobs["ip/patchcnn-width128/0"]  # a baseline's model options: its own name, passed to train
    assert wide[wide.index("train") + 1] == "patchcnn" and wide[wide.index("--model-arg") + 1] == "width=128"


def test_supernet_ranking_scores_every_op_on_both_splits(tmp_path, indian_pines):
    out = tmp_path / "ranking.json"
    profile = TOOLS.parent / "profiles" / "amd-epyc-2c-onnxruntime-fp32-t1.json"
    done = subprocess.run([sys.executable, str(TOOLS / "diag_supernet_ranking.py"), "--data", f"hsi:{indian_pines}",
                           "--latency-target", "0.3", "--profile", str(profile), "--ops", "zero,skip_connect,conv_3x3,max_pool_3x3",
                           "--nodes", "1", "--blocks", "1", "--max-depth", "2", "--depth", "2", "--width", "8",
                           "--epochs", "1", "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    data = json.loads(out.read_text())
    assert [r["op"] for r in sorted(data["ranking"], key=lambda r: r["op"])] == ["conv_3x3", "max_pool_3x3", "skip_connect"]
    assert all(0 <= r["architecture_half"] <= 1 and 0 <= r["test"] <= 1 for r in data["ranking"])
    assert data["ranking"] == sorted(data["ranking"], key=lambda r: -r["architecture_half"])
    assert data["halves"]["method"] == "spatial-blocks" and len(data["derived"]["normal"]) == 2
