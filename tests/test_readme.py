"""Every command in the README is exercised here, so README and code cannot drift apart.

The commands run through their console script's entry point in this process, but for those
whose launcher or strategy starts processes of its own (joblib, submitit, DDP): those run as a
user runs them, in a subprocess. The shared runs (conftest) stand in for the README's
`outputs/runs/<date>_<time>` and `outputs/sweeps/<date>_<time>`.
"""

from __future__ import annotations

import csv
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir

from helpers import BIN, QUICK, cli, copy_run, read_metrics, run, run_dirs
from lstm_lab import CONFIG_DIR
from lstm_lab.training.sweep_threads import threads_per_job

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def commands(prefix: str) -> list[str]:
    found = []
    for block in blocks("bash"):
        for line in block.splitlines():
            line = line.split("#")[0].strip()
            if line.startswith(prefix):
                found.append(line)
    return found


def is_sweep(command: str) -> bool:
    args = shlex.split(command)
    return "-m" in args or any(a.split("=")[0] in ("sweep", "hparams_search") for a in args)


def quick_for(args: list[str]) -> list[str]:
    """QUICK, less its sine-only keys when the command reads another series (a CSV file)."""
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("train", overrides=["paths.run_dir=/tmp/unused", *args])
    if "n_points" in cfg.data.series:
        return QUICK
    return [o for o in QUICK if not o.startswith("data.series.")]


def starts_processes(args: list[str]) -> bool:
    """Whether a command's launcher or strategy starts processes (then it runs in one itself)."""
    return any(a in args for a in ("launcher=joblib", "launcher=submitit_local", "trainer=ddp"))


def lstm(*args: str, cwd: Path, prog: str = "lstm-train"):
    """A README command: in a subprocess when it starts processes, else in this process."""
    return (cli if starts_processes(list(args)) else run)(*args, cwd=cwd, prog=prog)


def needs_engine(command: str) -> str | None:
    """The engine a README command needs that CI lacks (GPUs, SLURM, Ray), if any."""
    args = shlex.split(command)
    if "launcher=submitit_slurm" in args:
        return "slurm"
    if "launcher=ray" in args:
        return "ray"
    if "trainer=gpu" in args or ("trainer=ddp" in args and "trainer.accelerator=cpu" not in args):
        return "gpu"
    return None


@pytest.mark.parametrize("command", [c for c in commands("lstm-train") if needs_engine(c)])
def test_readme_commands_for_other_engines_compose(command):
    """Commands for GPUs, SLURM or Ray: CI has none, so their config is composed and validated
    (the Ray launcher's only where its plugin is installed)."""
    if needs_engine(command) == "ray":
        pytest.importorskip("hydra_plugins.hydra_ray_launcher")
    from lstm_lab.config import validate
    from lstm_lab.training.strategies import check_strategy

    args = [a for a in shlex.split(command)[1:] if a != "-m"]
    first = [a.split(",")[0] if "=" in a else a for a in args]  # one job of a sweep
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(
            "train", overrides=["paths.run_dir=/tmp/unused", *first], return_hydra_config=True
        )
    launcher = cfg.hydra.runtime.choices.get("hydra/launcher")
    cfg = compose_job(cfg)
    check_strategy(validate(cfg), multirun="-m" in command, launcher=launcher)


def compose_job(cfg):
    """The job's config without the hydra node (its run-directory resolvers create dirs)."""
    from omegaconf import OmegaConf, open_dict

    with open_dict(cfg):
        del cfg["hydra"]
        cfg.threads = None  # the launchers' threads read the hydra node
    return OmegaConf.create(OmegaConf.to_container(cfg))


def is_debug_preset(command: str) -> bool:
    """`lstm-train debug=<preset>`: run as its row of docs/combinations.md (test_debug.py)."""
    return any(arg.startswith("debug=") for arg in shlex.split(command)[1:2])


def slow_if_it_starts_processes(command: str):
    """A command that runs in a subprocess (starts_processes) is marked slow: a whole run."""
    slow = starts_processes(shlex.split(command))
    return pytest.param(command, marks=[pytest.mark.slow] if slow else [])


