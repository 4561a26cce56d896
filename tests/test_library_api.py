"""The library under the commands: `lstm_lab.train(cfg)` runs a composed config in this process,
with Hydra's compose API and without touching sys.argv; the console script is a shell over it."""

from __future__ import annotations

import sys

import pytest
import yaml
from hydra import compose, initialize_config_dir

import lstm_lab
from helpers import QUICK
from lstm_lab.api import CommandError

ONE_EPOCH = [*QUICK, "trainer.max_epochs=1"]


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_train_runs_a_composed_and_edited_config_leaving_sys_argv_alone(in_tmp, monkeypatch):
    argv = ["python-notebook", "--some-flag-of-its-own"]
    monkeypatch.setattr(sys, "argv", argv)
    cfg = lstm_lab.compose("train", ONE_EPOCH)
    cfg.model.hidden_size = 8  # an edit no command line made
    result = lstm_lab.train(cfg)
    assert sys.argv is argv and argv == ["python-notebook", "--some-flag-of-its-own"]
    assert result.run_dir.parent == in_tmp / "outputs" / "runs"
    assert result.metrics["status"] == "completed"
    assert result.best_checkpoint == result.run_dir / "checkpoints" / "best.ckpt"
    saved = yaml.safe_load((result.run_dir / ".hydra" / "config.yaml").read_text())
    assert saved["model"]["hidden_size"] == 8
    assert (result.run_dir / "train.log").is_file()


def test_a_config_composed_by_hydra_without_its_hydra_node_gets_the_commands(in_tmp):
    import lstm_lab.config  # noqa: F401  (the schema's defaults, in Hydra's ConfigStore)

    with initialize_config_dir(str(lstm_lab.CONFIG_DIR), version_base="1.3"):
        cfg = compose("train", ONE_EPOCH)
    assert "hydra" not in cfg
    cfg.model.hidden_size = 0
    with pytest.raises(CommandError) as refused:
        lstm_lab.train(cfg)  # refused as the command refuses it, leaving no run directory
    assert str(refused.value) == "model.hidden_size: got 0; must be an integer >= 1"
    assert refused.value.exit_code == 2
    assert not (in_tmp / "outputs").exists()  # nor the folders it made for the run


def test_a_sweep_with_a_failed_job_raises_a_command_error(in_tmp):
    """The sweep's end used sys.exit(1): a SystemExit out of lstm_lab.train."""
    with pytest.raises(CommandError) as failed:
        lstm_lab.train(["-m", "model.hidden_size=0", *ONE_EPOCH])
    assert failed.value.exit_code == 1
    assert str(failed.value) == (
        "1 of 1 jobs failed:\n  job0: model.hidden_size: got 0; must be an integer >= 1"
    )


def test_a_group_set_to_null_is_refused_in_one_line(in_tmp):
    """Hydra's override parser fails on `group=null` with a ValueError and its traceback."""
    with pytest.raises(CommandError) as refused:
        lstm_lab.train([*ONE_EPOCH, "callbacks=null"])
    assert str(refused.value).startswith("callbacks: got null; ~callbacks leaves the group out")
    assert refused.value.exit_code == 2


def test_a_refused_run_leaves_the_callers_logging_as_it_was(in_tmp):
    import logging

    root = logging.getLogger()
    before = list(root.handlers)
    with pytest.raises(CommandError):
        lstm_lab.train([*ONE_EPOCH, "data.window=0"])  # refused inside the job
    assert root.handlers == before
    logging.getLogger("lstm_lab").warning("the caller logs on")  # no handler of the removed run
