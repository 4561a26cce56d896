"""Command-line plumbing shared by the entry points: one-line errors instead of tracebacks."""

from __future__ import annotations

import atexit
import functools
import gc
import logging
import os
import re
import shutil
import sys
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path
from typing import NoReturn, TypeVar

from hydra.errors import (
    ConfigCompositionException,
    InstantiationException,
    MissingConfigException,
    OverrideParseException,
)
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from lstm_lab.config import ConfigError, unknown_key_message
from lstm_lab.data.errors import SettingError
from lstm_lab.records import sweep
from lstm_lab.records.rundirs import RESUMED
from lstm_lab.training.errors import RunStopped

T = TypeVar("T")

# Where lstm_lab.api collects each job's result and output directory (Hydra's app returns
# nothing, and restores its config when the job ends).
RETURNED: ContextVar[list | None] = ContextVar("RETURNED", default=None)


USER_ERRORS = (
    ConfigError,
    SettingError,
    ConfigCompositionException,
    InstantiationException,
    MissingConfigException,
    OverrideParseException,
    OmegaConfBaseException,
)


class CommandExit(SystemExit):
    """A command's refusal or early stop: its exit status and one-line message.

    A SystemExit, so it passes through Hydra's job runner untouched (Hydra reports any
    Exception a task raises, multi-line); `run_cli` prints it as `prog: error: message`, and
    the Python functions (lstm_lab.api) raise it as a CommandError instead.
    """

    def __init__(self, code: int, message: str) -> None:
        super().__init__(code)
        self.message = message


# Hydra plugins of the optional extras (pyproject.toml), by the config they register.
PLUGIN_EXTRAS = {
    "hydra/launcher/joblib": "parallel",
    "hydra/launcher/submitit_local": "slurm",
    "hydra/launcher/submitit_slurm": "slurm",
    "hydra/launcher/ray": "ray",
    "hydra/sweeper/optuna": "optuna",
}


def plugin_hint(message: str) -> str:
    """How to install the extra whose Hydra plugin a config asked for, or ''."""
    found = re.search(r"Could not find '(hydra/\w+/\w+)'", message)
    extra = PLUGIN_EXTRAS.get(found.group(1)) if found else None
    if extra is None:
        return ""
    # The ray extra wants cloudpickle<3, which the tested pins (constraints.txt) exclude.
    command = "pip install -e '.[ray]'" if extra == "ray" else f"make extras EXTRAS={extra}"
    return f"; it comes with the `{extra}` extra: {command}"


def describe(error: BaseException) -> str:
    """One line saying what was wrong, naming the key when there is one."""
    cause = error.__cause__ if isinstance(error.__cause__, OmegaConfBaseException) else error
    if isinstance(error, MissingConfigException) and error.options:
        first = str(error).strip().splitlines()[0]
        available = ", ".join(sorted(error.options))
        return f"{first}; available: {available}{plugin_hint(first)}"
    if isinstance(cause, OmegaConfBaseException) and getattr(cause, "full_key", None):
        msg = str(getattr(cause, "msg", cause)).strip().splitlines()[0]
        if "not in struct" in msg or "Missing key" in msg:
            parent = getattr(cause, "parent_node", None)
            known = list(parent.keys()) if hasattr(parent, "keys") else []
            msg = unknown_key_message(cause.key, known)
        return f"{_written_at(msg)}{cause.full_key}: {msg}"
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    return " ".join(lines[:2]) if lines else type(error).__name__


def _written_at(msg: str) -> str:
    """`<file>: line <n>: ` of an interpolation that does not resolve, where a config has it."""
    from lstm_lab import CONFIG_DIR
    from lstm_lab.config.files import interpolation_source

    where = interpolation_source(msg, sys.argv[1:], CONFIG_DIR)
    return f"{where}: " if where else ""


def fail(error: BaseException, prog: str) -> NoReturn:
    print(f"{prog}: error: {describe(error)}", file=sys.stderr)
    sys.exit(2)


