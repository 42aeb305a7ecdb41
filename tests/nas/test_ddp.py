"""The search command under torchrun: two gloo processes on CPU stay in sync; rank 0 writes the run."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ~20 s: two Python processes importing torch, then search + retrain on rank 0 (kept in the default run: the DDP smoke test)
def test_search_runs_on_two_gloo_processes(tmp_path):
    out = tmp_path / "run"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
               "--master_port", str(free_port()), "-m", "compactrs.cli", "search", "--data", "synthetic,n=8,size=8",
               "--flops-target", "400K", "--epochs", "2", "--retrain-epochs", "1", "--batch-size", "4", "--max-depth", "2",
               "--init-channels", "4", "--ops", "zero,skip_connect,sep_conv_3x3,max_pool_3x3", "--threads", "1",
               "--out", str(out), "--json"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "TMPDIR": str(tmp_path)}  # torchrun's scratch too
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout[done.stdout.index("{"):])  # only rank 0 prints
    assert report["search"]["processes"] == 2
    # every epoch passed the cross-rank checksum of weights and architecture (else the run raises)
    assert len((out / "search" / "metrics.jsonl").read_text().splitlines()) == 2
    for name in ("genotype.json", "arch.json", "model.pt", "report.json"):
        assert (out / name).is_file()
    assert not (tmp_path / "run.search").exists()
