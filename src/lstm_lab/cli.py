"""Command-line plumbing shared by the entry points: one-line errors instead of tracebacks."""

from __future__ import annotations

import functools
import logging
import os
import shutil
import sys
from collections.abc import Callable
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

from lstm_lab import sweep
from lstm_lab.config import ConfigError, unknown_key_message

T = TypeVar("T")


class RunError(RuntimeError):
    """A run that cannot go on for a reason the user can act on (e.g. a non-finite loss)."""


USER_ERRORS = (
    ConfigError,
    ConfigCompositionException,
    InstantiationException,
    MissingConfigException,
    OverrideParseException,
    OmegaConfBaseException,
)


def describe(error: BaseException) -> str:
    """One line saying what was wrong, naming the key when there is one."""
    cause = error.__cause__ if isinstance(error.__cause__, OmegaConfBaseException) else error
    if isinstance(error, MissingConfigException) and error.options:
        first = str(error).strip().splitlines()[0]
        return f"{first}; available: {', '.join(sorted(error.options))}"
    if isinstance(cause, OmegaConfBaseException) and getattr(cause, "full_key", None):
        msg = str(getattr(cause, "msg", cause)).strip().splitlines()[0]
        if "not in struct" in msg or "Missing key" in msg:
            parent = getattr(cause, "parent_node", None)
            known = list(parent.keys()) if hasattr(parent, "keys") else []
            msg = unknown_key_message(cause.key, known)
        return f"{cause.full_key}: {msg}"
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    return " ".join(lines[:2]) if lines else type(error).__name__


def fail(error: BaseException, prog: str) -> NoReturn:
    print(f"{prog}: error: {describe(error)}", file=sys.stderr)
    sys.exit(2)


def user_task(task: Callable[[DictConfig], T], prog: str) -> Callable[[DictConfig], T]:
    """Wrap a Hydra task so a config error found inside it is one line, exit 2, and no run dir.

    Hydra creates the run directory (with .hydra/ and a log) before the task starts; when the
    task refuses the config, that directory holds nothing of value and is removed. A run that
    fails later (RunError) keeps its directory, with metrics.json saying why, and exits 1.
    In a sweep, every job is isolated instead: see `_isolated`.
    """

    @functools.wraps(task)
    def wrapped(cfg: DictConfig) -> T:
        if sweep.in_multirun():
            return _isolated(task, cfg, prog)
        try:
            return task(cfg)
        except USER_ERRORS as error:
            if os.environ.get("LSTM_LAB_VERBOSE") == "1":
                raise
            _remove_empty_run_dir()
            fail(error, prog)
        except RunError as error:
            if os.environ.get("LSTM_LAB_VERBOSE") == "1":
                raise
            sweep.record_failure(error, describe(error))
            print(f"{prog}: error: {describe(error)}", file=sys.stderr)
            sys.exit(1)

    return wrapped


def _isolated(task: Callable[[DictConfig], T], cfg: DictConfig, prog: str) -> T | float:
    """Run one job of a sweep so that its failure, whatever it is, stops only this job.

    Hydra would otherwise end the sweep on a SystemExit (our one-line errors) at once, and on
    any other exception after the batch, without the summary; Optuna's sweeper stops too.
    """
    try:
        return task(cfg)
    except Exception as error:
        reason = describe(error)
        sweep.record_failure(error, reason)
        print(f"{prog}: error: job {sweep.job_name()} failed: {reason}", file=sys.stderr)
        return sweep.FAILED_VALUE


def _remove_empty_run_dir() -> None:
    from hydra.core.hydra_config import HydraConfig

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    leftovers = [p for p in run_dir.iterdir() if p.name != ".hydra" and p.suffix != ".log"]
    if not leftovers:
        logging.shutdown()  # close the log file before removing it
        shutil.rmtree(run_dir, ignore_errors=True)


def run_cli(app: Callable[[], object], prog: str) -> None:
    """Run a Hydra app; user errors become `prog: error: ...` and exit 2.

    `--verbose` (or HYDRA_FULL_ERROR=1) shows the full traceback instead.
    """
    verbose = os.environ.get("HYDRA_FULL_ERROR") == "1" or os.environ.get("LSTM_LAB_VERBOSE") == "1"
    if "--verbose" in sys.argv:
        sys.argv.remove("--verbose")
        verbose = True
    if verbose:
        os.environ["LSTM_LAB_VERBOSE"] = "1"
    # Make Hydra re-raise instead of printing its own multi-line report, so it arrives here.
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        app()
    except USER_ERRORS as error:
        if verbose:
            raise
        fail(error, prog)
