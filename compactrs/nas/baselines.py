"""Baseline points for the accuracy-vs-MACs chart: run directories, report.json files or bench results JSON.

Numbers are only ever read from files the user names (reports of runs trained in the same harness, or the
results JSON of ``tools/bench_search.py``); nothing is assumed.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from compactrs.errors import ArtifactError


def _entry(record: dict, source: str) -> dict:
    name = record.get("name") or record.get("model") or Path(source).parent.name
    return {"name": str(name), "oa": float(record["oa"]), "aa": record.get("aa"), "kappa": record.get("kappa"),
            "macs": float(record["macs"]), "params": record.get("params"), "dataset": record.get("dataset"), "source": source}


def load_baselines(paths, dataset_spec: str | None = None) -> tuple[list[dict], list[str]]:
    """Read baseline results; returns (entries for ``dataset_spec`` (all if None), notes about skipped ones).

    A path may be a run directory (its report.json), a report.json, or a JSON with a ``baselines`` list of
    ``{"name"|"model", "oa", "macs", "dataset", ...}`` records (what tools/bench_search.py writes).

    Raises:
        ArtifactError: a path that does not exist or holds no usable results.
    """
    entries, notes = [], []
    for raw in paths or ():
        path = Path(os.fspath(raw))
        file = path / "report.json" if path.is_dir() else path
        if not file.is_file():
            raise ArtifactError(f"baseline '{raw}' is neither a run directory with report.json nor a JSON file; "
                                f"pass runs made by 'compactrs train' or the results JSON of tools/bench_search.py")
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ArtifactError(f"baseline file '{file}' is not valid JSON ({exc})") from exc
        records = data.get("baselines") if isinstance(data, dict) and "baselines" in data else [data]
        found = 0
        for record in records or []:
            if not isinstance(record, dict) or "oa" not in record or "macs" not in record:
                continue
            found += 1
            if dataset_spec is not None and record.get("dataset") not in (None, dataset_spec):
                notes.append(f"skipped baseline {record.get('name') or record.get('model')} from {file}: trained on {record.get('dataset')}, not {dataset_spec}")
                continue
            entries.append(_entry(record, str(file)))
        if not found:
            raise ArtifactError(f"baseline file '{file}' holds no result with 'oa' and 'macs'; pass a report.json or a bench results JSON")
    return entries, notes
