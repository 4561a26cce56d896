"""One job of a sweep, isolated: its failure, whatever it is, stops only this job. Hydra would
otherwise end the sweep on a SystemExit (the one-line errors) at once, and on any other exception
after the batch, without the summary; Optuna's sweeper stops too. records/sweep.py writes the
failed job's metrics.json and, at the end, the list of failed jobs."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TypeVar

from lstm_lab.records import sweep
from lstm_lab.training.stopped import RunStopped
from lstm_lab.user_errors import describe

T = TypeVar("T")


def run_isolated(task: Callable[[], T], prog: str) -> T | float:
    """The job's value, or the sweep's worst (+inf) after reporting why it failed."""
    try:
        return task()
    except RunStopped as stopped:
        if stopped.exit_code != 1:  # Ctrl-C or SIGTERM: the user stops the whole sweep
            print(f"{prog}: error: {stopped}", file=sys.stderr)
            sys.exit(stopped.exit_code)
        reason = str(stopped)  # the run wrote its own metrics.json
    except Exception as error:
        reason = describe(error)
        sweep.record_failure(error, reason)
    print(f"{prog}: error: job {sweep.job_name()} failed: {reason}", file=sys.stderr)
    return sweep.FAILED_VALUE
