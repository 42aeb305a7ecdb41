import importlib

import compactrs


def test_stage_functions_are_not_shadowed_by_their_subpackages():
    importlib.import_module("compactrs.train.loop")
    importlib.import_module("compactrs.prune")
    importlib.import_module("compactrs.export.api")
    for name in ("train", "prune", "export", "validate", "benchmark", "load_dataset", "create_model"):
        assert callable(getattr(compactrs, name)), name
    from compactrs.train import TrainConfig

    assert compactrs.TrainConfig is TrainConfig


def test_every_export_resolves():
    for name in compactrs.__all__:
        assert getattr(compactrs, name) is not None
