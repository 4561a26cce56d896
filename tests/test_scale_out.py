"""Scaling out: DDP on the CPU equals one process, DDP in a sweep is refused unless it works
there, and every launcher config composes. (The submitit_local sweep runs in test_readme.py,
as the README's command.)"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from hydra.utils import get_class

from helpers import HELPERS, QUICK, cli, comparable, load_events, read_metrics, run, run_dirs
from lstm_lab import CONFIG_DIR
from lstm_lab.config import ConfigError
from lstm_lab.training import sweep_threads  # noqa: F401 (its resolver)
from lstm_lab.training.strategies import check_strategy, reruns_command_line

# Relative tolerance of the 2-process run against the 1-process run: the same windows and
# updates, only the order of floating-point sums differs (measured: about 1e-7).
DDP_RTOL = 1e-5
TINY = [*QUICK, "callbacks.progress_bar=null", "logger=csv"]


DDP = ["trainer=ddp", "trainer.accelerator=cpu", "trainer.strategy=ddp_fork", "trainer.devices=2"]
# The DDP run of data.batch_size=16 split over 2 processes; the fault callback (inert unless
# LSTM_LAB_FAULT is set) so the interrupted runs below train alike.
DDP_RUN = [*TINY, *DDP, "data.batch_size=8", "+callbacks.fault._target_=faults.SignalFromEnv"]


@pytest.fixture
def ddp_run(made_once) -> Path:
    """A DDP run left alone, made once and only read."""

    def make(root: Path) -> str:
        proc = cli(*DDP_RUN, cwd=root, extra_env={"PYTHONPATH": str(HELPERS)})
        assert proc.returncode == 0, proc.stderr[-2000:]
        return str(run_dirs(root)[0])

    return Path(made_once("ddp", make))


@pytest.mark.slow
def test_cpu_ddp_matches_one_process_of_the_same_global_batch(tmp_path, ddp_run):
    proc = run(*TINY, "data.batch_size=16", cwd=tmp_path)  # in this process; DDP forks: cli
    assert proc.returncode == 0, proc.stderr[-2000:]
    (single,), double = run_dirs(tmp_path), ddp_run
    a, b = read_metrics(single), read_metrics(double)
    assert b["status"] == "completed"
    assert (a["epochs"], a["global_step"]) == (b["epochs"], b["global_step"]) == (2, 26)
    assert b["best_val_loss"] == pytest.approx(a["best_val_loss"], rel=DDP_RTOL)
    assert b["best_val_loss"] < float("inf")
    for name in ("mse", "rmse", "mae"):
        assert b["test"][name] == pytest.approx(a["test"][name], rel=DDP_RTOL), name
    assert b["forecast"]["rollout"]["mse"] == pytest.approx(
        a["forecast"]["rollout"]["mse"], rel=1e-4
    )
    # rank 0 alone reports: one log of metrics, one set of plots
    assert sorted(p.name for p in (double / "plots").iterdir()) == sorted(
        p.name for p in (single / "plots").iterdir()
    )
    assert len(list((double / "csv").rglob("metrics.csv"))) == 1
    # the test's metrics at the run's last step, as one process logs them (the forked test's
    # Trainer had counted no steps: they stood at step 0)
    assert [e.step for e in load_events(double).Scalars("test/mse")] == [26]
    # every curve point of the fit in metrics.csv, as one process writes them: the forked
    # test's new CSV writer removed the file the fit's processes wrote (only test/* was left)
    assert csv_points(double) == csv_points(single)


def csv_points(run_dir: Path) -> set[tuple[str, int]]:
    """(column, step) of every value in a run's csv/metrics.csv."""
    (path,) = (run_dir / "csv").rglob("metrics.csv")
    with path.open(newline="") as file:
        rows = list(csv.DictReader(file))
    return {(k, int(row["step"])) for row in rows for k, v in row.items() if v and k != "step"}


