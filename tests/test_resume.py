"""Killed, interrupted and resumed runs end exactly where an undisturbed run ends; runs with
non-finite losses stop at once; checkpoints that would run code are refused.

Faults are injected by tests/helpers/faults.py, a callback every run here carries, which sends
a signal to its own process at a given epoch and batch when LSTM_LAB_FAULT says so. The runs
that get a signal are subprocesses; the others (resumes, reruns, refusals) run in this process,
and the reference run ("left alone") in a subprocess, so equal results also cross processes.
"""

from __future__ import annotations

import csv
import shutil
import time
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from helpers import HELPERS, QUICK, cli, comparable, read_metrics, run, run_dirs, write_bad_files

# Two LSTM layers with dropout, so the torch RNG matters; 4 short epochs of 13 batches, handed
# to the module 4 at a time (Lightning batches of 4, 4, 4 and 1 optimizer steps).
RUN = [*QUICK, "trainer.max_epochs=4", "model.num_layers=2", "model.dropout=0.2"]
RUN += ["model.steps_per_call=4"]
RUN += ["+callbacks.fault._target_=faults.SignalFromEnv"]


def lstm_train(root: Path, *args: str, fault: str | None = None, subprocess: bool = False):
    """lstm-train with the fault callback importable; in a subprocess when a fault is set."""
    env = {"PYTHONPATH": str(HELPERS), **({"LSTM_LAB_FAULT": fault} if fault else {})}
    before = set(run_dirs(root))
    launch = cli if fault or subprocess else run
    proc = launch(*args, cwd=root, extra_env=env)
    new = set(run_dirs(root)) - before
    return proc, (new.pop() if new else None)


def weights(run_dir: Path, name: str = "last") -> dict[str, torch.Tensor]:
    path = run_dir / "checkpoints" / f"{name}.ckpt"
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


def same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def resume(root: Path, run_dir: Path):
    """lstm-train resume=<run_dir>, in a later second than its events files' names: TensorBoard
    reads a run's files in name order, which is time order only from one second to the next
    (a resume seconds after its run, as a user makes it; these runs last less than one)."""
    latest = max(int(f.name.split(".")[3]) for f in run_dir.glob("events.out.tfevents.*"))
    time.sleep(max(0.0, latest + 1 - time.time()))
    return lstm_train(root, f"resume={run_dir}")


