"""Sweeps the way a user runs them: `lstm-train -m ...`, then `lstm-compare <sweep dir>`
(the shared grid, conftest's `quick_sweep`, in a subprocess; the other sweeps in this process).

The README's joblib and Optuna commands are run (and checked) in test_readme.py.
"""

from __future__ import annotations

import csv
import itertools
import json
import re
import shutil

import matplotlib.image
import pytest
import yaml

from helpers import QUICK, cli, hparams_session, load_events, read_metrics, run, sweep_dirs
from lstm_lab.training.sweep_threads import threads_per_job

ONE_EPOCH = [*QUICK, "trainer.max_epochs=1"]


def job_dirs(sweep_dir):
    return sorted(p for p in sweep_dir.iterdir() if p.is_dir())


def read_table(sweep_dir) -> list[dict]:
    with open(sweep_dir / "comparison.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture
def grid(quick_sweep):
    """A 2x2 grid of one-epoch runs (hidden 4,8 x layers 1,2), and the comparison report over it."""
    return quick_sweep.sweep_dir, quick_sweep.proc, quick_sweep.report


def test_grid_runs_are_named_by_what_differs_between_them(grid):
    sweep_dir, proc, _ = grid
    # the swept keys in their short form; the overrides every job shares (QUICK's) are left
    # out of the name and kept in the job's overrides.yaml
    expected = {f"hidden_size={h},num_layers={n}" for h, n in itertools.product((4, 8), (1, 2))}
    assert {p.name for p in job_dirs(sweep_dir)} == expected
    for job in job_dirs(sweep_dir):
        saved = yaml.safe_load((job / ".hydra" / "config.yaml").read_text())
        assert job.name == (
            f"hidden_size={saved['model']['hidden_size']},num_layers={saved['model']['num_layers']}"
        )
        overrides = yaml.safe_load((job / ".hydra" / "overrides.yaml").read_text())
        assert {*QUICK[:2], "trainer.max_epochs=1"} <= set(overrides)
        assert read_metrics(job)["status"] == "completed"
    assert "Sweep: 4 jobs, 4 completed, 0 failed" in proc.stdout
    assert f"lstm-compare {sweep_dir.relative_to(sweep_dir.parents[2])}" in proc.stdout


def test_every_run_has_curves_and_hparams_for_tensorboard(grid):
    sweep_dir, _, _ = grid
    for job in job_dirs(sweep_dir):
        events = load_events(job)
        assert len(events.Scalars("train/loss")) == 1
        assert len(events.Scalars("val/loss")) == 1
        saved = yaml.safe_load((job / ".hydra" / "config.yaml").read_text())
        hparams = hparams_session(events)
        assert hparams["model.hidden_size"] == saved["model"]["hidden_size"]
        assert hparams["model.num_layers"] == saved["model"]["num_layers"]
        metrics = read_metrics(job)
        assert events.Scalars("hp/best_val_loss")[0].value == pytest.approx(
            metrics["best_val_loss"], rel=1e-5
        )
        assert events.Scalars("test/mse")[0].value == pytest.approx(
            metrics["test"]["mse"], rel=1e-5
        )


def test_report_table_is_sorted_by_val_loss_and_matches_each_run(grid):
    sweep_dir, _, report = grid
    rows = read_table(sweep_dir)
    assert len(rows) == 4
    losses = [float(r["best val loss"]) for r in rows]
    assert losses == sorted(losses)
    for row in rows:
        metrics = read_metrics(sweep_dir / row["run"])
        assert float(row["best val loss"]) == pytest.approx(metrics["best_val_loss"])
        assert float(row["test MSE"]) == pytest.approx(metrics["test"]["mse"])
        assert int(row["parameters"]) == metrics["n_params"]
        # train time from the first step on: the first job's cold start is apart
        phases = metrics["phases_s"]
        assert float(row["train time (s)"]) == pytest.approx(phases["train"])
        assert float(row["start-up (s)"]) == pytest.approx(phases["startup"])
        assert 0 < phases["train"] < metrics["wall_time_s"]
        assert row["run"] == f"hidden_size={row['hidden size']},num_layers={row['layers']}"
        assert row["status"] == "completed" and row["reason"] == ""
    assert {row["mode"] for row in rows} == {"window"}
    markdown = (sweep_dir / "comparison.md").read_text()
    assert "| run | mode | hidden size | layers |" in markdown
    assert markdown.count("| completed |") == 4
    # the printed table keeps every column and header whole in a pipe (no 80-column wrap)
    header = next(line for line in report.stdout.splitlines() if "parameters" in line)
    for name in ("run", "hidden size", "test MSE", "train time (s)", "start-up (s)", "reason"):
        assert name in header
    assert (
        len([line for line in report.stdout.splitlines() if "hidden_size=4,num_layers=2" in line])
        == 1
    )


def test_report_figures_are_written(grid):
    sweep_dir, _, _ = grid
    for name in ("val_loss_curves.png", "test_mse_vs_hidden_size.png"):
        image = matplotlib.image.imread(sweep_dir / name)
        assert image.shape[0] >= 400 and image.shape[1] >= 600, name
        assert image.std() > 0.01, f"{name} is blank"


def test_report_mode_column_follows_each_run(grid, tmp_path):
    sweep_dir, _, _ = grid
    copy = tmp_path / "sweep"
    shutil.copytree(sweep_dir, copy)
    stateful, older = job_dirs(copy)[:2]
    metrics = json.loads((stateful / "metrics.json").read_text())
    (stateful / "metrics.json").write_text(json.dumps({**metrics, "mode": "stateful"}))
    # a run from before the modes existed records neither: it was windowed
    metrics = json.loads((older / "metrics.json").read_text())
    (older / "metrics.json").write_text(
        json.dumps({k: v for k, v in metrics.items() if k != "mode"})
    )
    config_file = older / ".hydra" / "config.yaml"
    saved = yaml.safe_load(config_file.read_text())
    saved["model"].pop("stateful")
    config_file.write_text(yaml.safe_dump(saved))
    assert run(str(copy), cwd=tmp_path, prog="lstm-compare").returncode == 0
    modes = {r["run"]: r["mode"] for r in read_table(copy)}
    assert modes.pop(stateful.name) == "stateful"
    assert set(modes.values()) == {"window"}


@pytest.mark.parametrize(
    "record,text,why",
    [
        ("metrics.json", '{"status": "compl', "not readable (Unterminated string starting at: "),
        ("metrics.json", "[1, 2]", "holds no mapping of keys to values"),
        (".hydra/config.yaml", "model: [", "not readable (while parsing a flow node)"),
    ],
)
def test_report_refuses_a_run_record_it_cannot_read(grid, tmp_path, record, text, why):
    sweep_dir, _, _ = grid
    copy = tmp_path / "sweep"
    shutil.copytree(sweep_dir, copy, ignore=shutil.ignore_patterns("comparison.*", "*.png"))
    bad = job_dirs(copy)[0] / record
    bad.write_text(text)
    proc = run(str(copy), cwd=tmp_path, prog="lstm-compare")
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"lstm-compare: error: {bad}: {why}")
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert not list(copy.glob("comparison.*")) and not list(copy.glob("*.png"))


