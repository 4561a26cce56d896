"""Fixtures shared by the test files. The helpers themselves (running the entry points in a
subprocess or in this process, reading a run's records) are in tests/helpers/__init__.py.

Shared runs (session scope, so made once per test process; with `make test`'s workers, once
per worker that needs them). Tests only read them: `copy_run` one before changing it.

- `quick_run`: `lstm-train` as a user runs it, in a subprocess: QUICK with 12 hidden units,
  2 layers, batches of 32. `.run_dir`, `.root` (the directory it ran in), `.proc` (its output).
- `quick_sweep`: `lstm-train -m` over a 2x2 grid (hidden 4,8 x layers 1,2; one epoch each) and
  `lstm-compare` over it, both in a subprocess. `.sweep_dir`, `.root`, `.proc`, `.report`.
- `default_run`: the default experiment as `make train` runs it (threads=1), in-process.

Tests that use one of them are grouped (`xdist_group`) so that `pytest -n 2 --dist loadgroup`
(what `make test` runs) makes each shared run on one worker only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from helpers import (  # noqa: F401 (BIN, comparable, train: for test files that import them from here)
    BIN,
    QUICK,
    Completed,
    cli,
    comparable,
    read_metrics,
    run,
    run_dirs,
    sweep_dirs,
    train,
)
from lstm_lab import CONFIG_DIR

# Shared-run fixture -> the xdist group of the tests using it (runs used together, one group).
SHARED_RUNS = {"quick_run": "quick", "quick_sweep": "quick", "default_run": "default_run"}


def pytest_configure(config):
    # Tiny LSTMs run fastest on one thread, and the test workers share the cores.
    import torch

    torch.set_num_threads(1)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("xdist_group"):
            continue
        group = next((SHARED_RUNS[f] for f in item.fixturenames if f in SHARED_RUNS), None)
        if group:
            item.add_marker(pytest.mark.xdist_group(group))


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


@pytest.fixture(scope="session")
def quick_run(tmp_path_factory) -> SharedRun:
    root = tmp_path_factory.mktemp("quick_run")
    proc = cli(*QUICK_RUN, cwd=root)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (run_dir,) = run_dirs(root)
    return SharedRun(run_dir, root, proc)


@pytest.fixture(scope="session")
def quick_sweep(tmp_path_factory) -> SharedSweep:
    root = tmp_path_factory.mktemp("quick_sweep")
    proc = cli("-m", *QUICK_GRID, cwd=root)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (sweep_dir,) = sweep_dirs(root)
    report = cli(str(sweep_dir), cwd=root, prog="lstm-compare")
    assert report.returncode == 0, report.stderr[-3000:]
    return SharedSweep(sweep_dir, root, proc, report)


@pytest.fixture(scope="session")
def default_run(tmp_path_factory) -> Path:
    """The default experiment, whole (40 epochs): the accuracy anchor several tests compare to."""
    return train(tmp_path_factory.mktemp("default_run"), "threads=1")