def curves(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar of the run as TensorBoard draws it: [(step, value)] over all its events
    files, a point written twice at a step drawn twice, and those a restarted writer purged
    left out."""
    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    events.Reload()
    return {t: [(e.step, e.value) for e in events.Scalars(t)] for t in events.Tags()["scalars"]}


@pytest.fixture
def runs(made_once):
    """Three runs left alone, made once and only read: the tests make their own in tmp_path."""

    def make(root: Path) -> dict[str, str]:
        done = {}
        for name, args in {
            "left alone": RUN,
            "again": RUN,
            "other seed": [*RUN, "seed=43"],
        }.items():
            proc, done[name] = lstm_train(root, *args, subprocess=name == "left alone")
            assert proc.returncode == 0, proc.stderr[-3000:]
        return {name: str(run_dir) for name, run_dir in done.items()}

    return {name: Path(run_dir) for name, run_dir in made_once("resume", make).items()}


@pytest.mark.slow
def test_same_seed_same_weights_and_metrics_other_seed_other_ones(runs):
    done = runs
    alone, again, other = done["left alone"], done["again"], done["other seed"]
    assert same_weights(weights(alone), weights(again))
    assert comparable(read_metrics(alone)) == comparable(read_metrics(again))
    assert not same_weights(weights(alone), weights(other))
    assert read_metrics(alone)["test"] != read_metrics(other)["test"]


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_weights_metrics_and_curves(runs, tmp_path):
    root, done = tmp_path, runs
    alone = done["left alone"]
    proc, killed = lstm_train(root, *RUN, fault="SIGKILL@2:1")
    assert proc.returncode == -9  # killed in the middle of epoch 2, after last.ckpt of epoch 1
    assert not (killed / "metrics.json").exists()
    saved_config = (killed / ".hydra" / "config.yaml").read_text()

    proc, new_dir = resume(root, killed)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert new_dir is None, "a resumed run continues in its own directory"
    assert (killed / ".hydra" / "config.yaml").read_text() == saved_config
    for name in ("last", "best"):
        assert same_weights(weights(alone, name), weights(killed, name)), name
    assert comparable(read_metrics(killed)) == comparable(read_metrics(alone))
    # The same TensorBoard curves, continued in the same directory: the points the killed
    # process wrote after its last.ckpt (the epoch start's lr, train/loss_step) are not doubled.
    assert curves(killed) == curves(alone)


def csv_rows(run_dir: Path) -> list[tuple[tuple[str, str], ...]]:
    """The rows of the run's csv/metrics.csv, each as its filled (column, value) pairs, sorted."""
    with (run_dir / "csv" / "metrics.csv").open(newline="") as file:
        return sorted(
            tuple(sorted((k, v) for k, v in r.items() if v)) for r in csv.DictReader(file)
        )


@pytest.mark.slow
def test_a_killed_run_resumed_keeps_every_csv_row_once(tmp_path):
    """logger=csv: Lightning's CSVLogger removed the metrics.csv it found, so a resumed run's
    file lacked every row before its last.ckpt (and would have doubled those after it)."""
    args = [*RUN, "logger=csv"]
    proc, alone = lstm_train(tmp_path, *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc, killed = lstm_train(tmp_path, *args, fault="SIGKILL@2:1")
    assert proc.returncode == -9
    proc, _ = resume(tmp_path, killed)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = csv_rows(killed)
    assert rows == csv_rows(alone)
    assert any(("epoch", "0") in row for row in rows), "the rows from before the kill"


@pytest.mark.slow
@pytest.mark.parametrize(
    "signal_name,status,per_call,step",
    # Stopped after Lightning batch 2 of epoch 1: 13 optimizer steps of epoch 0, then 3 groups
    # of 4 steps, or 3 single steps with model.steps_per_call=1 (Lightning's own optimization;
    # the resumed run still ends with the same weights as the grouped run left alone).
    [("SIGTERM", 143, 4, 25), ("SIGINT", 130, 1, 16)],
)
def test_interrupt_saves_a_checkpoint_and_resumes_exactly(
    runs, tmp_path, signal_name, status, per_call, step
):
    root, done = tmp_path, runs
    alone = done["left alone"]
    proc, stopped = lstm_train(
        root, *RUN, f"model.steps_per_call={per_call}", fault=f"{signal_name}@1:2"
    )
    assert proc.returncode == status, proc.stderr[-3000:]
    last_line = proc.stderr.strip().splitlines()[-1]
    assert last_line.startswith("lstm-train: error: interrupted by ")
    assert f"resume={stopped}" in last_line and "Traceback" not in proc.stderr
    metrics = read_metrics(stopped)
    assert metrics["status"] == "interrupted" and f"epoch 1, step {step}" in metrics["reason"]
    checkpoint = torch.load(stopped / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["global_step"] == step

    proc, _ = resume(root, stopped)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert same_weights(weights(alone), weights(stopped))
    assert comparable(read_metrics(stopped)) == comparable(read_metrics(alone))
    assert curves(stopped) == curves(alone)


@pytest.mark.slow
def test_non_finite_loss_stops_at_once_and_keeps_the_best_checkpoint(tmp_path):
    # SGD at lr 10 (one-cycle schedule) makes the loss overflow in the second epoch.
    proc, run_dir = lstm_train(
        tmp_path, *QUICK, "trainer.max_epochs=4", "optimizer=sgd", "optimizer.lr=10"
    )
    assert proc.returncode == 1
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith("lstm-train: error: training stopped: loss became ")
    assert "at epoch 1, step " in line and "Traceback" not in proc.stderr
    metrics = read_metrics(run_dir)
    assert metrics["status"] == "failed" and "non-finite loss" in metrics["reason"]
    assert "at epoch 1, step" in metrics["reason"] and "test" not in metrics
    assert metrics["best_checkpoint"] == str(run_dir / "checkpoints" / "best.ckpt")
    # the run's log ends with the line the command printed
    assert (
        (run_dir / "train.log")
        .read_text()
        .splitlines()[-1]
        .endswith(f"[lstm_lab.run][ERROR] stopped: {line.removeprefix('lstm-train: error: ')}")
    )
    best = torch.load(metrics["best_checkpoint"], weights_only=True)
    assert best["epoch"] == 0 and best["global_step"] == 13
    assert all(torch.isfinite(t).all() for t in best["state_dict"].values())
    last = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["global_step"] == 13, "no checkpoint was written after the bad step"


def test_resume_refuses_a_checkpoint_that_would_run_code(runs, tmp_path):
    # lstm_train, not run: the copied run's config names the fault callback, which a resume
    # imports (as a user's own callback, from their PYTHONPATH) before it reads the checkpoint
    done = runs
    run_dir = tmp_path / "outputs" / "runs" / "copied"
    shutil.copytree(done["left alone"], run_dir)
    (run_dir / "metrics.json").unlink()  # make it look stopped
    marker = write_bad_files(tmp_path)
    shutil.copy(tmp_path / "evil.ckpt", run_dir / "checkpoints" / "last.ckpt")
    before = sorted(p.relative_to(run_dir) for p in run_dir.rglob("*"))

    proc, _ = lstm_train(tmp_path, "resume=outputs/runs/copied")
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        f"lstm-train: error: resume: {run_dir / 'checkpoints' / 'last.ckpt'}: asks "
        "to run io.open when loaded; refusing to unpickle it "
        "(checkpoints are loaded with weights_only=True)"
    )
    assert not marker.exists(), "the payload ran"
    assert sorted(p.relative_to(run_dir) for p in run_dir.rglob("*")) == before


def test_resume_refusals_leave_the_run_as_it_was(runs, tmp_path):
    done = runs
    run_dir = tmp_path / "outputs" / "runs" / "copied"
    shutil.copytree(done["left alone"], run_dir)
    saved = (run_dir / ".hydra" / "config.yaml").read_text()

    proc, _ = lstm_train(tmp_path, "resume=outputs/runs/copied")
    assert proc.returncode == 2 and "has already completed" in proc.stderr

    (run_dir / "metrics.json").unlink()
    proc, _ = lstm_train(tmp_path, "resume=outputs/runs/copied", "model.hidden_size=3")
    assert proc.stderr.strip() == (
        "lstm-train: error: resume: a resumed run keeps its saved config; drop model.hidden_size=3"
    )

    shutil.rmtree(run_dir / "checkpoints")
    proc, _ = lstm_train(tmp_path, "resume=outputs/runs/copied")
    assert proc.returncode == 2 and "has no last.ckpt to continue from" in proc.stderr
    assert run_dirs(tmp_path) == [run_dir], "the run directory is kept, and no other made"
    assert (run_dir / ".hydra" / "config.yaml").read_text() == saved