@pytest.mark.parametrize(
    "command",
    [
        slow_if_it_starts_processes(c)
        for c in commands("lstm-train")
        if not is_sweep(c) and not needs_engine(c) and not is_debug_preset(c)
    ],
)
def test_readme_lstm_train_commands_run(tmp_path, command):
    args = shlex.split(command)[1:]
    if not any(a.startswith("--") for a in args):
        # A real run, shortened: the full-length runs are in test_runs.py.
        args += [*quick_for(args), "trainer.max_epochs=1"]
    proc = lstm(*args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    if "--" not in command:
        assert len(run_dirs(tmp_path)) == 1
    horizon = next((int(a.split("=")[1]) for a in args if a.startswith("data.horizon=")), 1)
    if horizon > 1:  # a multi-step forecast: the report shows skill at steps 1, H/2 and H
        report = proc.stdout
        assert "MSE by step ahead (direct forecasts)" in report, report[-3000:]
        assert "skill vs best baseline" in report
        assert all(f"step {k}" in report for k in (1, (horizon + 1) // 2, horizon))


def expected_jobs(args: list[str]) -> int:
    if "sweep=hidden_layers" in args:
        return 6
    if "hparams_search=optuna" in args:
        return 2  # n_trials, set below
    count = 1
    for a in args:
        if "=" in a and "," in a:
            count *= len(a.split("=", 1)[1].split(","))
    return count


@pytest.mark.slow
@pytest.mark.parametrize(
    "command", [c for c in commands("lstm-train") if is_sweep(c) and not needs_engine(c)]
)
def test_readme_sweep_commands_run_and_compare(tmp_path, command):
    """Every job of the sweep completes, one epoch each; lstm-compare lists them all."""
    args = [*shlex.split(command)[1:], *QUICK, "trainer.max_epochs=1"]
    if "hparams_search=optuna" in args:
        args = [a for a in args if not a.startswith("hydra.sweeper.n_trials=")]
        args.append("hydra.sweeper.n_trials=2")
    if any(a.startswith("launcher=") for a in args):
        args.remove("threads=1")  # the launcher sets the threads
    proc = lstm(*args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    (sweep_dir,) = (tmp_path / "outputs" / "sweeps").iterdir()
    jobs = [p for p in sweep_dir.iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert len(jobs) == expected_jobs(args)
    assert all(read_metrics(j)["status"] == "completed" for j in jobs)
    assert not any(k in j.name for j in jobs for k in ("sweep=", "launcher=", "hparams_search="))
    if "launcher=joblib" in args:  # jobs in parallel processes, jobs x threads <= cores
        assert "Joblib.Parallel(n_jobs=2" in proc.stdout
        assert all(read_metrics(j)["threads"] == threads_per_job(2) for j in jobs)
        # that threads_per_job keeps jobs x threads within the cores: test_sweeps.py
        # the longest job first (hidden 64), each keeping the sweeper's number
        started = re.findall(r"#(\d+) : .*?model\.hidden_size=(\d+)", proc.stdout)
        assert started == [("1", "64"), ("0", "32")]
        for j in jobs:
            job = yaml.safe_load((j / ".hydra" / "hydra.yaml").read_text())["hydra"]["job"]
            hidden = yaml.safe_load((j / ".hydra" / "config.yaml").read_text())["model"]
            assert job["num"] == {32: 0, 64: 1}[hidden["hidden_size"]]
    if "launcher=submitit_local" in args:  # each job a submitit job, with its own log
        assert len(list((sweep_dir / ".submitit").rglob("*_log.out"))) == 2
        assert all(read_metrics(j)["threads"] == 1 for j in jobs)
    report = run(str(sweep_dir), cwd=tmp_path, prog="lstm-compare")
    assert report.returncode == 0, report.stderr[-2000:]
    with open(sweep_dir / "comparison.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(jobs)
    if "hparams_search=optuna" in args:  # the best trial is the report's first row
        best = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())
        assert float(rows[0]["best val loss"]) == pytest.approx(best["best_value"])
        assert int(rows[0]["hidden size"]) == best["best_params"]["model.hidden_size"]


@pytest.fixture(scope="module")
def readme_outputs(tmp_path_factory, quick_run, quick_sweep):
    """Copies of the shared run and sweep under outputs/, for the README's tensorboard and
    lstm-compare lines."""
    root = tmp_path_factory.mktemp("readme")
    run_dir = copy_run(quick_run.run_dir, root / "outputs" / "runs" / quick_run.run_dir.name)
    sweep_dir = copy_run(quick_sweep.sweep_dir, root / "outputs" / "sweeps" / "sweep")
    return root, run_dir, sweep_dir


def placeholders(path: str, run_dir: Path, sweep_dir: Path) -> str:
    path = path.replace("outputs/runs/<date>_<time>", str(run_dir))
    return path.replace("outputs/sweeps/<date>_<time>", str(sweep_dir))


@pytest.mark.parametrize("command", commands("lstm-compare"))
def test_readme_lstm_compare_commands_run(readme_outputs, command):
    root, run_dir, sweep_dir = readme_outputs
    target = Path(placeholders(shlex.split(command)[1], run_dir, sweep_dir))
    proc = run(str(target), cwd=root, prog="lstm-compare")
    assert proc.returncode == 0, proc.stderr[-2000:]
    target = target if target.is_absolute() else root / target
    runs = {p.name for p in target.iterdir() if p.is_dir()}
    rows = (target / "comparison.csv").read_text().strip().splitlines()[1:]
    assert len(rows) == len(runs) >= 1


def test_readme_error_examples_match_the_real_output(tmp_path):
    examples = re.findall(
        r"^\$ (lstm-train .*)\n(lstm-train: error: .*)$", "".join(blocks("console")), re.M
    )
    assert len(examples) >= 2
    for command, expected in examples:
        proc = run(*shlex.split(command)[1:], cwd=tmp_path)
        assert proc.returncode == 2
        assert proc.stderr.strip() == expected


@pytest.mark.parametrize("command", commands("make"))
def test_readme_make_commands_are_targets(command):
    """`make -n` checks the target exists and shows what it runs (make test runs in CI itself)."""
    proc = subprocess.run(
        ["make", "-n", *shlex.split(command)[1:]], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    target = shlex.split(command)[1]
    expected = {
        "train": "lstm-train",
        "sweep": "lstm-train sweep=hidden_layers",
        "compare": "lstm-compare",
        "test": "pytest",
        "bench": "scripts/bench.py",
        "bench-transforms": "scripts/bench_transforms.py",
        "bench-peers": "scripts/bench_peers.py",
        "lint": "ruff",
        "tensorboard": "tensorboard",
        "extras": "pip install --quiet -c constraints.txt -e '.[optuna]'",
    }[target]
    assert expected in proc.stdout


def test_make_train_passes_args_through():
    proc = subprocess.run(
        ["make", "-n", "train", "ARGS=model.hidden_size=64"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert "lstm-train model.hidden_size=64" in proc.stdout


def test_readme_tensorboard_commands_read_a_run(readme_outputs):
    tmp_path, run_dir, sweep_dir = readme_outputs
    for command in commands("tensorboard"):
        logdir = placeholders(shlex.split(command)[2], run_dir, sweep_dir)
        logdir = str(tmp_path / logdir) if not Path(logdir).is_absolute() else logdir
        inspected = subprocess.run(
            [str(BIN / "tensorboard"), "--inspect", "--logdir", logdir],
            capture_output=True,
            text=True,
        )
        assert inspected.returncode == 0
        assert "train/loss" in inspected.stdout or "scalars" in inspected.stdout, command


def test_lint_is_clean():
    for args in (
        ["check", "src", "tests", "scripts"],
        ["format", "--check", "src", "tests", "scripts"],
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "ruff", *args], cwd=ROOT, capture_output=True, text=True
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_readme_eval_and_predict_commands_run(tmp_path, quick_run):
    commands_found = commands("lstm-eval") + commands("lstm-predict")
    assert len(commands_found) >= 4
    run_dir = copy_run(quick_run.run_dir, tmp_path / "outputs" / "runs" / "run")
    (tmp_path / "series.csv").write_text("value\n" + "\n".join(str(i % 7) for i in range(50)))
    for command in commands_found:
        args = shlex.split(command.replace("outputs/runs/<date>_<time>", str(run_dir)))
        proc = run(*args[1:], cwd=tmp_path, prog=args[0])
        assert proc.returncode == 0, command + proc.stderr[-2000:]
    assert (run_dir / "eval" / "best" / "evaluation.json").is_file()
    assert (run_dir / "eval" / "last" / "evaluation.json").is_file()
    assert len((run_dir / "forecast.csv").read_text().splitlines()) == 101
    assert len((tmp_path / "forecast.csv").read_text().splitlines()) == 51  # default steps=50
