"""Shared helpers: run the CLI the way a user does, compose configs the way Hydra does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from lstm_lab import CONFIG_DIR
from lstm_lab.schema import register

register()  # the groups whose defaults src/lstm_lab/schema.py states, for compose()

BIN = Path(sys.executable).parent
# Small, fast settings for end-to-end runs: fewer points, two short epochs.
QUICK = ["data.series.n_points=300", "data.series.t_end=30", "trainer.max_epochs=2", "threads=1"]


def cli(
    *args: str,
    cwd: Path,
    prog: str = "lstm-train",
    timeout: int = 900,
    extra_env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("HYDRA_FULL_ERROR", "LSTM_LAB_VERBOSE")}
    env["COLUMNS"] = "120"
    env.update(extra_env or {})
    return subprocess.run(
        [str(BIN / prog), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def run_dirs(root: Path) -> list[Path]:
    return sorted(p for p in (root / "outputs" / "runs").glob("*") if p.is_dir())


def train(tmp_path: Path, *overrides: str) -> Path:
    """Run lstm-train in tmp_path; return its run directory (asserting success)."""
    before = set(run_dirs(tmp_path))
    proc = cli(*overrides, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (new,) = set(run_dirs(tmp_path)) - before
    return new


def read_metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


# metrics.json entries that measure time, so differ between otherwise identical runs.
TIMINGS = ("wall_time_s", "time_to_first_step_s", "phases_s")


def comparable(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k not in TIMINGS}


@pytest.fixture
def compose_train():
    """compose_train(*overrides) -> DictConfig, as lstm-train would see it (run_dir filled in)."""

    def _compose(*overrides: str):
        with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
            return compose("train", overrides=["paths.run_dir=/tmp/unused", *overrides])

    return _compose
