"""The commands as Python functions: the same overrides, run directory, logs and errors.

    import lstm_lab
    result = lstm_lab.train(["model.hidden_size=64", "trainer.max_epochs=5"])
    result.metrics["test"]["mse"], result.run_dir
    lstm_lab.evaluate([f"run_dir={result.run_dir}"])            # the evaluation summary
    lstm_lab.predict([f"run_dir={result.run_dir}", "steps=20"])  # the forecast CSV's path

Each runs the command's own Hydra app in this process, as if `lstm-train <overrides>` had been
typed in the working directory: runs land in ./outputs, `--config-dir DIR` and `-m` work too.
Where the command would print `prog: error: <line>` and exit, the function raises CommandError
with that line and the exit status. Hydra's global state is cleared before and after, so the
functions can be called any number of times in one process (a notebook, a test suite).

`lstm_lab.train` etc. are these functions (the package imports this module on first use);
the command-line entry points, lstm_lab/cli/, run the same Hydra apps.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class CommandError(Exception):
    """A command refused its input or stopped early: `str(error)` is the one line the command
    prints after `prog: error: `, `exit_code` the status it exits with."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class TrainResult:
    run_dir: Path
    metrics: dict[str, Any]  # the run's metrics.json


def train(overrides: Sequence[str] = ()) -> TrainResult | list[TrainResult]:
    """Run lstm-train with these overrides; its run directory and metrics. With `-m` (or a
    sweep config) the runs of the sweep, one result each, in job order (the jobs the basic
    launcher runs in this process; a parallel launcher's run elsewhere)."""
    from lstm_lab.cli.train import train_app

    done = _run(train_app, "lstm-train", overrides)
    jobs = [TrainResult(run_dir, _metrics(run_dir)) for _, run_dir in done]
    multirun = "-m" in overrides or "--multirun" in overrides or len(jobs) != 1
    return jobs if multirun else jobs[0]


def _metrics(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "metrics.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def evaluate(overrides: Sequence[str] = ()) -> dict[str, Any]:
    """Run lstm-eval with these overrides; the evaluation it wrote (evaluation.json)."""
    from lstm_lab.cli.evaluate import evaluate_app

    return _run(evaluate_app, "lstm-eval", overrides)[-1][0]


def predict(overrides: Sequence[str] = ()) -> Path:
    """Run lstm-predict with these overrides; the path of the forecast CSV it wrote."""
    from lstm_lab.cli.predict import predict_app

    return _run(predict_app, "lstm-predict", overrides)[-1][0]


def _run(app: Callable[[], Any], prog: str, args: Sequence[str]) -> list[tuple[Any, Path]]:
    """Run a Hydra app as its command line would, in this process; CommandError on a refusal.
    Returns each job's (result, output directory), which Hydra's app does not give back."""
    from hydra.core.global_hydra import GlobalHydra

    from lstm_lab.cli.errors import RETURNED, USER_ERRORS, CommandExit, describe

    if isinstance(args, str):
        raise TypeError("overrides is a list of strings, e.g. ['model.hidden_size=64']")
    saved_argv = sys.argv
    saved_env = {k: os.environ.get(k) for k in ("HYDRA_FULL_ERROR", "LSTM_LAB_VERBOSE")}
    sys.argv = [prog, *args]
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra re-raises instead of printing its report
    GlobalHydra.instance().clear()
    returned: list[Any] = []
    token = RETURNED.set(returned)
    try:
        from lstm_lab import CONFIG_DIR
        from lstm_lab.config.files import check_command_line

        check_command_line(list(args), CONFIG_DIR)  # as run_cli: the files Hydra will read
        app()
    except CommandExit as stop:
        raise CommandError(stop.message, int(stop.code)) from None
    except USER_ERRORS as error:
        if saved_env["LSTM_LAB_VERBOSE"] == "1":
            raise
        raise CommandError(describe(error), 2) from None
    finally:
        RETURNED.reset(token)
        sys.argv = saved_argv
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        GlobalHydra.instance().clear()
    return returned
