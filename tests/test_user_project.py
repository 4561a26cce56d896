"""A project of one's own: configs joined with --config-dir or hydra.searchpath, networks,
series and DataModules named by `_target_`, the GRU built the same way, and the commands as
Python functions (lstm_lab.train/evaluate/predict), which these tests use to run in-process."""

from __future__ import annotations

import csv
import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import lstm_lab
from helpers import QUICK, run_dirs
from lstm_lab.api import CommandError, TrainResult
from lstm_lab.cli.compare import main as compare_main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "my_project"
HELPERS = ROOT / "tests" / "helpers"
USER_CONFIGS = ["--config-dir", str(HELPERS / "configs")]
ONE_EPOCH = ["trainer.max_epochs=1", "threads=1"]


def readme_section(title: str) -> str:
    readme = (ROOT / "README.md").read_text()
    return readme.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def section_commands(title: str, prefix: str) -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", readme_section(title), flags=re.S)
    lines = [line.split("#")[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line.startswith(prefix)]


def user_rows() -> list[tuple[str, str]]:
    text = (ROOT / "docs" / "errors.md").read_text()
    table = text.split("## Your own network, series or DataModule\n", 1)[1].split("\n## ")[0]
    found = re.findall(r"^\| `([^`]+)` \| [^|]+ \| `(.+)` \|$", table, flags=re.M)
    assert len(found) >= 10
    return found


@pytest.fixture
def helpers_on_path(tmp_path, monkeypatch):
    """Run in an empty folder, with tests/helpers importable (as PYTHONPATH would make it)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(HELPERS))
    return tmp_path


@pytest.mark.parametrize("given,expected", user_rows(), ids=[r[0] for r in user_rows()])
def test_documented_refusal_of_a_users_class(helpers_on_path, given, expected):
    with pytest.raises(CommandError) as refused:
        lstm_lab.train([*USER_CONFIGS, *shlex.split(given)])
    assert str(refused.value) == expected
    assert refused.value.exit_code == 2
    assert not run_dirs(helpers_on_path), "a refused run must leave no run directory"


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    """A copy of examples/my_project, the working directory and on the path while in use."""
    folder = tmp_path_factory.mktemp("project") / "my_project"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("outputs", "__pycache__"))
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        patch.syspath_prepend(str(folder))
        yield folder
    # its modules leave with it: a later `my_models.Nope` must find no my_models, as a user's
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", None) or "").startswith(str(folder)):
            del sys.modules[name]


@pytest.fixture(scope="module")
def example_run(example) -> TrainResult:
    """The README's `lstm-train --config-dir configs experiment=my_experiment`, shortened."""
    (command, *_) = section_commands("Use it in your own project", "PYTHONPATH=. lstm-train")
    args = shlex.split(command)[2:]
    assert args == ["--config-dir", "configs", "experiment=my_experiment"]
    return lstm_lab.train([*args, "trainer.max_epochs=2", "threads=1"])


def test_example_project_trains_its_own_network_on_its_own_series(example, example_run):
    metrics, run_dir = example_run.metrics, example_run.run_dir
    assert run_dir.parent == example / "outputs" / "runs"
    assert metrics["status"] == "completed" and metrics["epochs"] == 2
    saved = yaml.safe_load((run_dir / ".hydra" / "config.yaml").read_text())
    assert saved["model"]["_target_"] == "my_models.MLPRegressor"
    assert saved["data"]["series"]["_target_"] == "my_series.sawtooth"
    # metrics in original units, against the baselines, on the series' own period
    forecast = metrics["forecast"]
    assert set(forecast["baselines"]) == {
        "linear_ar",
        "persistence",
        "seasonal_naive",
        "training_mean",
    }
    assert forecast["period"] == 25  # experiment=my_experiment's evaluation.period
    assert metrics["n_params"] == 30 * 64 + 64 + 64 + 1  # window*hidden + biases + head


def test_example_run_evaluates_and_predicts(example, example_run):
    run_dir = example_run.run_dir
    evaluation = lstm_lab.evaluate([f"run_dir={run_dir}"])
    saved = json.loads((run_dir / "eval" / "best" / "evaluation.json").read_text())
    assert evaluation == saved
    assert evaluation["test"]["mse"] == pytest.approx(example_run.metrics["test"]["mse"], rel=1e-4)
    forecast = lstm_lab.predict([f"run_dir={run_dir}", "steps=7"])
    with open(forecast, newline="") as f:
        assert len(list(csv.DictReader(f))) == 7


@pytest.mark.slow
def test_readme_project_commands_run(example):
    """The README's other commands in the project: a sweep over three networks (one of them
    the project's), and the configs joined through hydra.searchpath instead of --config-dir."""
    commands = section_commands("Use it in your own project", "PYTHONPATH=. lstm-train")[1:]
    assert len(commands) == 2
    for command in commands:
        result = lstm_lab.train([*shlex.split(command)[2:], *ONE_EPOCH])
        results = result if isinstance(result, list) else [result]
        assert all(r.metrics["status"] == "completed" for r in results)
        if "-m" in command:
            targets = {
                yaml.safe_load((r.run_dir / ".hydra" / "config.yaml").read_text())["model"][
                    "_target_"
                ].rsplit(".", 1)[1]
                for r in results
            }
            assert targets == {"MLPRegressor", "LSTMRegressor", "GRURegressor"}
            compare_main([str(results[0].run_dir.parent)])  # lstm-compare, in-process
            with open(results[0].run_dir.parent / "comparison.csv", newline="") as f:
                assert {row["network"] for row in csv.DictReader(f)} == targets


@pytest.mark.parametrize(
    "choice", [["model=last_value"], ["data=ramp"], ["data=jitter", "data.jitter=0.5"]]
)
def test_users_network_series_and_datamodule_train(helpers_on_path, choice):
    quick = QUICK if choice[0].startswith("model") else []
    result = lstm_lab.train([*USER_CONFIGS, *choice, *quick, *ONE_EPOCH])
    assert result.metrics["status"] == "completed"
    assert result.metrics["test"]["mse"] > 0


def test_gru_trains_in_both_modes_and_is_evaluated_as_a_gru(helpers_on_path):
    window = lstm_lab.train(["model=gru", "model.hidden_size=8", *QUICK, *ONE_EPOCH])
    assert window.metrics["n_params"] == 3 * (8 * 1 + 8 * 8 + 2 * 8) + 8 + 1  # GRU + head
    evaluation = lstm_lab.evaluate([f"run_dir={window.run_dir}"])
    assert evaluation["test"]["mse"] == pytest.approx(window.metrics["test"]["mse"], rel=1e-4)
    stateful = lstm_lab.train(["model=gru", "experiment=stateful", *QUICK, *ONE_EPOCH])
    assert (stateful.metrics["mode"], stateful.metrics["status"]) == ("stateful", "completed")
    carried = lstm_lab.train(["model=gru", "model.carry_state=true", *QUICK, *ONE_EPOCH])
    assert carried.metrics["status"] == "completed"


def test_train_raises_the_command_line_refusal_and_can_be_called_again(helpers_on_path):
    argv = list(sys.argv)
    with pytest.raises(CommandError) as refused:
        lstm_lab.train(["model.hidden_sise=64"])
    assert str(refused.value) == "model.hidden_sise: unknown key (did you mean 'hidden_size'?)"
    assert refused.value.exit_code == 2
    assert sys.argv == argv
    with pytest.raises(CommandError, match=r"^run_dir: give run_dir="):
        lstm_lab.evaluate([])
    result = lstm_lab.train([*QUICK, *ONE_EPOCH])
    assert result.run_dir.parent == helpers_on_path / "outputs" / "runs"
    assert (result.run_dir / "train.log").is_file()
    with pytest.raises(TypeError):
        lstm_lab.train("model=gru")


def test_importing_lstm_lab_imports_no_torch():
    code = (
        "import sys, lstm_lab; lstm_lab.train; lstm_lab.api;"
        "assert callable(lstm_lab.train) and callable(lstm_lab.predict);"
        "print(sorted(m for m in ('torch', 'lightning') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_users_network_continues_from_its_checkpoint(helpers_on_path):
    """Checkpoints of a user's network load back into it: a new run from the first's last.ckpt
    continues at its epoch (scheduler=none: no schedule length to carry over)."""
    args = [*USER_CONFIGS, "model=last_value", "scheduler=none", *QUICK, "threads=1"]
    first = lstm_lab.train([*args, "trainer.max_epochs=1"])
    ckpt = first.run_dir / "checkpoints" / "last.ckpt"
    second = lstm_lab.train([*args, "trainer.max_epochs=2", f"ckpt_path={ckpt}"])
    assert (second.metrics["status"], second.metrics["epochs"]) == ("completed", 2)
    assert second.metrics["global_step"] == 2 * first.metrics["global_step"]