def test_report_works_on_single_runs(tmp_path):
    for hidden in (4, 6):
        proc = run(*ONE_EPOCH, f"model.hidden_size={hidden}", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-2000:]
    runs = tmp_path / "outputs" / "runs"
    proc = run(str(runs), cwd=tmp_path, prog="lstm-compare")
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = read_table(runs)
    assert sorted(int(r["hidden size"]) for r in rows) == [4, 6]
    assert {r["run"] for r in rows} == {p.name for p in runs.iterdir() if p.is_dir()}
    assert (runs / "val_loss_curves.png").is_file()


def test_report_refuses_a_folder_without_runs(tmp_path):
    proc = run(str(tmp_path), cwd=tmp_path, prog="lstm-compare")
    assert proc.returncode == 2
    assert (
        proc.stderr.strip()
        == f"lstm-compare: error: {tmp_path}: no runs (directories with metrics.json or .hydra/)"
    )
    assert not list(tmp_path.iterdir())


def test_a_sweep_refused_before_its_first_job_leaves_no_sweep_directory(tmp_path):
    """Its multirun.yaml and swept.yaml were left, and a chosen hydra.sweep.dir then refused
    the corrected command for holding a sweep."""
    for _ in range(2):
        proc = run("-m", "hydra.sweep.dir=mine", "model.hiden_size=4,8", cwd=tmp_path)
        assert proc.returncode == 2 and proc.stderr.startswith("lstm-train: error: model.hiden")
        assert not (tmp_path / "mine").exists()
    run("-m", "model.hiden_size=4,8", cwd=tmp_path)
    assert sweep_dirs(tmp_path) == []


