"""A killed search resumed from its checkpoint reaches exactly the state of an uninterrupted one."""
from __future__ import annotations

import pytest
import torch

from compactrs.data import load_dataset
from compactrs.errors import ConfigError
from compactrs.nas.config import SearchConfig
from compactrs.nas.derive import BudgetSpace
from compactrs.nas.loop import BiLevelSearch

SPEC = "synthetic,n=8,size=8"  # 48 real synthetic patches: 3 steps per epoch at batch 6


class Killed(Exception):
    pass


def make_engine(work_dir, epochs=3):
    dataset = load_dataset(SPEC, seed=0)
    config = SearchConfig(flops_target=400_000, epochs=epochs, batch_size=6, max_depth=2, initial_depth=1, seed=7,
                          ops="zero,skip_connect,sep_conv_3x3,max_pool_3x3,ms_att_3", threads=1)
    space = BudgetSpace(dataset.in_bands, 8, dataset.num_classes, config.ops, max_depth=2)
    return BiLevelSearch(config, dataset, 4, space.table("macs", 4), None, work_dir)


def strip(history):
    return [{k: v for k, v in record.items() if k != "seconds"} for record in history]


def test_resume_reaches_the_same_genotype_and_parameters(tmp_path):
    straight = make_engine(tmp_path / "straight").run()

    def kill_after_first(record):
        if record["epoch"] == 1:
            raise Killed()

    with pytest.raises(Killed):
        make_engine(tmp_path / "killed").run(on_epoch=kill_after_first)
    assert (tmp_path / "killed" / "checkpoint.pt").is_file()
    resumed_engine = make_engine(tmp_path / "killed")
    resumed = resumed_engine.run(resume=True)
    assert resumed.resumed_from == 1
    assert resumed.genotype == straight.genotype
    assert strip(resumed.history) == strip(straight.history)
    for a, b in zip(straight.supernet.state_dict().values(), resumed.supernet.state_dict().values()):
        assert torch.equal(a, b)
    lines = (tmp_path / "killed" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 3  # rewritten from the checkpoint's history, not appended twice


def test_a_finished_checkpoint_is_not_silently_restarted(tmp_path):
    make_engine(tmp_path / "w", epochs=1).run()
    with pytest.raises(ConfigError, match="pass --resume"):
        make_engine(tmp_path / "w", epochs=1).run()


def test_resume_refuses_a_checkpoint_of_other_options(tmp_path):
    make_engine(tmp_path / "w", epochs=1).run()
    with pytest.raises(ConfigError, match="different.*epochs"):
        make_engine(tmp_path / "w", epochs=2).run(resume=True)
