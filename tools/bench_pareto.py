"""The accuracy–latency plane: searched networks against hand-designed baselines, over several seeds.

Issues #9 (does the search win?), #10 (predicted vs measured latency of searched nets) and #13 (SpectralMamba
beside the ResNets). Three phases, each resumable (a job whose run directory holds report.json is kept):

  train    every (dataset, model, seed) job as a compactrs CLI command, ``--jobs`` at a time with one thread
           each. These processes share the machine, so only their accuracy is used, never their timings.
  measure  ONE process, alone on the machine: every trained network exported to ONNX and timed in onnxruntime
           (1 intra-op thread, batch 1 and batch 32, interleaved rounds, median; batch 1 paired run by run
           with the reference graph, so its median is reference-normalised, ``raw_median_ms`` is the wall
           median and ``anchored_ms`` the time at the profile's machine speed), with the machine's state
           recorded and contended timings flagged; the kernel-level profile's prediction beside each.
  report   mean ± sd over seeds, the baselines' Pareto front (OA against measured batch-1 latency), whether
           each searched budget sits on or above it, a markdown table and docs/pareto-<dataset>.png.

Full run (the BENCHMARKS.md section):
    PYTHONPATH=. python tools/bench_pareto.py all --out /work/benchruns/pareto --profile profiles/P.json
Tiny smoke run (~2 min):
    PYTHONPATH=. python tools/bench_pareto.py all --out /tmp/pareto --datasets ip --seeds 0 --models resnet8 \\
        --mac-budgets ip=2M --latency-budgets ip= --epochs ip=1 --search-epochs ip=1 --retrain-epochs ip=1
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from compactrs._io import write_json  # noqa: E402
from compactrs.deploy.machine import describe_machine, watch_machine  # noqa: E402
from compactrs.units import human_count  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
DATASETS = {
    "ip": f"hsi:{DATA / 'hsi' / 'indian_pines_full'}",
    "eurosat": f"folder:{DATA / 'eurosat_rgb'},size=32",
}
BASELINES = ["resnet8", "resnet20", "resnet32", "resnet56", "patchcnn"]
EXTRA = {"ip": ["spectralmamba_t", "spectralmamba_s"], "eurosat": []}
PRUNED = "resnet20-pruned0.5"
FRONT_KINDS = ("baseline", "pruned")


def per_dataset(text: str, cast=str) -> dict[str, list]:
    """'ip=5M,10M;eurosat=10M' → {'ip': ['5M', '10M'], 'eurosat': ['10M']} (an empty list is allowed)."""
    out: dict[str, list] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        key, _, values = part.partition("=")
        out[key.strip()] = [cast(v) for v in values.split(",") if v.strip()]
    return out


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("phase", choices=["train", "measure", "report", "all"])
    p.add_argument("--out", required=True, help="directory of the runs and results")
    p.add_argument("--datasets", default="ip,eurosat")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--models", default=",".join(BASELINES),
                   help="hand-designed baselines (ResNet-20 is also pruned); MODEL:KEY=VALUE passes model options, e.g. "
                        "patchcnn:width=128")
    p.add_argument("--no-prune", action="store_true", help="skip the pruned ResNet-20")
    p.add_argument("--no-extra", action="store_true", help="skip the per-dataset extra models (SpectralMamba on ip)")
    p.add_argument("--mac-budgets", default="ip=5M,10M;eurosat=5M,10M")
    p.add_argument("--latency-budgets", default="ip=0.5ms;eurosat=1ms", help="--latency-target searches (need --profile)")
    p.add_argument("--profile", default=None, help="kernel-level latency profile (latency budgets, predictions)")
    p.add_argument("--landing-targets", default="", help="extra --latency-target searches (seed 0, short schedule) that "
                   "only check where the measured latency lands, e.g. 'ip=0.1ms,0.2ms;eurosat=0.5ms'")
    p.add_argument("--landing-epochs", type=int, default=3, help="search epochs of the landing searches (retrain: 1)")
    p.add_argument("--measured-landing", action="store_true", help="landing searches land on times measured here "
                   "(compactrs search --measured-landing; run them with --jobs 1 on a quiet machine)")
    p.add_argument("--no-retime", action="store_true", help="landing searches keep --profile as it is (compactrs "
                   "search --no-retime): re-time it once beforehand ('compactrs profile retime') when the searches "
                   "run two at a time, since a search re-timing beside another one's training is refused as busy")
    p.add_argument("--ops", default="mobile", help="search space ops preset")
    p.add_argument("--nodes", default="", help="nodes per cell of the searches, per dataset (e.g. ip=2); default: the "
                                               "search's 4. A run's name gets -n<nodes>")
    p.add_argument("--search-split", default="", help="--search-split of the searches, per dataset (e.g. ip=spatial); "
                                                      "default: the search's random. A run's name gets -<split>")
    p.add_argument("--search-args", default="", help="more options for every search (e.g. '--centre-width'); "
                                                     "a run's name gets them, compacted (-centre-width)")
    p.add_argument("--blocks", default="", help="blocks of the searches, per dataset (e.g. ip=1); default: the search's 3. "
                                                "A run's name gets -b<blocks>")
    p.add_argument("--epochs", default="ip=15;eurosat=10", help="training epochs of every baseline")
    p.add_argument("--search-epochs", default="ip=5;eurosat=3")
    p.add_argument("--retrain-epochs", default="ip=15;eurosat=10")
    p.add_argument("--prune-epochs", default="ip=2,6;eurosat=1,4", help="score-search, fine-tune epochs")
    p.add_argument("--jobs", type=int, default=2, help="training processes at once (one thread each)")
    p.add_argument("--predict-with", default=None, help="report: predict every network's latency with this profile "
                   "(e.g. one made after the measure phase) instead of the --profile predictions stored by measure")
    p.add_argument("--docs", default=str(ROOT / "docs"), help="where pareto-<dataset>.png go")
    return p.parse_args(argv)


# -- jobs --------------------------------------------------------------------------------------------
def plan(args) -> list[dict]:
    """Every job, seed-major (so an interrupted run has whole seeds), slow jobs first within a seed."""
    seeds = [int(s) for s in args.seeds.split(",")]
    names = [d for d in args.datasets.split(",") if d]
    epochs, search_e, retrain_e = (per_dataset(getattr(args, k), int) for k in ("epochs", "search_epochs", "retrain_epochs"))
    prune_e = per_dataset(args.prune_epochs, int)
    macs, lats = per_dataset(args.mac_budgets), per_dataset(args.latency_budgets)
    root = Path(args.out)
    jobs = []
    for ds, targets in per_dataset(args.landing_targets).items():
        for target in targets if args.profile and ds in names else []:
            jobs.append(dict(dataset=ds, seed=seeds[0], kind="landing", name=f"landing-{target}", budget=target, cmd=[
                "search", "--data", DATASETS[ds], "--latency-target", target, "--profile", str(Path(args.profile).resolve()),
                "--ops", args.ops, "--epochs", str(args.landing_epochs), "--retrain-epochs", "1", "--seed", str(seeds[0]),
                "--threads", "1", "--overwrite", "--json"] + (["--measured-landing"] if args.measured_landing else [])
                + (["--no-retime"] if args.no_retime else [])))
    nodes, blocks, splits = per_dataset(args.nodes, int), per_dataset(args.blocks, int), per_dataset(args.search_split)
    for seed in seeds:
        for ds in names:
            spec, common = DATASETS[ds], ["--seed", str(seed), "--threads", "1", "--overwrite", "--json"]
            space, suffix = [], ""
            for option, value in (("nodes", nodes.get(ds)), ("blocks", blocks.get(ds))):
                if value:
                    space += [f"--{option}", str(value[0])]
                    suffix += f"-{option[0]}{value[0]}"
            if splits.get(ds):
                space += ["--search-split", splits[ds][0]]
                suffix += f"-{splits[ds][0]}"
            if args.search_args:
                space += shlex.split(args.search_args)
                suffix += "-" + "-".join(part.lstrip("-") for part in shlex.split(args.search_args))
            for budget in macs.get(ds, []):
                jobs.append(dict(dataset=ds, seed=seed, kind="searched", name=f"search-{budget}{suffix}", budget=budget, cmd=[
                    "search", "--data", spec, "--flops-target", budget, "--ops", args.ops, "--epochs", str(search_e[ds][0]),
                    "--retrain-epochs", str(retrain_e[ds][0]), *space, *common]))
            for budget in lats.get(ds, []) if args.profile else []:
                jobs.append(dict(dataset=ds, seed=seed, kind="searched", name=f"search-{budget}{suffix}", budget=budget, cmd=[
                    "search", "--data", spec, "--latency-target", budget, "--profile", str(Path(args.profile).resolve()),
                    "--ops", args.ops, "--epochs", str(search_e[ds][0]), "--retrain-epochs", str(retrain_e[ds][0]), *space,
                    *common]))
            models = [m for m in args.models.split(",") if m] + ([] if args.no_extra else EXTRA.get(ds, []))
            for entry in models:
                # "patchcnn:width=128" trains patchcnn with --model-arg width=128, named patchcnn-width128
                model, *options = entry.split(":")
                name = "-".join([model, *(option.replace("=", "") for option in options)])
                kind = "spectral" if model.startswith("spectralmamba") else "baseline"
                model_args = [part for option in options for part in ("--model-arg", option)]
                jobs.append(dict(dataset=ds, seed=seed, kind=kind, name=name, cmd=[
                    "train", model, *model_args, "--data", spec, "--epochs", str(epochs[ds][0]), *common]))
            if not args.no_prune and "resnet20" in models:
                search_epochs, finetune = prune_e[ds]
                jobs.append(dict(dataset=ds, seed=seed, kind="pruned", name=PRUNED, after=f"{ds}/resnet20/{seed}", cmd=[
                    "prune", str(root / ds / f"resnet20-s{seed}"), "--flops-ratio", "0.5", "--search-epochs", str(search_epochs),
                    "--finetune-epochs", str(finetune), "--no-latency", *common]))
    jobs.sort(key=lambda j: priority(j, seeds[0], names[0]))
    for job in jobs:
        job["key"] = f"{job['dataset']}/{job['name']}/{job['seed']}"
        job["run_dir"] = str(root / job["dataset"] / f"{job['name']}-s{job['seed']}")
        job["cmd"] = [sys.executable, "-m", "compactrs.cli", *job["cmd"], "--out", job["run_dir"]]
    return jobs


CHEAP = ("spectralmamba_t", "spectralmamba_s", "patchcnn", "resnet8", "resnet20")  # in the order their seeds run


def priority(job: dict, first_seed: int, first_dataset: str) -> tuple:
    """What a short session needs first: one seed of everything on the first dataset, its searches, the second
    dataset's baselines, the cheap models' other seeds on the first dataset, the second dataset's searches, the rest."""
    first, searched, home = job["seed"] == first_seed, job["kind"] in ("searched", "landing"), job["dataset"] == first_dataset
    if first:
        tier = {(True, False): 0, (True, True): 1, (False, False): 2, (False, True): 4}[(home, searched)]
    elif home and not searched and job["name"] in CHEAP:
        tier = 3
    else:
        tier = 5 + searched
    return tier, job["seed"], CHEAP.index(job["name"]) if tier == 3 else 0