def test_a_failing_job_does_not_stop_the_sweep(tmp_path):
    """hidden_size=0 is refused by validation; lr=1e30 makes the loss overflow in epoch 0."""
    proc = run("-m", "model.hidden_size=0,4", "optimizer.lr=0.01,1e30", *ONE_EPOCH, cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr[-3000:]
    (sweep_dir,) = sweep_dirs(tmp_path)
    by_key = {
        ("hidden_size=0" in job.name, "lr=1e+30" in job.name): read_metrics(job)
        for job in job_dirs(sweep_dir)
    }
    assert len(by_key) == 4
    assert by_key[(False, False)]["status"] == "completed"  # ran after two failed jobs
    assert by_key[(True, False)]["reason"] == "model.hidden_size: got 0; must be an integer >= 1"
    assert by_key[(True, True)]["status"] == "failed"
    diverged = by_key[(False, True)]
    assert diverged["status"] == "failed"
    assert diverged["reason"].startswith("non-finite loss: loss became ")
    # the sweep ends by listing the failed jobs, one line each, without a traceback
    assert "lstm-train: error: 3 of 4 jobs failed:" in proc.stderr
    listed = proc.stderr.split("jobs failed:")[1].strip().splitlines()
    assert len(listed) == 3 and all("hidden_size=" in line for line in listed)
    # each job's failure line names it as its directory does
    named = re.findall(r"error: job (\S+) failed:", proc.stderr)
    assert len(named) == 3 and set(named) <= {job.name for job in job_dirs(sweep_dir)}
    assert "Traceback" not in proc.stderr + proc.stdout

    report = run(str(sweep_dir), cwd=tmp_path, prog="lstm-compare")
    assert report.returncode == 0, report.stderr[-2000:]
    rows = read_table(sweep_dir)
    assert [r["status"] for r in rows] == ["completed", "failed", "failed", "failed"]
    assert {r["reason"] for r in rows[1:]} == {
        by_key[k]["reason"] for k in by_key if by_key[k]["status"] == "failed"
    }


@pytest.mark.parametrize(
    "n_jobs,cores,expected",
    [(1, 8, 8), (2, 8, 4), (3, 8, 2), (16, 8, 1), (-1, 8, 1), (-2, 8, 1), (-5, 8, 2), (None, 4, 4)],
)
def test_threads_per_job_keeps_jobs_times_threads_within_the_cores(
    monkeypatch, n_jobs, cores, expected
):
    monkeypatch.setattr("lstm_lab.training.sweep_threads.available_cores", lambda: cores)
    assert threads_per_job(n_jobs) == expected


def test_a_parallel_sweep_starts_its_longest_jobs_first(compose_train):
    """launcher=joblib's order: epochs x window x layers x hidden^2, the job's value or else the
    sweep's; equal estimates keep the sweeper's order."""
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    from hydra_plugins.lstm_lab_launchers.longest_first import job_length, longest_first

    cfg = compose_train("model.hidden_size=32", "trainer.max_epochs=5")
    grid = [
        [f"model.hidden_size={h}", f"model.num_layers={n}"] for h in (32, 64, 128) for n in (1, 2)
    ]
    assert longest_first(cfg, grid) == [5, 4, 3, 2, 1, 0]
    window = cfg.data.window
    assert job_length(cfg, grid[3]) == 5 * window * 2 * 64**2
    assert job_length(cfg, []) == 5 * window * 1 * 32**2  # the sweep's own values
    # keys that do not set the length keep the sweeper's order, whatever their values
    assert longest_first(cfg, [["seed=3"], ["optimizer.lr=0.1"], ["seed=1"]]) == [0, 1, 2]
    assert longest_first(cfg, [["trainer.max_epochs=1"], ["trainer.max_epochs=9"]]) == [1, 0]


@pytest.mark.slow
def test_a_parallel_optuna_search_credits_each_trial_with_its_own_run(tmp_path):
    """hparams_search=optuna launcher=joblib: the launcher starts a batch's longest trial first
    and hands the results back in the sweeper's order, so Optuna's best trial is the run with
    the lowest val/loss, with that run's parameters."""
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    sizes = [a for a in QUICK if not a.startswith("threads=")]  # the launcher sets the threads
    search = ["hparams_search=optuna", "launcher=joblib", "hydra.sweeper.n_trials=4"]
    proc = cli(*search, "hydra.sweeper.n_jobs=2", *sizes, "trainer.max_epochs=1", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    started = [int(n) for n in re.findall(r"#(\d+) : ", proc.stdout)]
    assert sorted(started) == [0, 1, 2, 3] and started != [0, 1, 2, 3], "no trial was moved"
    (sweep_dir,) = sweep_dirs(tmp_path)
    runs = [p for p in sweep_dir.iterdir() if (p / "metrics.json").exists()]
    assert len(runs) == 4
    best_run = min(runs, key=lambda p: read_metrics(p)["best_val_loss"])
    best = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())
    assert best["best_value"] == pytest.approx(read_metrics(best_run)["best_val_loss"])
    config = yaml.safe_load((best_run / ".hydra" / "config.yaml").read_text())
    assert best["best_params"]["model.hidden_size"] == config["model"]["hidden_size"]
    assert best["best_params"]["model.num_layers"] == config["model"]["num_layers"]
    assert best["best_params"]["optimizer.lr"] == pytest.approx(config["optimizer"]["lr"])
