"""Every command in the README is exercised here, so README and code cannot drift apart."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from conftest import BIN, QUICK, cli, run_dirs
from lstm_lab import CONFIG_DIR

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


def quick_for(args: list[str]) -> list[str]:
    """QUICK, less its sine-only keys when the command reads another series (a CSV file)."""
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("train", overrides=["paths.run_dir=/tmp/unused", *args])
    if "n_points" in cfg.data.series:
        return QUICK
    return [o for o in QUICK if not o.startswith("data.series.")]


@pytest.mark.parametrize("command", commands("lstm-train"))
def test_readme_lstm_train_commands_run(tmp_path, command):
    args = shlex.split(command)[1:]
    if not any(a.startswith("--") for a in args):
        # A real run, shortened: the full-length runs are in test_runs.py.
        args += [*quick_for(args), "trainer.max_epochs=1"]
    proc = cli(*args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    if "--" not in command:
        assert len(run_dirs(tmp_path)) == 1


def test_readme_error_examples_match_the_real_output(tmp_path):
    examples = re.findall(
        r"^\$ (lstm-train .*)\n(lstm-train: error: .*)$", "".join(blocks("console")), re.M
    )
    assert len(examples) >= 2
    for command, expected in examples:
        proc = cli(*shlex.split(command)[1:], cwd=tmp_path)
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
        "test": "pytest",
        "lint": "ruff",
        "tensorboard": "tensorboard",
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


def test_readme_tensorboard_commands_read_a_run(tmp_path):
    proc = cli(*QUICK, "trainer.max_epochs=1", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (run_dir,) = run_dirs(tmp_path)
    for command in commands("tensorboard"):
        logdir = shlex.split(command)[2].replace("outputs/runs/<date>_<time>", str(run_dir))
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
