"""The profile JSON format (DESIGN.md "profile JSON"): its schema id, its checks and its file I/O."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

from compactrs._io import write_json
from compactrs.errors import ArtifactError

PROFILE_SCHEMA = "compactrs.latency-profile/1"
REQUIRED = ("schema", "device", "runtime", "precision", "threads", "batch", "space", "entries", "overhead")
SPACE_LISTS = ("in_bands", "input_size", "init_channels", "num_classes", "ops")
SPACE_INTS = ("nodes", "blocks", "max_depth", "stem_multiplier")
ENTRY_FIELDS = ("op", "c_in", "c_out", "h", "w", "stride", "median_ms", "p90_ms", "n")


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_profile(data, source: str = "profile") -> dict:
    """Return ``data`` if it is a well-formed profile, else raise ArtifactError naming the first problem."""
    def fail(problem: str):
        raise ArtifactError(f"{source} is not a valid compactrs latency profile: {problem}; "
                            f"re-create it with 'compactrs profile --out {source}'")

    if not isinstance(data, dict):
        fail(f"expected a JSON object, got {type(data).__name__}")
    if data.get("schema") != PROFILE_SCHEMA:
        fail(f"schema is {data.get('schema')!r}, expected {PROFILE_SCHEMA!r}")
    missing = [key for key in REQUIRED if key not in data]
    if missing:
        fail(f"missing keys {missing}")
    space = data["space"]
    if not isinstance(space, dict):
        fail("'space' must be an object")
    for key in SPACE_LISTS:
        if not isinstance(space.get(key), list) or not space[key]:
            fail(f"space.{key} must be a non-empty list")
    for key in SPACE_INTS:
        if not isinstance(space.get(key), int):
            fail(f"space.{key} must be an integer")
    entries = data["entries"]
    if not isinstance(entries, list) or not entries:
        fail("'entries' must be a non-empty list")
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or any(field not in entry for field in ENTRY_FIELDS):
            fail(f"entry {index} lacks some of {list(ENTRY_FIELDS)}")
        if not all(_number(entry[f]) for f in ENTRY_FIELDS[1:]) or entry["median_ms"] < 0:
            fail(f"entry {index} ({entry['op']}) has a non-numeric or negative field")
    overhead = data["overhead"]
    if not isinstance(overhead, dict) or not isinstance(overhead.get("coefficients"), dict):
        fail("'overhead.coefficients' must be an object")
    if not all(_number(v) for v in overhead["coefficients"].values()):
        fail("'overhead.coefficients' must hold finite numbers")
    return data


def read_profile(path: str | os.PathLike) -> dict:
    """Read and check a profile JSON file; ArtifactError on a missing, unreadable or malformed file."""
    return check_profile(read_profile_json(path), str(path))


def read_profile_json(path: str | os.PathLike) -> dict:
    """The JSON of any latency profile (either schema), unchecked; ArtifactError on a missing or unreadable file."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"latency profile '{path}' does not exist; measure one with "
                            f"'compactrs profile --runtime onnxruntime --out {path}' or pass a file from profiles/")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"latency profile '{path}' is not readable JSON ({exc}); re-create it with "
                            f"'compactrs profile --out {path}'") from exc


def write_profile(path: str | os.PathLike, data: dict) -> Path:
    """Check and write a profile atomically."""
    check_profile(data, str(path))
    return write_json(path, data)
