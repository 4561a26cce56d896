"""Fixtures shared by the test files. The helpers themselves (running the entry points in a
subprocess or in this process, reading a run's records) are in tests/helpers/__init__.py.

Shared runs, made once per test session, also when `make test` runs the tests on several
workers (pytest-xdist): the first worker that needs one makes it, the others wait for it. Tests
only read them; a test that writes into a run works on a copy (helpers.copy_run).

- `quick_run`: `lstm-train` as a user runs it, in a subprocess: QUICK with 12 hidden units,
  2 layers, batches of 32. `.run_dir`, `.root` (the directory it ran in), `.proc` (its output).
- `quick_sweep`: `lstm-train -m` over a 2x2 grid (hidden 4,8 x layers 1,2; one epoch each) and
  `lstm-compare` over it, both in a subprocess. `.sweep_dir`, `.root`, `.proc`, `.report`.
- `default_run`: the run directory of the default experiment as `make train` runs it
  (threads=1), in-process.
- `made_once(name, make)`: the same for a test file's own shared runs: `make(directory)` runs
  once per session and returns what the tests need (JSON: strings, numbers, lists, dicts).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from filelock import FileLock
from hydra import compose, initialize_config_dir

# Tests import these from helpers; conftest re-exports them for tests written before helpers/.
from helpers import (  # noqa: F401
    BIN,
    QUICK,
    Completed,
    cli,
    comparable,
    read_metrics,
    run_dirs,
    sweep_dirs,
    train,
)
from lstm_lab import CONFIG_DIR
from lstm_lab.config.schema import register

register()  # the groups whose defaults src/lstm_lab/config/schema.py states, for compose()


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """Tiny LSTMs run fastest on one thread, and the test workers share the cores."""
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def made_once(tmp_path_factory):
    """made_once(name, make) -> make(directory), made once per session (see the docstring)."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # each worker's basetemp is a folder of the session's
    made: dict[str, object] = {}

    def get(name: str, make):
        if name not in made:
            directory = base / f"shared_{name}"
            result = directory / "made.json"
            with FileLock(f"{directory}.lock"):
                if not result.is_file():
                    shutil.rmtree(directory, ignore_errors=True)  # a failed earlier attempt
                    directory.mkdir()
                    result.write_text(json.dumps(make(directory)))
            made[name] = json.loads(result.read_text())
        return made[name]

    return get


@pytest.fixture
def compose_train():
    """compose_train(*overrides) -> DictConfig, as lstm-train would see it (run_dir filled in)."""

    def _compose(*overrides: str):
        with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
            return compose("train", overrides=["paths.run_dir=/tmp/unused", *overrides])

    return _compose


@dataclass
class SharedRun:
    run_dir: Path
    root: Path
    proc: Completed


@dataclass
class SharedSweep:
    sweep_dir: Path
    root: Path
    proc: Completed
    report: Completed


QUICK_RUN = [*QUICK, "model.hidden_size=12", "model.num_layers=2", "data.batch_size=32"]
QUICK_GRID = ["model.hidden_size=4,8", "model.num_layers=1,2", *QUICK, "trainer.max_epochs=1"]


def _output(proc) -> dict:
    return {"args": list(proc.args), "returncode": proc.returncode, "stdout": proc.stdout,
            "stderr": proc.stderr}  # fmt: skip


@pytest.fixture(scope="session")
def quick_run(made_once) -> SharedRun:
    def make(root: Path) -> dict:
        proc = cli(*QUICK_RUN, cwd=root)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        (run_dir,) = run_dirs(root)
        return {"run_dir": str(run_dir), "root": str(root), "proc": _output(proc)}

    made = made_once("quick_run", make)
    return SharedRun(Path(made["run_dir"]), Path(made["root"]), Completed(**made["proc"]))


@pytest.fixture(scope="session")
def quick_sweep(made_once) -> SharedSweep:
    def make(root: Path) -> dict:
        proc = cli("-m", *QUICK_GRID, cwd=root)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        (sweep_dir,) = sweep_dirs(root)
        report = cli(str(sweep_dir), cwd=root, prog="lstm-compare")
        assert report.returncode == 0, report.stderr[-3000:]
        return {"sweep_dir": str(sweep_dir), "root": str(root), "proc": _output(proc),
                "report": _output(report)}  # fmt: skip

    made = made_once("quick_sweep", make)
    return SharedSweep(
        Path(made["sweep_dir"]),
        Path(made["root"]),
        Completed(**made["proc"]),
        Completed(**made["report"]),
    )


@pytest.fixture(scope="session")
def default_run(made_once) -> Path:
    """The default experiment, whole (40 epochs): the accuracy anchor several tests compare to."""
    return Path(made_once("default_run", lambda root: str(train(root, "threads=1"))))
