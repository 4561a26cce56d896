"""README's worked examples, as a user follows them: their files written into an empty folder
(each block's first line names its file), their commands run there, shortened."""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir

import lstm_lab
from helpers import QUICK
from lstm_lab import CONFIG_DIR
from lstm_lab.api import CommandError
from lstm_lab.config import validate

ROOT = Path(__file__).resolve().parents[1]
SECTION = (ROOT / "README.md").read_text().split("## Worked examples\n", 1)[1].split("\n## ")[0]
QUICKER = ["trainer.max_epochs=1", "threads=1"]


def example(title: str) -> tuple[dict[str, str], list[list[str]]]:
    """The files ({path: text}) and the commands' arguments of one worked example."""
    text = SECTION.split(f"### {title}\n", 1)[1].split("\n### ")[0]
    files = {}
    for block in re.findall(r"```(?:python|yaml)\n(.*?)```", text, flags=re.S):
        name = re.match(r"# (\S+): ", block).group(1)
        files[name] = block
    commands = [
        shlex.split(line.split("#")[0])[2:]
        for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S)
        for line in block.splitlines()
        if line.startswith("PYTHONPATH=. lstm-train ")
    ]
    return files, commands


@pytest.fixture
def project(tmp_path, monkeypatch):
    """Both examples' files in an empty folder, which is the working directory and on the path
    (as PYTHONPATH=. makes it); their modules leave with it."""
    for title in ("Add a new model", "Add a new data source"):
        for name, text in example(title)[0].items():
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name).write_text(text)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    # plots take most of a tiny run's time, and are not what these runs check
    monkeypatch.setattr("lstm_lab.evaluation.run_figures.write_figures", lambda *a, **k: [])
    yield tmp_path
    for name in ("my_networks", "my_sources"):
        sys.modules.pop(name, None)


def test_each_example_touches_two_files_and_runs_two_commands():
    for title in ("Add a new model", "Add a new data source"):
        files, commands = example(title)
        assert len(files) == 2 and len(commands) == 2, title


def composed(args: list[str]) -> dict:
    """A command's config, composed and checked (its classes' signatures too) without a run."""
    options, configs = [a for a in args if a != "--config-dir" and a != "configs"], "configs"
    search = f"hydra.searchpath=[file://{Path(configs).resolve()}]"
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        return validate(compose("train", overrides=["paths.run_dir=/tmp/unused", search, *options]))


def test_the_new_model_trains_and_its_keys_are_checked(project):
    (first, second) = example("Add a new model")[1]
    result = lstm_lab.train([*first, *QUICK, *QUICKER])
    saved = yaml.safe_load((result.run_dir / ".hydra" / "config.yaml").read_text())
    assert saved["model"]["_target_"] == "my_networks.ConvRegressor"
    assert result.metrics["status"] == "completed"
    # conv: channels x (inputs x kernel + 1); head: horizon x (channels + 1)
    assert result.metrics["n_params"] == 16 * (1 * 3 + 1) + 1 * (16 + 1)
    assert composed(second)["model"]["channels"] == 32
    with pytest.raises(CommandError) as refused:
        lstm_lab.train([*first, "model.channel=32"])
    assert str(refused.value) == "model.channel: unknown key (did you mean 'channels'?)"


def test_the_new_data_source_trains_with_the_new_model(project):
    (alone, with_conv) = example("Add a new data source")[1]
    series = {"_target_": "my_sources.random_walk", "n_points": 500, "step": 0.1}
    assert composed(alone)["data"]["series"] == series
    with pytest.raises(CommandError) as refused:
        lstm_lab.train([*alone, "data.series.steps=1"])
    assert str(refused.value) == "data.series.steps: unknown key (did you mean 'step'?)"
    result = lstm_lab.train([*with_conv, *QUICKER])
    saved = yaml.safe_load((result.run_dir / ".hydra" / "config.yaml").read_text())
    assert saved["data"]["series"] == series
    assert saved["model"]["_target_"] == "my_networks.ConvRegressor"
    assert result.metrics["status"] == "completed"
