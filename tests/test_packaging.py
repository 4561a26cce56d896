"""lstm-lab as an installed tool: the README's wheel, built and installed into a throwaway
virtual environment, trains, evaluates, predicts and compares from an empty folder exactly
as the checkout does, with its configs and bundled data inside the package.

Offline: the wheel is built with this environment's setuptools (no build isolation), and the
throwaway environment reuses this one's installed dependencies through a .pth file (no
second download of torch); only the wheel itself is installed into it.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

import lstm_lab
from helpers import QUICK, comparable, run_dirs
from test_user_project import section_commands

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "src", "configs", "data")
SECTION = "Use it in your own project"
ONE_EPOCH = [*QUICK, "trainer.max_epochs=1"]

pytestmark = pytest.mark.slow


def run(*args: str | Path, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    """A command as a user's shell runs it: nothing of this checkout on the path."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "HYDRA_FULL_ERROR", "LSTM_LAB_VERBOSE")
    }
    env["COLUMNS"] = "120"
    proc = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, f"{args}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    return proc


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The README's build command, run on a copy of the sources (nothing written here)."""
    source = tmp_path_factory.mktemp("source")
    for name in SOURCES:
        if (ROOT / name).is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
            shutil.copytree(ROOT / name, source / name, ignore=ignore)
        else:
            shutil.copy2(ROOT / name, source / name)
    (build,) = section_commands(SECTION, "python -m pip wheel")
    args = shlex.split(build)[1:]  # offline: this environment's setuptools, no index
    run(sys.executable, *args, "--no-build-isolation", "--no-index", cwd=source)
    (built,) = (source / "dist").glob("*.whl")
    return built


@pytest.fixture(scope="module")
def venv_bin(wheel, tmp_path_factory) -> Path:
    """A fresh virtual environment with the README's install command, then this environment's
    dependencies added behind it (after the install, so pip sees no lstm-lab there)."""
    venv = tmp_path_factory.mktemp("venv")
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=venv)
    python = venv / "bin" / "python"
    (install,) = section_commands(SECTION, "pip install")
    args = shlex.split(install)[2:]  # pip install <wheel>
    assert args == [f"dist/{wheel.name}"]
    run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index",
        *args, cwd=wheel.parent.parent)  # fmt: skip
    purelib = run(
        python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=venv
    )
    site = Path(purelib.stdout.strip())
    (site / "_lstm_lab_dev_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv / "bin"


def test_wheel_holds_every_module_config_and_the_bundled_data(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {str(p.relative_to(ROOT / "src")) for p in (ROOT / "src").rglob("*.py")}
    configs = {f"lstm_lab/{p.relative_to(ROOT)}" for p in (ROOT / "configs").rglob("*.yaml")}
    assert modules <= names, sorted(modules - names)
    assert configs <= names, sorted(configs - names)
    bundled = {f"lstm_lab/{p.relative_to(ROOT)}" for p in (ROOT / "data").rglob("*.*")}
    assert {"lstm_lab/data/elnino/elnino.csv", "lstm_lab/data/co2/co2.csv"} <= bundled
    assert bundled <= names, sorted(bundled - names)  # every bundled series, with its README
    metadata = zipfile.ZipFile(wheel).read("lstm_lab-0.1.0.dist-info/METADATA").decode()
    assert "Requires-Dist: PyYAML>=5.1" in metadata  # records/comparison.py imports yaml
    assert "Requires-Dist: torch>=2.4" in metadata  # fused CPU Adam, optimizer.fused's default


def test_installed_tool_runs_from_an_empty_folder_as_the_checkout_does(
    venv_bin, tmp_path, monkeypatch
):
    empty = tmp_path / "empty"
    empty.mkdir()
    where = run(venv_bin / "python", "-c", "import lstm_lab; print(lstm_lab.CONFIG_DIR)", cwd=empty)
    config_dir = Path(where.stdout.strip())
    assert config_dir.is_relative_to(venv_bin.parent) and (config_dir / "train.yaml").is_file()

    (command,) = section_commands(SECTION, "lstm-train")
    run(venv_bin / "lstm-train", *shlex.split(command)[1:], *ONE_EPOCH, cwd=empty)
    (run_dir,) = run_dirs(empty)
    installed = json.loads((run_dir / "metrics.json").read_text())
    assert installed["status"] == "completed"
    assert installed["git_commit"] is None  # not a repository

    # The same command in this checkout's code, in-process, gives the same run.
    here = tmp_path / "checkout"
    here.mkdir()
    monkeypatch.chdir(here)
    checkout = lstm_lab.train([*shlex.split(command)[1:], *ONE_EPOCH])
    same = comparable(installed) | {"versions": None}
    assert same == comparable(checkout.metrics) | {"versions": None}

    csv_run = [
        "data=csv", "data.series.path=data/elnino/elnino.csv", "data.series.target=nino34",
        "trainer.max_epochs=1", "threads=1",
    ]  # fmt: skip
    run(venv_bin / "lstm-train", *csv_run, cwd=empty)  # the bundled data, found from anywhere
    run(venv_bin / "lstm-eval", f"run_dir={run_dir}", cwd=empty)
    assert (run_dir / "eval" / "best" / "evaluation.json").is_file()
    run(venv_bin / "lstm-predict", f"run_dir={run_dir}", "steps=5", cwd=empty)
    assert len((run_dir / "forecast.csv").read_text().splitlines()) == 6
    run(venv_bin / "lstm-compare", "outputs/runs", cwd=empty)
    rows = (empty / "outputs" / "runs" / "comparison.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 2


def test_hydra_finds_the_installed_launcher_by_its_own_scan(venv_bin, tmp_path):
    """A wheel's hydra_plugins/lstm_lab_launchers is found by Hydra's plugin scan (an editable
    install's is not: lstm-train registers it by hand), so a user's own Hydra app gets
    launcher=joblib's launcher too."""
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    scan = (
        "from hydra.core.plugins import Plugins; from hydra.plugins.launcher import Launcher; "
        "print([c.__module__ + '.' + c.__name__ for c in Plugins.instance().discover(Launcher)])"
    )
    found = run(venv_bin / "python", "-c", scan, cwd=tmp_path).stdout
    assert "hydra_plugins.lstm_lab_launchers.longest_first.LongestFirstJoblibLauncher" in found