@pytest.mark.slow
def test_sigterm_stops_every_ddp_process_and_the_run_resumes_exactly(tmp_path, ddp_run):
    """SIGTERM in both processes after batch 1 of epoch 1: every process stops after the same
    batch, the state is saved, the main process says so in one line (exit 143); resume= then
    ends where the run left alone ends, bit for bit."""
    env = {"PYTHONPATH": str(HELPERS), "LSTM_LAB_FAULT": "SIGTERM@1:1"}
    proc = cli(*DDP_RUN, cwd=tmp_path, extra_env=env, timeout=120)
    assert proc.returncode == 143, proc.stderr[-3000:]
    (stopped,) = run_dirs(tmp_path)
    last_line = proc.stderr.strip().splitlines()[-1]
    assert last_line.startswith("lstm-train: error: interrupted by SIGTERM at epoch 1, step 15")
    assert f"resume={stopped}" in last_line and "Traceback" not in proc.stderr
    metrics = read_metrics(stopped)
    assert (metrics["status"], metrics["epochs"], metrics["global_step"]) == ("interrupted", 1, 15)
    assert metrics["best_checkpoint"] == str(stopped / "checkpoints" / "best.ckpt")

    proc = cli(f"resume={stopped}", cwd=tmp_path, extra_env={"PYTHONPATH": str(HELPERS)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in ("last", "best"):
        a, b = (
            torch.load(d / "checkpoints" / f"{name}.ckpt", weights_only=True)
            for d in (stopped, ddp_run)
        )
        assert a["state_dict"].keys() == b["state_dict"].keys()
        assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])
    assert comparable(read_metrics(stopped)) == comparable(read_metrics(ddp_run))


@pytest.mark.slow
def test_sigterm_in_a_ddp_test_lets_it_finish(tmp_path):
    """SIGTERM in both processes of `trainer.strategy=ddp` at their first test batch. Under
    Lightning's own handler one process ended its test at the next batch and the other failed on
    the closed connection (no report; with the signal as the test starts, its broadcasts hung
    both); now the test and report finish, and the run stops, complete."""
    env = {"PYTHONPATH": str(HELPERS), "LSTM_LAB_FAULT": "TEST-BATCH-SIGTERM@0:0"}
    plain_ddp = [a for a in DDP_RUN if not a.startswith("trainer.strategy=")]
    args = [*plain_ddp, "trainer.strategy=ddp", "data.eval_batch_size=4"]
    proc = cli(*args, cwd=tmp_path, extra_env=env, timeout=120)
    assert proc.returncode == 143, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    # rank 1 leaves the line and the status to rank 0 (its 143 made Lightning's launcher
    # SIGKILL rank 0 while it wrote the report)
    assert proc.stderr.count("lstm-train: error:") == 1, proc.stderr[-3000:]
    (run_dir,) = run_dirs(tmp_path)
    assert proc.stderr.strip().splitlines()[-1] == (
        "lstm-train: error: interrupted by SIGTERM after training; the test and report were "
        f"finished first, the run is complete: {run_dir}"
    )
    metrics = read_metrics(run_dir)
    assert metrics["status"] == "completed" and "mse" in metrics["test"]


def test_ddp_that_reruns_the_command_line_is_refused_in_a_sweep(tmp_path):
    proc = run(
        "-m", *TINY, "trainer=ddp", "trainer.accelerator=cpu", "model.hidden_size=4,6", cwd=tmp_path
    )
    assert proc.returncode != 0
    refusals = [
        line
        for line in proc.stderr.splitlines()
        if line.startswith("lstm-train: error: job") and "trainer.strategy:" in line
    ]
    assert len(refusals) == 2, proc.stderr[-2000:]  # each job, one line, none trained
    assert "2 of 2 jobs failed" in proc.stderr
    assert all("use trainer.strategy=ddp_spawn" in line for line in refusals)
    assert not list(tmp_path.rglob("*.ckpt"))


