"""The layering of docs/ARCHITECTURE.md holds: a module imports only from its own layer or the layers below it.

Every module under compactrs/ is parsed with ``ast`` and every import in it — module level and inside
functions alike — is checked. ``compactrs/deploy`` additionally imports nothing from compactrs (outside
itself) and never torch: bundles carry it to devices that have neither.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "compactrs"

#: the layers of docs/ARCHITECTURE.md, lowest first; a module belongs to the longest prefix that names it.
LAYERS = {
    "compactrs.errors": 0, "compactrs.units": 0, "compactrs._io": 0, "compactrs._env": 0, "compactrs._progress": 0,
    "compactrs.runtime": 1, "compactrs.deploy": 1,
    "compactrs.nn": 2, "compactrs.data": 2,
    "compactrs.models": 3,
    "compactrs.cost": 4,
    "compactrs.training": 5,
    "compactrs.exporter": 6, "compactrs.bench": 6,
    "compactrs.nas": 7, "compactrs.pruning": 7,
    "compactrs.cli": 8, "compactrs.commands": 8, "compactrs": 8,  # the package's public surface re-exports every stage
}
#: what the device package may import besides the standard library and itself (runtimes lazily, inside functions)
DEVICE_ALLOWED = {"numpy", "onnxruntime", "tensorrt", "openvino", "tifffile"}


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(path: Path, module: str) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in the file, relative imports resolved."""
    is_package = path.name == "__init__.py"
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            # "from compactrs import x" / "from . import x" may name submodules: check each one
            submodules = node.module is None or target == module.split(".")[0]
            names += [(node.lineno, f"{target}.{alias.name}") for alias in node.names] if submodules else [(node.lineno, target)]
    return names


def layer_of(name: str) -> int | None:
    """The layer of a module: its longest prefix in LAYERS (the bare package name matches only itself)."""
    parts = name.split(".")
    for end in range(len(parts), 1, -1):
        prefix = ".".join(parts[:end])
        if prefix in LAYERS:
            return LAYERS[prefix]
    return LAYERS.get(name)


def layer_violations(root: Path) -> list[str]:
    """Every import under ``root`` that breaks the layering, one readable line each."""
    problems = []
    for path in sorted(root.rglob("*.py")):
        module = module_name(path, root)
        own = layer_of(module)
        device = module.startswith(f"{root.name}.deploy")
        for line, name in imported_names(path, module):
            where = f"{path.relative_to(root.parent)}:{line}"
            top = name.split(".")[0]
            if device and (top == "torch" or (top == root.name and not name.startswith(f"{root.name}.deploy"))):
                problems.append(f"{where}: {module} (device package, layer 1) imports {name}: compactrs/deploy must import "
                                f"neither torch nor the rest of compactrs")
            elif device and top != root.name and top not in sys.stdlib_module_names and top not in DEVICE_ALLOWED:
                problems.append(f"{where}: {module} (device package) imports {name}, which a device need not have; "
                                f"allowed: the standard library, {sorted(DEVICE_ALLOWED)}")
            target = layer_of(name) if top == root.name else None
            if target is not None and own is not None and target > own:
                problems.append(f"{where}: {module} (layer {own}) imports {name} (layer {target}): imports go only down")
    return problems


def test_every_module_imports_only_from_its_layer_or_below():
    problems = layer_violations(PACKAGE)
    assert not problems, "layering broken:\n" + "\n".join(problems)


def test_every_module_has_a_layer(tmp_path):
    fake = tmp_path / "compactrs"
    fake.mkdir()
    (fake / "_helpers.py").write_text("")
    assert unplaced_modules(fake) == ["compactrs._helpers"]
    unplaced = unplaced_modules(PACKAGE)
    assert not unplaced, f"modules outside every layer of docs/ARCHITECTURE.md: {unplaced}; add them to LAYERS"


def unplaced_modules(root: Path) -> list[str]:
    return sorted({module_name(p, root) for p in root.rglob("*.py") if layer_of(module_name(p, root)) is None})


@pytest.mark.parametrize("source, expected", [
    ("from compactrs.training import train\n", "compactrs.cost._bad (layer 4) imports compactrs.training (layer 5)"),
    ("def f():\n    from compactrs.exporter.onnx import export_onnx\n", "imports compactrs.exporter.onnx (layer 6)"),
    ("from ..nas import search\n", "imports compactrs.nas (layer 7)"),
])
def test_the_check_catches_an_upward_import(tmp_path, source, expected):
    fake = tmp_path / "compactrs"
    (fake / "cost").mkdir(parents=True)
    (fake / "cost" / "_bad.py").write_text(source)
    problems = layer_violations(fake)
    assert len(problems) == 1 and expected in problems[0] and "compactrs/cost/_bad.py" in problems[0]


@pytest.mark.parametrize("source", ["import torch\n", "def f():\n    from compactrs.errors import ConfigError\n", "import scipy\n"])
def test_the_check_keeps_the_device_package_torch_free(tmp_path, source):
    fake = tmp_path / "compactrs"
    (fake / "deploy").mkdir(parents=True)
    (fake / "deploy" / "verify.py").write_text(source + "from .bundle import fail\nimport numpy, json\n")
    problems = layer_violations(fake)
    assert len(problems) == 1 and "compactrs.deploy.verify (device package" in problems[0]