def done(job: dict) -> bool:
    return (Path(job["run_dir"]) / "report.json").is_file()


def running_elsewhere(jobs: list[dict]) -> list[dict]:
    """Jobs whose run directory is on another live process's command line (a restarted scheduler waits for them)."""
    lines = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            lines.append(cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            continue
    return [j for j in jobs if not done(j) and any(f"--out {j['run_dir']}" in line for line in lines)]


def _lock_path(job: dict) -> Path:
    return Path(job["run_dir"]).with_name(f".{Path(job['run_dir']).name}.lock")


def held_elsewhere(job: dict) -> bool:
    """True while another process runs the job or another scheduler holds its lock."""
    claim = claim_job(job)
    if claim is None:
        return True
    os.close(claim)  # closing releases the lock this call took
    return False


def claim_job(job: dict) -> int | None:
    """An exclusive lock on the job's run directory for this scheduler (a file descriptor), or None when another
    scheduler holds it or another process already runs the job. Two schedulers started on overlapping plans each
    looked once, at their start, and both launched the same job into the same directory."""
    import fcntl

    lock = _lock_path(job)
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    # looked at after the lock: a job started by a scheduler that has since died holds no lock but still runs
    if running_elsewhere([job]):
        os.close(fd)
        return None
    return fd


def run_jobs(jobs: list[dict], slots: int, log_dir: Path) -> dict[str, dict]:
    """Run the jobs ``slots`` at a time (a job with ``after`` waits for that job); returns key → outcome."""
    log_dir.mkdir(parents=True, exist_ok=True)
    outcome = {j["key"]: {"status": "kept", "seconds": None} for j in jobs if done(j)}
    external = running_elsewhere(jobs)
    todo = [j for j in jobs if not done(j) and j not in external]
    running: dict[str, tuple[subprocess.Popen, dict, float, int]] = {}
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    while todo or running or external:
        for job in list(external):
            if done(job):
                external.remove(job)
                outcome[job["key"]] = {"status": "ok (started by another scheduler)", "seconds": None}
            elif not held_elsewhere(job):  # its process ended without a report: do not wait for it forever
                external.remove(job)
                outcome[job["key"]] = {"status": "failed (run by another scheduler, ended without a report)", "seconds": None}
                print(f"[{time.strftime('%H:%M:%S')}] {job['key']}: {outcome[job['key']]['status']}", flush=True)
        for key, (proc, job, started, claim) in list(running.items()):
            if proc.poll() is None:
                continue
            del running[key]
            os.close(claim)
            status = "ok" if proc.returncode == 0 and done(job) else f"failed (exit {proc.returncode})"
            outcome[key] = {"status": status, "seconds": round(time.time() - started, 1)}
            print(f"[{time.strftime('%H:%M:%S')}] {key}: {status} in {outcome[key]['seconds']:.0f} s", flush=True)
        while todo and len(running) + len(external) < slots:
            ready = [j for j in todo if j.get("after") is None or outcome.get(j["after"], {}).get("status", "").startswith(("ok", "kept"))]
            blocked = [j for j in todo if j.get("after") and outcome.get(j["after"], {}).get("status", "").startswith("failed")]
            for job in blocked:
                todo.remove(job)
                outcome[job["key"]] = {"status": f"skipped ({job['after']} failed)", "seconds": None}
            if not ready:
                break
            job = ready[0]
            todo.remove(job)
            claim = claim_job(job)
            if claim is None:  # another scheduler started it since this one looked: wait for it like the others
                external.append(job)
                continue
            log = open(log_dir / (job["key"].replace("/", "_") + ".log"), "w")  # noqa: SIM115 (closed with the process)
            print(f"[{time.strftime('%H:%M:%S')}] start {job['key']}: {shlex.join(job['cmd'][1:])}", flush=True)
            running[job["key"]] = (subprocess.Popen(job["cmd"], stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT),
                                   job, time.time(), claim)
        time.sleep(2)
    return outcome


# -- measure -----------------------------------------------------------------------------------------
def measure(jobs: list[dict], out: Path, profile_path: str | None) -> dict:
    """Export every finished network to ONNX and time them side by side in this one process."""
    import onnxruntime  # noqa: F401  (fail early with the import error)

    from compactrs.cost._measure import REFERENCE_FILE, REFERENCE_SHAPE, ort_callable, write_reference_graph
    from compactrs.cost.kernel_latency import KernelProfile
    from compactrs.deploy.runners import onnxruntime_session
    from compactrs.deploy.timing import TimingConfig, time_interleaved
    from compactrs.runtime.onnx import export_onnx
    from compactrs.training import load_checkpoint

    profile = KernelProfile.load(profile_path) if profile_path else None
    onnx_dir = out / "onnx"
    onnx_dir.mkdir(parents=True, exist_ok=True)
    items = []
    for job in filter(done, jobs):
        report = json.loads((Path(job["run_dir"]) / "report.json").read_text())
        shape = (report["in_bands"], *report["input_size"])
        path = onnx_dir / (job["key"].replace("/", "_") + ".onnx")
        checkpoint = Path(job["run_dir"]) / "model.pt"
        if not path.is_file() or path.stat().st_mtime < checkpoint.stat().st_mtime:  # a re-trained job: export again
            model, _ = load_checkpoint(checkpoint)
            export_onnx(model, path, (1, *shape))
        predicted = None
        # a search that re-timed its profile (compactrs search --retime) priced its network at the machine's
        # speed then: scale the stored profile's price by its factor and state the measurement at that speed
        retime = ((report.get("latency_ms") or {}).get("predicted") or {}).get("retime") or {}
        if profile is not None:
            try:
                predicted = profile.predict_onnx(path, (1, *shape)) * retime.get("factor", 1.0)
            except Exception as exc:  # outside the profile's region: recorded, not fatal
                predicted = f"not predicted: {str(exc).splitlines()[0]}"
        items.append((job, path, shape, predicted, retime.get("reference_ms")))
    print(f"timing {len(items)} networks (onnxruntime, 1 thread, batch 1 and 32)", flush=True)
    # batch 1 is paired run by run with the reference graph (compactrs.deploy.timing), as the profile's networks
    # were: a network's time is then also stated at the profile's own machine speed (anchored_ms = its time
    # × the profile's reference median / the reference's median in the same window), which is what the
    # profile's predictions and a latency target mean on a VM whose speed moves by phases.
    # (a profile re-timed by 'compactrs profile retime' states its predictions at the speed of its re-timing)
    from compactrs.nas.api import _profile_anchor_ms

    anchor = _profile_anchor_ms(profile) if profile is not None else None
    reference = ort_callable(write_reference_graph(onnx_dir / REFERENCE_FILE), REFERENCE_SHAPE, 1)
    results = {}
    for batch, config in ((1, TimingConfig(warmup=5, min_runs=60, min_seconds=0.6, rounds=3, reference=True)),
                          (32, TimingConfig(warmup=2, min_runs=12, min_seconds=0.9, rounds=3))):
        calls = []
        for job, path, shape, _, _ in items:
            session = onnxruntime_session(path, threads=1)
            feed = {session.get_inputs()[0].name: np.random.default_rng(0).standard_normal((batch, *shape)).astype(np.float32)}
            calls.append(lambda s=session, f=feed: s.run(None, f))
        state: dict = {}
        with watch_machine() as conditions:
            timed = time_interleaved(calls, config, reference=reference if config.reference else None,
                                     reference_state=state)
        if state:
            conditions = {**conditions, "reference": state}
        print(f"  batch {batch}: {conditions['reason']}", flush=True)
        for (job, _, _, predicted, retimed_at), record in zip(items, timed):
            entry = results.setdefault(job["key"], {"predicted_ms": predicted})
            entry[f"b{batch}"] = {k: record[k] for k in ("median_ms", "p90_ms", "n", "round_ms", "raw_median_ms")
                                  if k in record}
            if state and (retimed_at or anchor):
                entry[f"b{batch}"]["anchored_ms"] = record["median_ms"] * (retimed_at or anchor) / state["median_ms"]
                entry[f"b{batch}"]["anchor"] = "the search's re-timing" if retimed_at else "the profile's timing"
            entry[f"b{batch}_conditions"] = conditions
    return {"machine": describe_machine(), "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "runtime": "onnxruntime CPU, 1 intra-op thread, median of 3 interleaved rounds", "networks": results}


# -- report ------------------------------------------------------------------------------------------
def repredict(jobs: list[dict], out: Path, latency: dict, profile_path: str) -> None:
    """Replace the stored predictions with ``profile_path``'s for every exported network (no timing involved)."""
    from compactrs.cost.kernel_latency import KernelProfile

    profile = KernelProfile.load(profile_path)
    for job in jobs:
        path = out / "onnx" / (job["key"].replace("/", "_") + ".onnx")
        if job["key"] not in latency or not path.is_file():
            continue
        report = json.loads((Path(job["run_dir"]) / "report.json").read_text())
        try:
            latency[job["key"]]["predicted_ms"] = profile.predict_onnx(path, (1, report["in_bands"], *report["input_size"]))
        except Exception as exc:  # outside the profile's region
            latency[job["key"]]["predicted_ms"] = f"not predicted: {str(exc).splitlines()[0]}"


def collect(jobs: list[dict], latency: dict) -> list[dict]:
    rows = []
    for job in filter(done, jobs):
        report = json.loads((Path(job["run_dir"]) / "report.json").read_text())
        lat = latency.get(job["key"], {})
        target = report.get("target") or {}
        rows.append(dict(dataset=job["dataset"], name=job["name"], kind=job["kind"], seed=job["seed"], oa=report["oa"],
                         aa=report["aa"], kappa=report["kappa"], macs=report["macs"], params=report["params"],
                         b1=lat.get("b1", {}).get("median_ms"), b32=lat.get("b32", {}).get("median_ms"),
                         b1_raw=lat.get("b1", {}).get("raw_median_ms"), b1_anchored=lat.get("b1", {}).get("anchored_ms"),
                         predicted=lat.get("predicted_ms") if isinstance(lat.get("predicted_ms"), float) else None,
                         met=target.get("met"), budget=job.get("budget"),
                         search_predicted=((report.get("latency_ms") or {}).get("predicted") or {}).get("ms"),
                         retrained_ms=((report.get("latency_ms") or {}).get("landing") or {}).get("trained_ms"), seconds=(report.get("search_seconds") or 0) + (report.get("train_seconds") or 0)))
    return rows


def summarise(rows: list[dict]) -> list[dict]:
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        if row["kind"] == "landing":
            continue
        groups.setdefault((row["dataset"], row["name"]), []).append(row)
    out = []
    for (ds, name), members in groups.items():
        def stat(key):
            vals = [m[key] for m in members if m[key] is not None]
            return (float(np.mean(vals)), float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0) if vals else (None, None)
        out.append(dict(dataset=ds, name=name, kind=members[0]["kind"], seeds=len(members),
                        **{f"{k}_{s}": v for k in ("oa", "aa", "kappa", "macs", "params", "b1", "b32", "predicted")
                           for s, v in zip(("mean", "sd"), stat(k))}))
    return out


def front_verdicts(summary: list[dict]) -> None:
    """Each non-front model: the best front-model mean OA among those no slower (batch 1), and on/above or below."""
    for ds in {s["dataset"] for s in summary}:
        front = [s for s in summary if s["dataset"] == ds and s["kind"] in FRONT_KINDS and s["b1_mean"] is not None]
        for s in summary:
            if s["dataset"] != ds or s["kind"] in FRONT_KINDS or s["b1_mean"] is None:
                continue
            faster = [f for f in front if f["b1_mean"] <= s["b1_mean"]]
            best = max(faster, key=lambda f: f["oa_mean"]) if faster else None
            s["best_no_slower"] = best and f"{best['name']} ({best['oa_mean']:.4f} at {best['b1_mean']:.3f} ms)"
            s["on_front"] = best is None or s["oa_mean"] >= best["oa_mean"]


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points (latency, OA) not beaten by a faster-or-equal point with higher OA, sorted by latency."""
    front, best = [], -1.0
    for lat, oa in sorted(points):
        if oa > best:
            front.append((lat, oa))
            best = oa
    return front


def plot(summary: list[dict], dataset: str, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [s for s in summary if s["dataset"] == dataset and s["b1_mean"] is not None]
    fig, ax = plt.subplots(figsize=(8, 5.5))
    styles = {"baseline": ("o", "tab:blue"), "pruned": ("s", "tab:cyan"), "spectral": ("D", "tab:purple"), "searched": ("*", "tab:red")}
    for s in rows:
        marker, colour = styles[s["kind"]]
        ax.errorbar(s["b1_mean"], s["oa_mean"], yerr=s["oa_sd"], fmt=marker, color=colour, ms=10 if marker == "*" else 7, capsize=3)
        ax.annotate(s["name"], (s["b1_mean"], s["oa_mean"]), textcoords="offset points", xytext=(5, 4), fontsize=8)
        if s["kind"] == "searched" and s["predicted_mean"]:
            ax.plot([s["predicted_mean"], s["b1_mean"]], [s["oa_mean"]] * 2, ":", color=colour, lw=1)
            ax.plot(s["predicted_mean"], s["oa_mean"], marker, mfc="none", color=colour, ms=10)
    front = pareto_front([(s["b1_mean"], s["oa_mean"]) for s in rows if s["kind"] in FRONT_KINDS])
    if front:
        xs = [p[0] for p in front] + [max(s["b1_mean"] for s in rows) * 1.2]
        ys = [p[1] for p in front] + [front[-1][1]]
        ax.step(xs, ys, where="post", color="tab:blue", alpha=0.4, label="baselines' Pareto front")
    for kind, (marker, colour) in styles.items():
        ax.plot([], [], marker, color=colour, label={"baseline": "hand-designed", "pruned": "ResNet-20 pruned 0.5",
                                                     "spectral": "SpectralMamba", "searched": "searched (measured)"}[kind])
    ax.plot([], [], "*", mfc="none", color="tab:red", label="searched (predicted by the profile)")
    ax.set_xscale("log")
    ax.set_xlabel("onnxruntime latency, batch 1, 1 thread (ms, median; log scale)")
    ax.set_ylabel("overall accuracy (mean ± sd over seeds)")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="lower right")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)
    tmp.replace(path)


def markdown(summary: list[dict]) -> str:
    lines = ["| dataset | model | seeds | OA % | AA % | κ | MACs | params | ORT b1 ms | ORT b32 ms | predicted b1 ms | on/above front |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    order = {"baseline": 0, "pruned": 1, "spectral": 2, "searched": 3}
    for s in sorted(summary, key=lambda s: (s["dataset"], order[s["kind"]], s["macs_mean"] or 0)):
        def pm(key, scale=100, digits=2):
            return "-" if s[f"{key}_mean"] is None else f"{s[f'{key}_mean'] * scale:.{digits}f} ± {s[f'{key}_sd'] * scale:.{digits}f}"
        verdict = "" if "on_front" not in s else ("yes" if s["on_front"] else f"no (best no slower: {s['best_no_slower']})")
        lines.append(f"| {s['dataset']} | {s['name']} | {s['seeds']} | {pm('oa')} | {pm('aa')} | {pm('kappa', 1, 3)} | "
                     f"{human_count(s['macs_mean'])} | {human_count(s['params_mean'])} | {pm('b1', 1, 3)} | {pm('b32', 1, 2)} | "
                     f"{pm('predicted', 1, 3) if s['predicted_mean'] else '-'} | {verdict} |")
    return "\n".join(lines)


def landing_table(rows: list[dict]) -> str:
    """Every latency-budget search: target, the search's own prediction, the measured latency and the miss.

    The verdict uses the time at the machine speed the prediction describes (``anchored``: the profile's, or
    the re-timing's of a re-timed profile or search; see ``measure``) where it was measured, else the session
    median; the plain wall-clock median is shown beside it."""
    from compactrs.units import parse_ms

    lines = ["| dataset | target ms | seed | predicted by the search ms | measured ORT b1 ms (wall median) | "
             "measured at the prediction's machine speed ms | measured / target | within ±10 % | "
             "timed by the search right after retraining ms (÷ target; --measured-landing) |",
             "|---|---|---|---|---|---|---|---|---|"]
    picked = [r for r in rows if r["budget"] and r["budget"].endswith("ms") and r["b1"] is not None]
    for r in sorted(picked, key=lambda r: (r["dataset"], parse_ms(r["budget"]), r["seed"])):
        target = parse_ms(r["budget"])
        pred = "-" if r["search_predicted"] is None else f"{r['search_predicted']:.3f}"
        measured = r["b1_anchored"] if r.get("b1_anchored") is not None else r["b1"]
        wall = r["b1_raw"] if r.get("b1_raw") is not None else r["b1"]
        anchored = "-" if r.get("b1_anchored") is None else f"{r['b1_anchored']:.3f}"
        lines.append(f"| {r['dataset']} | {target:g} | {r['seed']} | {pred} | {wall:.3f} | {anchored} | "
                     f"{measured / target:.2f} | {'yes' if abs(measured / target - 1) <= 0.1 else 'no'} | "
                     + ("-" if r.get("retrained_ms") is None else f"{r['retrained_ms']:.3f} ({r['retrained_ms'] / target:.2f})")
                     + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    jobs = plan(args)
    command = shlex.join([sys.executable, *sys.argv])
    print(f"$ {command}\n{len(jobs)} jobs, {sum(map(done, jobs))} already done", flush=True)
    if args.phase in ("train", "all"):
        started = time.time()
        outcome = run_jobs(jobs, args.jobs, out / "logs")
        write_json(out / "train.json", {"command": command, "jobs": jobs, "outcome": outcome, "wall_s": round(time.time() - started)})
    if args.phase in ("measure", "all"):
        write_json(out / "latency.json", measure(jobs, out, args.profile))
    if args.phase in ("report", "all"):
        latency = json.loads((out / "latency.json").read_text())["networks"] if (out / "latency.json").is_file() else {}
        if args.predict_with:
            repredict(jobs, out, latency, args.predict_with)
        rows = collect(jobs, latency)
        summary = summarise(rows)
        front_verdicts(summary)
        names = {"ip": "Indian Pines (full scene, spatially disjoint split, 200×9×9)", "eurosat": "EuroSAT RGB (32×32)"}
        for ds in {s["dataset"] for s in summary}:
            plot(summary, ds, Path(args.docs) / f"pareto-{ds}.png", names.get(ds, ds))
        table = markdown(summary) + "\n\n" + landing_table(rows)
        write_json(out / "results.json", {"command": command, "machine": describe_machine(),
                                          "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "summary": summary})
        (out / "table.md").write_text(table + "\n")
        print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
