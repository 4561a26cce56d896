"""What every console script does around its Hydra app: `--verbose`, and a refusal printed as
`prog: error: <line>` with its exit status (the line and the status come from user_errors.py,
the one place that makes them)."""

from __future__ import annotations

import atexit
import gc
import os
import signal
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import hydra
from omegaconf import DictConfig

from lstm_lab import CONFIG_DIR
from lstm_lab.records.sweep import remove_refused_sweeps
from lstm_lab.user_errors import (
    CommandError,
    CommandExit,
    command_errors_as_exits,
    refusals_as_command_errors,
)


def command_app(config_name: str, command: str, module: str) -> Callable[[], Any]:
    """The Hydra app of a command that runs no sweep of its own (lstm-eval, lstm-predict): its
    config composed from the command line, handed to `lstm_lab.<command>`."""

    def task(cfg: DictConfig) -> Any:
        from lstm_lab import api

        with command_errors_as_exits():
            return getattr(api, command)(cfg)

    task.__module__ = module  # Hydra names the job after it (hydra.job.name)
    app = hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name=config_name)
    return app(task)


def run_cli(app: Callable[[], object], prog: str) -> None:
    """Run a Hydra app; a refusal becomes `prog: error: ...` and its exit status (2 for a bad
    setting). `--verbose` (or HYDRA_FULL_ERROR=1) shows the full traceback instead."""
    # LSTM_LAB_VERBOSE, once set, is the user's choice: a DDP process that re-runs this command
    # inherits the HYDRA_FULL_ERROR=1 set below, which is not theirs.
    asked = os.environ.get("HYDRA_FULL_ERROR") == "1"
    verbose = os.environ.get("LSTM_LAB_VERBOSE", "1" if asked else "0") == "1"
    if "--verbose" in sys.argv:
        sys.argv.remove("--verbose")
        verbose = True
    os.environ["LSTM_LAB_VERBOSE"] = "1" if verbose else "0"
    # Make Hydra re-raise instead of printing its own multi-line report, so it arrives here.
    os.environ["HYDRA_FULL_ERROR"] = "1"
    atexit.unregister(collect_nothing_at_exit)  # once, however often run_cli runs
    atexit.register(collect_nothing_at_exit)  # runs after the handlers torch & co. add later
    try:
        # Hydra's refusals before the task starts (a sweep's: before any job ran)
        with refusals_as_command_errors(on_refusal=remove_refused_sweeps):
            from lstm_lab.config.files import check_command_line, flags_first

            # the files Hydra will read, first
            check_command_line(sys.argv[1:], CONFIG_DIR, train=prog == "lstm-train")
            sys.argv[1:] = flags_first(sys.argv[1:])
            app()
    except CommandExit as stop:  # from inside Hydra's app (the task's command_errors_as_exits)
        leave(prog, stop.message, stop.code)
    except CommandError as error:
        leave(prog, str(error), error.exit_code)
    except KeyboardInterrupt:  # Ctrl-C where no stop was arranged (start-up, say): one line
        if verbose:
            raise
        print(f"\n{prog}: error: interrupted by Ctrl-C", file=sys.stderr)
        sys.exit(128 + signal.SIGINT)


SIGNAL_STOPS = (128 + signal.SIGINT, 128 + signal.SIGTERM)


def leave(prog: str, message: str, code: int) -> NoReturn:
    """`prog: error: <message>` and exit `code`; quietly 0 in a DDP process other than rank 0
    that a signal stopped with all the others: rank 0 reports the run and exits with the
    signal's status, and a non-zero status here would make Lightning's launcher SIGKILL rank 0
    while it writes metrics.json and the report."""
    if code in SIGNAL_STOPS and not rank_zero():
        sys.exit(0)
    print(f"{prog}: error: {message}", file=sys.stderr)
    sys.exit(code)


def rank_zero() -> bool:
    """False in the copies of the command Lightning starts for DDP ranks 1, 2, ... (plain `ddp`)
    and in torchrun's or SLURM's processes of those ranks."""
    if "lightning" not in sys.modules:  # nothing was trained in this process
        return True
    from lightning.pytorch.utilities import rank_zero_only

    return getattr(rank_zero_only, "rank", 0) == 0


def collect_nothing_at_exit() -> None:
    """Leave the garbage collector out of the interpreter's teardown: with torch and Lightning
    loaded, its passes over their objects took 1-4 s after a run's last file was written.
    Every exit handler and the teardown itself still run (files are closed by their owners
    first: loggers, writers, metrics.json), so nothing is lost; the memory goes with the
    process."""
    gc.disable()
    gc.freeze()
