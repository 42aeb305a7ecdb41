import importlib

import compactrs


def test_stage_functions_stay_callable_after_their_subpackages_are_imported():
    import compactrs.export.api as export_api  # the dotted import form must keep working too

    importlib.import_module("compactrs.train.loop")
    importlib.import_module("compactrs.prune")
    assert export_api.export is compactrs.export.export
    importlib.import_module("compactrs.search.loop")
    for name in ("train", "search", "prune", "export", "validate", "benchmark", "load_dataset", "create_model"):
        assert callable(getattr(compactrs, name)), name
    from compactrs.train import TrainConfig

    assert compactrs.TrainConfig is TrainConfig


def test_calling_the_stage_reaches_the_function(tmp_path):
    report = compactrs.train("resnet8", "synthetic,n=8", compactrs.TrainConfig(epochs=1, threads=1), out=tmp_path / "r")
    assert report["model"] == "resnet8" and (tmp_path / "r" / "model.pt").is_file()


def test_every_export_resolves():
    for name in compactrs.__all__:
        assert getattr(compactrs, name) is not None
