"""Run directories never collide: claimed atomically, with _02, _03, ... for the late-comers."""

from __future__ import annotations

import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from helpers import BIN, QUICK, read_metrics, run, run_dirs
from lstm_lab import CONFIG_DIR
from lstm_lab.config.files import check_chosen_dirs
from lstm_lab.config.keyspec import ConfigError
from lstm_lab.hydra_job import compose_config
from lstm_lab.records.rundirs import claim_dir, job_subdir, resume_command
from lstm_lab.records.runnames import (
    run_name,
    short_keys,
    short_value,
    swept_keys,
    write_swept,
)


def test_claims_in_the_same_second_get_distinct_sortable_names(tmp_path):
    base = str(tmp_path / "runs" / "2024-01-01_12-00-00")
    with ThreadPoolExecutor(8) as pool:
        claimed = list(pool.map(lambda _: claim_dir(base), range(12)))
    assert len(set(claimed)) == 12
    names = sorted(p.rsplit("/", 1)[1] for p in claimed)
    assert names[0] == "2024-01-01_12-00-00" and names[1] == "2024-01-01_12-00-00_02"
    assert names[-1] == "2024-01-01_12-00-00_12"
    assert sorted(names) < ["2024-01-01_12-00-01"]  # still before the next second's runs


def test_runs_and_sweeps_both_claim_their_directory():
    hydra = yaml.safe_load((CONFIG_DIR / "hydra" / "default.yaml").read_text())
    assert hydra["run"]["dir"].startswith("${lstm_lab.run_dir:")
    assert hydra["sweep"]["dir"].startswith("${lstm_lab.claim_dir:")


