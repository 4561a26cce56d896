"""Files a user brings, checked before training: checkpoints against the run that loads them
(lstm-train's ckpt_path, lstm-eval's run_dir), and runs that fail during training, marked failed
wherever runs are listed (metrics.json, lstm-compare, TensorBoard's HParams).

The config-folder and fake-checkpoint refusals are rows of docs/errors.md
(tests/test_errors_table.py); these need a real trained run (the shared `quick_run`)."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

from helpers import (
    HELPERS,
    QUICK,
    copy_run,
    load_events,
    read_metrics,
    run,
    run_dirs,
)

QUICK_RUN = [*QUICK, "model.hidden_size=12", "model.num_layers=2", "data.batch_size=32"]


def refused(proc, root: Path) -> str:
    """The one error line of a refused command; nothing left behind."""
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    (line,) = proc.stderr.strip().splitlines()
    assert "Traceback" not in proc.stdout + proc.stderr
    assert not run_dirs(root)
    return line


def test_checkpoint_of_another_network_is_refused_before_lightning_loads_it(quick_run, tmp_path):
    last = quick_run.run_dir / "checkpoints" / "last.ckpt"
    line = refused(run(*QUICK, "model.hidden_size=16", f"ckpt_path={last}", cwd=tmp_path), tmp_path)
    assert line.startswith(f"lstm-train: error: ckpt_path: {last} was written with ")
    assert "model.hidden_size=12 (this run: 16)" in line
    assert "model.num_layers=2 (this run: 1)" in line


def test_older_checkpoint_is_checked_against_the_config_of_its_run(quick_run, tmp_path):
    """A checkpoint that does not record its settings: those of the run directory it is in."""
    old = copy_run(quick_run.run_dir, tmp_path / "old")
    last = old / "checkpoints" / "last.ckpt"
    checkpoint = torch.load(last, weights_only=True)
    del checkpoint["run_config"]
    torch.save(checkpoint, last)
    here = tmp_path / "here"
    here.mkdir()
    proc = run(*QUICK_RUN, "model.hidden_size=16", f"ckpt_path={last}", cwd=here)
    assert "model.hidden_size=12 (this run: 16)" in refused(proc, here)


def test_settings_that_may_change_do_when_training_continues(quick_run, tmp_path):
    """Epochs, learning rate, its schedule and batch size may change (docs/errors.md)."""
    last = quick_run.run_dir / "checkpoints" / "last.ckpt"
    changed = ["trainer.max_epochs=3", "optimizer.lr=0.003", "scheduler=none", "data.batch_size=16"]
    proc = run(*QUICK_RUN, *changed, f"ckpt_path={last}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_dir,) = run_dirs(tmp_path)
    assert read_metrics(run_dir)["epochs"] == 3


def test_lstm_eval_refuses_a_checkpoint_written_with_other_settings(quick_run, tmp_path):
    other = copy_run(quick_run.run_dir, tmp_path / "run")
    checkpoint = torch.load(other / "checkpoints" / "last.ckpt", weights_only=True)
    checkpoint["run_config"]["data.window"] = 99
    torch.save(checkpoint, other / "checkpoints" / "other.ckpt")
    args = [f"run_dir={other}", f"ckpt_path={other}/checkpoints/other.ckpt"]
    proc = run(*args, cwd=tmp_path, prog="lstm-eval")
    assert proc.returncode == 2, proc.stderr[-2000:]
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("lstm-eval: error: ckpt_path: ")
    assert "data.window=99 (this run: 10)" in line
    assert not (other / "eval").exists()


def failed_run(tmp_path: Path, fault: str, phase: str, reason: str) -> Path:
    """A quick run with `fault` injected: exit 1, the one line `<phase> failed: <reason>`, and
    its run directory marked failed with that reason."""
    extra = ["+callbacks.fault._target_=faults.SignalFromEnv"]
    env = {"PYTHONPATH": str(HELPERS), "LSTM_LAB_FAULT": fault}
    proc = run(*QUICK, *extra, cwd=tmp_path, extra_env=env)
    assert proc.returncode == 1, proc.stderr[-3000:]
    (line,) = proc.stderr.strip().splitlines()
    assert line == f"lstm-train: error: {phase} failed: {reason}"
    (run_dir,) = run_dirs(tmp_path)
    metrics = read_metrics(run_dir)
    assert (metrics["status"], metrics["reason"]) == ("failed", reason)
    return run_dir


def test_run_that_fails_during_training_is_marked_failed_everywhere(tmp_path):
    from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2

    from lstm_lab.records.comparison import compare

    reason = "RuntimeError: injected at epoch 1, batch 0"
    run_dir = failed_run(tmp_path, "ERROR@1:0", "training", reason)
    (listed,) = compare(run_dir.parent)
    assert (listed.status, listed.error) == ("failed", reason)
    content = load_events(run_dir).PluginTagToContent("hparams")
    end = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_end_info"])
    assert end.session_end_info.status == api_pb2.STATUS_FAILURE
    shutil.rmtree(run_dir)


def test_run_that_fails_after_training_is_marked_failed(tmp_path):
    reason = "RuntimeError: injected as the test pass starts"
    run_dir = failed_run(tmp_path, "TEST-ERROR@0:0", "testing", reason)
    assert read_metrics(run_dir)["epochs"] >= 1  # training itself had finished
    shutil.rmtree(run_dir)


def test_only_what_the_weights_depend_on_must_match():
    from lstm_lab.records.compat import compat_config, differences

    model = {"_target_": "my.Net", "hidden_size": 8, "stateful": False, "dropout": 0.1,
             "carry_state": False, "steps_per_call": 16, "bptt": 20, "streams": 4}  # fmt: skip
    data = {"window": 10, "horizon": 1, "transform": "none", "batch_size": 16, "series": {}}
    saved = compat_config({"model": model, "data": data}, 1)
    free = {"dropout": 0.5, "carry_state": True, "steps_per_call": 1, "bptt": 5, "streams": 2}
    later = {"model": {**model, **free}, "data": {**data, "batch_size": 64}, "optimizer": {}}
    assert differences(saved, compat_config(later, 1)) == []
    stateful = {**model, "stateful": True}
    saved = compat_config({"model": stateful, "data": data}, 1)
    other = {"model": {**stateful, "bptt": 5}, "data": {**data, "window": 99}}
    assert differences(saved, compat_config(other, 2)) == [
        "model.bptt=20 (this run: 5)",
        "n_features=1 (this run: 2)",
    ]


def test_config_folders_are_found_in_every_spelling_hydra_takes():
    from lstm_lab.config.files import config_dirs

    argv = ["--config-dir", "a", "-cd", "b", "--config-dir=c", "model.hidden_size=8"]
    assert config_dirs(argv) == ["a", "b", "c"]
