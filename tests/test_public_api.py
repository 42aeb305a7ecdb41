import importlib
import inspect

import compactrs

STAGES = {"train": "compactrs.training", "search": "compactrs.nas", "prune": "compactrs.pruning", "export": "compactrs.exporter"}


def test_stage_functions_never_collide_with_their_subpackages():
    # importing every stage subpackage (as any later import would) must leave the public functions alone
    for package in STAGES.values():
        importlib.import_module(package)
        importlib.import_module(package + ".api")
    for name, package in STAGES.items():
        function = getattr(compactrs, name)
        assert inspect.isfunction(function), name
        assert function is getattr(importlib.import_module(package), name)
    for name in ("validate", "benchmark", "load_dataset", "create_model"):
        assert callable(getattr(compactrs, name)), name
    from compactrs.training import TrainConfig

    assert compactrs.TrainConfig is TrainConfig


def test_calling_the_stage_reaches_the_function(tmp_path):
    report = compactrs.train("resnet8", "synthetic,n=8", compactrs.TrainConfig(epochs=1, threads=1), out=tmp_path / "r")
    assert report["model"] == "resnet8" and (tmp_path / "r" / "model.pt").is_file()


def test_every_export_resolves():
    for name in compactrs.__all__:
        assert getattr(compactrs, name) is not None