@pytest.mark.parametrize(
    "trainer,reruns",
    [
        ({"strategy": "ddp", "devices": 2}, True),
        ({"strategy": "ddp_find_unused_parameters_true", "devices": 2}, True),
        ({"strategy": "auto", "devices": 2, "accelerator": "cpu"}, True),
        ({"strategy": "auto", "devices": "0,1", "accelerator": "gpu"}, True),
        ({"strategy": "auto", "devices": "auto", "accelerator": "gpu"}, True),
        ({"strategy": "auto", "devices": 1, "num_nodes": 2}, True),
        ({"strategy": "auto", "devices": 1, "accelerator": "auto"}, False),
        ({"strategy": "auto", "devices": "auto", "accelerator": "cpu"}, False),
        ({"strategy": "ddp_spawn", "devices": 2}, False),
        ({"strategy": "ddp_fork", "devices": 2}, False),
    ],
)
def test_which_strategies_rerun_the_command_line(trainer, reruns):
    assert reruns_command_line(trainer) is reruns
    plain = {"trainer": trainer}
    check_strategy(plain, multirun=False)  # a single run may always re-run its command line
    check_strategy(plain, multirun=True, launcher="submitit_slurm")  # SLURM starts the tasks
    if reruns:
        with pytest.raises(ConfigError) as info:
            check_strategy(plain, multirun=True, launcher="basic")
        assert info.value.key == "trainer.strategy" and "\n" not in str(info.value)
    else:
        check_strategy(plain, multirun=True, launcher="basic")


def launcher_options() -> list[str]:
    return sorted(p.stem for p in (CONFIG_DIR / "launcher").glob("*.yaml"))


PLUGINS = {
    "joblib": "hydra_plugins.hydra_joblib_launcher",
    "submitit_local": "hydra_plugins.hydra_submitit_launcher",
    "submitit_slurm": "hydra_plugins.hydra_submitit_launcher",
    "ray": "hydra_plugins.hydra_ray_launcher",  # the `ray` extra, not installed by dev
}


@pytest.mark.parametrize("name", launcher_options())
def test_every_launcher_config_composes(name):
    pytest.importorskip(PLUGINS[name])
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(
            "train",
            overrides=["paths.run_dir=/tmp/unused", f"launcher={name}"],
            return_hydra_config=True,
        )
    # the plugin's launcher, or lstm-lab's extension of it (launcher=joblib's: longest first)
    launcher = get_class(cfg.hydra.launcher._target_)
    assert any(c.__module__.startswith(PLUGINS[name]) for c in launcher.__mro__)
    HydraConfig.instance().set_config(cfg)
    try:
        threads = cfg.threads  # resolved from the launcher's settings
    finally:
        HydraConfig.instance().cfg = None
    assert isinstance(threads, int) and threads >= 1


@pytest.mark.parametrize("name", ["cpu", "gpu", "ddp"])
def test_trainer_configs_pick_their_devices(compose_train, name):
    trainer = compose_train(f"trainer={name}").trainer
    assert trainer.accelerator == {"cpu": "cpu", "gpu": "gpu", "ddp": "auto"}[name]
    if name == "ddp":
        assert trainer.devices == 2 and trainer.num_nodes == 1 and trainer.strategy == "ddp"


def test_trainer_gpu_without_a_gpu_is_refused_naming_the_key(tmp_path, monkeypatch):
    """`trainer=gpu` where torch finds no GPU (simulated, for a machine that has one): one line
    naming trainer.accelerator, exit 2, no run directory (Lightning's line named no key)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    proc = run(*QUICK, "trainer=gpu", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == (
        "lstm-train: error: trainer.accelerator: got gpu, but torch finds no such device on "
        "this machine; set trainer.accelerator=auto (a GPU when there is one, trainer=default) "
        "or cpu"
    )
    assert not run_dirs(tmp_path)