def user_task(
    task: Callable[[DictConfig], T], prog: str, remove_run_dir: bool = True
) -> Callable[[DictConfig], T]:
    """Wrap a Hydra task so a config error found inside it is one line, exit 2, and no run dir.

    Hydra creates the run directory (with .hydra/ and a log) before the task starts; when the
    task refuses the config, that directory holds nothing of value and is removed (unless
    `remove_run_dir` is false: commands such as lstm-eval that make no directory of their own).
    A run that stops later (RunStopped) keeps its directory, with metrics.json saying why.
    In a sweep, every job is isolated instead: see `_isolated`.
    """

    @functools.wraps(task)
    def wrapped(cfg: DictConfig) -> T:
        if sweep.in_multirun():
            return _collect(_isolated(task, cfg, prog))
        try:
            return _collect(task(cfg))
        except USER_ERRORS as error:
            if os.environ.get("LSTM_LAB_VERBOSE") == "1":
                raise
            if remove_run_dir:
                _remove_empty_run_dir()
            raise CommandExit(2, describe(error)) from None
        except RunStopped as stopped:
            if os.environ.get("LSTM_LAB_VERBOSE") == "1":
                raise
            raise CommandExit(stopped.exit_code, str(stopped)) from None
        except (Exception, KeyboardInterrupt):  # a bug, or Ctrl-C while starting: no half run
            if remove_run_dir:
                _remove_empty_run_dir()
            raise

    return wrapped


def _collect(result: T) -> T:
    """Hand a task's result and its output directory to lstm_lab.api, when it asks."""
    collected = RETURNED.get()
    if collected is not None:
        from hydra.core.hydra_config import HydraConfig

        collected.append((result, Path(HydraConfig.get().runtime.output_dir)))
    return result


def _isolated(task: Callable[[DictConfig], T], cfg: DictConfig, prog: str) -> T | float:
    """Run one job of a sweep so that its failure, whatever it is, stops only this job.

    Hydra would otherwise end the sweep on a SystemExit (our one-line errors) at once, and on
    any other exception after the batch, without the summary; Optuna's sweeper stops too.
    """
    try:
        return task(cfg)
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


def _remove_empty_run_dir() -> None:
    from hydra.core.hydra_config import HydraConfig

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    if run_dir.resolve() in RESUMED:
        # A refused resume leaves the run it names as it was, but for the lines in its log.
        shutil.rmtree(run_dir / ".hydra" / "resumed", ignore_errors=True)
        return
    leftovers = [
        p
        for p in run_dir.iterdir()
        if p.name != ".hydra" and p.suffix != ".log" and not _holds_no_records(p)
    ]
    if not leftovers:
        logging.shutdown()  # close the log file before removing it
        shutil.rmtree(run_dir, ignore_errors=True)


def _holds_no_records(path: Path) -> bool:
    """A TensorBoard event file, or a folder of them, with nothing logged in them (Lightning
    opens its loggers before training starts, so a config refused then leaves such files)."""
    if not path.exists():
        return False
    files = list(path.iterdir()) if path.is_dir() else [path]
    if not files or not all(f.is_file() and ".tfevents." in f.name for f in files):
        return False
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    return not any(
        event.HasField("summary") for f in files for event in EventFileLoader(str(f)).Load()
    )


def run_cli(app: Callable[[], object], prog: str) -> None:
    """Run a Hydra app; user errors become `prog: error: ...` and exit 2.

    `--verbose` (or HYDRA_FULL_ERROR=1) shows the full traceback instead.
    """
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
        from lstm_lab import CONFIG_DIR
        from lstm_lab.config.files import check_command_line

        check_command_line(sys.argv[1:], CONFIG_DIR)  # the files Hydra will read, before it does
        app()
    except CommandExit as stop:
        print(f"{prog}: error: {stop.message}", file=sys.stderr)
        sys.exit(stop.code)
    except USER_ERRORS as error:
        if verbose:
            raise
        fail(error, prog)


def collect_nothing_at_exit() -> None:
    """Leave the garbage collector out of the interpreter's teardown: with torch and Lightning
    loaded, its passes over their objects took 1-4 s after a run's last file was written.
    Every exit handler and the teardown itself still run (files are closed by their owners
    first: loggers, writers, metrics.json), so nothing is lost; the memory goes with the
    process."""
    gc.disable()
    gc.freeze()