@pytest.mark.slow
def test_two_runs_started_together_with_the_same_name_keep_apart(tmp_path):
    # Both runs are given the same timestamp-free name, so they collide whatever the clock says.
    same = "hydra.run.dir='${lstm_lab.run_dir:outputs/runs/same,${resume}}'"
    args = [str(BIN / "lstm-train"), *QUICK, "trainer.max_epochs=1", same]
    procs = [
        subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    dirs = run_dirs(tmp_path)
    assert [d.name for d in dirs] == ["same", "same_02"]
    writers = []
    for d in dirs:
        assert read_metrics(d)["status"] == "completed"
        assert (d / "checkpoints" / "best.ckpt").is_file()
        # events.out.tfevents.<time>.<host>.<pid>.<n>: each directory written by one process
        pids = {p.name.split(".")[-2] for p in d.glob("events.out.tfevents.*")}
        assert len(pids) == 1
        writers.append(pids.pop())
    assert writers[0] != writers[1]


def test_a_run_directory_of_ones_choice_holds_the_whole_run_and_is_never_reused(tmp_path):
    chosen = tmp_path / "mine" / "first"
    done = run(*QUICK, "trainer.max_epochs=1", f"hydra.run.dir={chosen}", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert not run_dirs(tmp_path)  # nothing under outputs/runs
    # the config and log Hydra keeps beside what the run writes: lstm-eval finds a run there
    assert (chosen / ".hydra" / "config.yaml").is_file() and (chosen / "train.log").is_file()
    assert read_metrics(chosen)["status"] == "completed"
    evaluated = run("run_dir=" + str(chosen), prog="lstm-eval", cwd=tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    # a second run there would write over the first one's files: refused before it starts
    before = {p: p.read_bytes() for p in chosen.rglob("*") if p.is_file()}
    again = run(*QUICK, f"hydra.run.dir={chosen}", cwd=tmp_path)
    assert again.returncode == 2
    assert again.stderr.strip() == (
        f"lstm-train: error: hydra.run.dir: {chosen} holds a run already, whose files a new "
        f"run would write over; choose a new directory, or continue that run with "
        f"resume={chosen}"
    )
    assert {p: p.read_bytes() for p in chosen.rglob("*") if p.is_file()} == before


def test_paths_run_dir_on_the_command_line_is_refused_before_anything_is_written(tmp_path):
    # it would have split a run: its files there, Hydra's config and log under outputs/runs
    proc = run(*QUICK, f"paths.run_dir={tmp_path / 'here'}", cwd=tmp_path)
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("lstm-train: error: paths.run_dir: got ")
    assert "hydra.run.dir=<dir>" in line and "paths.output_root=<dir>" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    # what the line offers instead: the folder runs go under
    moved = run(
        *QUICK, "trainer.max_epochs=1", f"paths.output_root={tmp_path / 'else'}", cwd=tmp_path
    )
    assert moved.returncode == 0, moved.stderr[-2000:]
    (run_dir,) = (tmp_path / "else" / "runs").iterdir()
    assert (run_dir / ".hydra" / "config.yaml").is_file()
    assert read_metrics(run_dir)["status"] == "completed"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["else"]


@pytest.mark.parametrize(
    "env,refused",
    [
        ({}, True),
        ({"SLURM_NTASKS": "1"}, True),  # a one-task SLURM job is a single run
        # Lightning's `ddp` reruns the command for rank 1 naming rank 0's hydra.run.dir
        ({"LOCAL_RANK": "1"}, False),
        # torchrun's processes and SLURM's tasks: any of them may create the folder first
        ({"RANK": "0", "LOCAL_RANK": "0"}, False),
        ({"SLURM_NTASKS": "4"}, False),
    ],
)
def test_a_taken_run_or_sweep_directory_is_refused_only_to_a_command_run_once(
    tmp_path, monkeypatch, env, refused
):
    for name in ("LOCAL_RANK", "RANK", "SLURM_NTASKS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # a run's folder, and a sweep's
    for mode, mark, says in (
        ("run", "metrics.json", "a run"),
        ("sweep", "multirun.yaml", "a sweep"),
    ):
        (tmp_path / mark).write_text("{}")
        taken = compose_config("train", [f"hydra.{mode}.dir={tmp_path}"])
        if refused:
            with pytest.raises(ConfigError, match=f"holds {says} already"):
                check_chosen_dirs(taken, mode)
        else:
            check_chosen_dirs(taken, mode)
        new = compose_config("train", [f"hydra.{mode}.dir={tmp_path / 'new'}"])
        check_chosen_dirs(new, mode)  # a new folder: always free


def test_what_a_config_chooses_is_checked_and_lstm_labs_own_directories_are_not_claimed(
    tmp_path, monkeypatch
):
    for name in ("LOCAL_RANK", "RANK", "SLURM_NTASKS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "done" / ".hydra").mkdir(parents=True)
    # a folder put together by interpolations is the folder they make
    made = compose_config("train", ["+where=done", "hydra.run.dir=${where}"])
    with pytest.raises(ConfigError, match="^hydra.run.dir: done holds a run already.*resume=done$"):
        check_chosen_dirs(made, "run")
    check_chosen_dirs(compose_config("train", ["resume=done", "hydra.run.dir=done"]), "run")
    # lstm-lab's own directories are claimed when Hydra resolves them, once: never here
    check_chosen_dirs(compose_config("train", ["paths.output_root=out"]), "run")
    check_chosen_dirs(compose_config("train", ["paths.output_root=out"]), "sweep")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["done"]


def test_a_run_directory_fixed_in_a_config_file_is_never_reused(tmp_path):
    # a user's experiment that names its run's folder: the second run is refused, in the
    # command and in the library, before Hydra writes into the first
    folder = tmp_path / "conf" / "experiment"
    folder.mkdir(parents=True)
    (folder / "fixed.yaml").write_text("# @package _global_\nhydra:\n  run:\n    dir: fixed\n")
    first = run(
        "--config-dir", "conf", *QUICK, "trainer.max_epochs=1", "experiment=fixed", cwd=tmp_path
    )
    assert first.returncode == 0, first.stderr[-2000:]
    assert read_metrics(tmp_path / "fixed")["status"] == "completed"
    before = {p: p.read_bytes() for p in (tmp_path / "fixed").rglob("*") if p.is_file()}
    again = run("--config-dir", "conf", *QUICK, "experiment=fixed", cwd=tmp_path)
    assert again.returncode == 2
    assert again.stderr.strip() == (
        "lstm-train: error: hydra.run.dir: fixed holds a run already, whose files a new run "
        "would write over; choose a new directory, or continue that run with resume=fixed"
    )
    assert {p: p.read_bytes() for p in (tmp_path / "fixed").rglob("*") if p.is_file()} == before
    code = (
        "import lstm_lab.api, sys\n"
        "try:\n"
        f"    lstm_lab.train({['--config-dir', 'conf', *QUICK, 'experiment=fixed']!r})\n"
        "except lstm_lab.api.CommandError as error:\n"
        "    sys.exit(f'{error.exit_code} {error}')\n"
    )
    library = subprocess.run(
        [str(BIN / "python"), "-c", code], cwd=tmp_path, capture_output=True, text=True
    )
    assert library.stderr.strip().startswith("2 hydra.run.dir: fixed holds a run already")
    assert {p: p.read_bytes() for p in (tmp_path / "fixed").rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("override", ["model.hidden_size=0", "data.horizon=300", "resume=nowhere"])
def test_a_refused_run_removes_the_empty_folders_it_created_and_no_others(tmp_path, override):
    """A run refused once Hydra had claimed its directory left an empty outputs/runs/ behind."""
    fresh, used = tmp_path / "fresh", tmp_path / "used"
    (used / "outputs" / "runs").mkdir(parents=True)  # the user's, empty: it stays
    for root in (fresh, used):
        root.mkdir(exist_ok=True)
        proc = run(override, "threads=1", cwd=root)
        assert proc.returncode == 2, proc.stderr
    assert not list(fresh.iterdir())
    assert [p.relative_to(used).as_posix() for p in sorted(used.rglob("*"))] == [
        "outputs",
        "outputs/runs",
    ]


def test_sweep_runs_are_named_by_the_keys_the_sweep_varies():
    # command-line sweeps, Optuna's search syntax and the sweeper's params all count as swept;
    # how-to-run keys (threads, launcher) never name a run
    task = ["model.hidden_size=8,16", "optimizer.lr=tag(log, interval(1e-4, 1e-1))"]
    task += ["trainer.max_epochs=3", "threads=1,2", "launcher=joblib"]
    swept = swept_keys(task, ["model.num_layers"])
    assert swept == ["model.hidden_size", "model.num_layers", "optimizer.lr"]
    job = ["model.hidden_size=16", "model.num_layers=1", "optimizer.lr=0.0012345678"]
    job += ["trainer.max_epochs=3", "threads=1"]
    assert run_name(job, swept) == "hidden_size=16,num_layers=1,lr=0.00123"
    # without a record of the sweep: every override that says what the run is
    assert run_name(job, None) == "hidden_size=16,num_layers=1,lr=0.00123,max_epochs=3"


def test_the_readme_names_an_optuna_trial_as_it_is_named():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    named = re.search(r"an Optuna trial by its searched keys, `([^`]+)`", readme).group(1)
    params = yaml.safe_load((CONFIG_DIR / "hparams_search" / "optuna.yaml").read_text())
    swept = swept_keys([], params["hydra"]["sweeper"]["params"])
    short = {k.rsplit(".", 1)[1]: k for k in swept}
    job = [f"{short[k]}={v}" for k, v in (part.split("=") for part in named.split(","))]
    assert run_name(job, swept) == named


def test_short_keys_keep_what_tells_two_keys_apart():
    assert short_keys(["data.window", "model.window", "model.hidden_size"]) == {
        "data.window": "data.window",
        "model.window": "model.window",
        "model.hidden_size": "hidden_size",
    }
    assert short_value("data/elnino/elnino.csv") == "elnino.csv"
    assert short_value("100000") == "100000" and short_value("0.5") == "0.5"


def test_a_job_claims_its_name_in_the_sweep_directory(tmp_path):
    write_swept(tmp_path, ["optimizer.lr"])
    overrides = ["optimizer.lr=0.00123401", "trainer.max_epochs=1"]
    assert job_subdir(str(tmp_path), overrides, 0) == "lr=0.00123"
    # another trial whose value rounds to the same name gets the next free one
    assert job_subdir(str(tmp_path), ["optimizer.lr=0.00123399"], 1) == "lr=0.00123_02"
    (tmp_path / "swept.yaml").write_text("swept: []\n")
    assert job_subdir(str(tmp_path), overrides, 4) == "job4"


def test_the_resume_command_of_a_sweep_job_is_quoted_for_hydra():
    assert resume_command("outputs/runs/2024-01-01_12-00-00") == (
        "lstm-train resume=outputs/runs/2024-01-01_12-00-00"
    )
    assert resume_command("outputs/sweeps/t/hidden_size=8,num_layers=1") == (
        "lstm-train \"resume='outputs/sweeps/t/hidden_size=8,num_layers=1'\""
    )
