"""The one place a refusal becomes the line a user reads: every bad setting (SettingError and
its subclasses), Hydra's and OmegaConf's config errors, and a run that stopped early (RunStopped)
turn into a CommandError carrying `prog: error: <line>`'s line and the exit status (2 for a bad
setting). The Python functions (api.py) raise it; the console scripts (cli/shell.py) print it.

`LSTM_LAB_VERBOSE=1` (the commands' `--verbose`) lets the original exception through instead,
traceback and all. Imports Hydra and OmegaConf, never torch."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from hydra.errors import (
    ConfigCompositionException,
    InstantiationException,
    MissingConfigException,
    OverrideParseException,
)
from omegaconf.errors import OmegaConfBaseException

from lstm_lab.config.keyspec import unknown_key_message
from lstm_lab.setting_error import SettingError
from lstm_lab.training.stopped import RunStopped

USER_ERRORS = (
    SettingError,
    ConfigCompositionException,
    InstantiationException,
    MissingConfigException,
    OverrideParseException,
    OmegaConfBaseException,
)

# Sections whose config lists some of their class's arguments and takes any other with `+`
# (lightning.Trainer, the optimizer, the scheduler): an unknown key there may be one to add.
OPEN_SECTIONS = ("trainer", "optimizer", "scheduler")

# Hydra plugins of the optional extras (pyproject.toml), by the config they register.
PLUGIN_EXTRAS = {
    "hydra/launcher/joblib": "parallel",
    "hydra/launcher/submitit_local": "slurm",
    "hydra/launcher/submitit_slurm": "slurm",
    "hydra/launcher/ray": "ray",
    "hydra/sweeper/optuna": "optuna",
}


class CommandError(Exception):
    """A command refused its input or stopped early: `str(error)` is the one line the command
    prints after `prog: error: `, `exit_code` the status it exits with."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class CommandExit(SystemExit):
    """A CommandError on its way out of a job Hydra's app runs: a SystemExit passes through
    Hydra's job runner untouched (it reports any Exception a task raises, multi-line)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(code)
        self.message = message


@contextlib.contextmanager
def command_errors_as_exits() -> Iterator[None]:
    """Inside a Hydra app's task: a CommandError leaves as a CommandExit."""
    try:
        yield
    except CommandError as error:
        raise CommandExit(error.exit_code, str(error)) from None


def verbose() -> bool:
    return os.environ.get("LSTM_LAB_VERBOSE") == "1"


@contextlib.contextmanager
def refusals_as_command_errors(on_refusal: Callable[[], None] | None = None) -> Iterator[None]:
    """Inside: a bad setting becomes CommandError(its line, 2), after `on_refusal` (which removes
    what the refused run left); a stopped run CommandError(its line, its status)."""
    try:
        yield
    except USER_ERRORS as error:
        if on_refusal is not None:
            on_refusal()  # verbose or not: a refused run leaves nothing
        if verbose():
            raise
        raise CommandError(describe(error), 2) from None
    except RunStopped as stopped:
        if verbose():
            raise
        raise CommandError(str(stopped), stopped.exit_code) from None


def written_at(msg: str) -> str:
    """`<file>: line <n>: ` of an interpolation that does not resolve, where a config has it:
    the user's config folders (the job's --config-dir) are searched before lstm-lab's own."""
    from hydra.core.hydra_config import HydraConfig

    from lstm_lab import CONFIG_DIR
    from lstm_lab.config.files import interpolation_source

    folders = []
    if HydraConfig.initialized():
        for source in HydraConfig.get().runtime.config_sources:
            if source.schema == "file" and source.provider == "command-line":
                path = Path(source.path)
                folders.append(
                    str(path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path)
                )
    where = interpolation_source(msg, folders, CONFIG_DIR)
    return f"{where}: " if where else ""


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
            section = str(cause.full_key).partition(".")[0]
            if section in OPEN_SECTIONS and "did you mean" not in msg:
                msg += f"; {section} takes any other argument of its class: +{cause.full_key}=..."
        return f"{written_at(msg)}{cause.full_key}: {msg}"
    if isinstance(error, InstantiationException):
        return instantiation_failure(error)
    if isinstance(error, OverrideParseException):
        return unreadable_override(error)
    if str(error).startswith("Ambiguous value for argument"):
        return comma_in_value(str(error))
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    return " ".join(lines[:2]) if lines else type(error).__name__


def instantiation_failure(error: InstantiationException) -> str:
    """A `_target_` Hydra could not import or call (a callback, logger, the trainer, a
    DataModule), named by its key: Hydra's own message ends on the key and asks for
    HYDRA_FULL_ERROR, which the commands set themselves (`--verbose` shows the traceback)."""
    text = str(error).strip()
    found = re.search(r"^full_key: (.+)$", text, flags=re.M)
    key = found.group(1).strip() if found else ""
    located = re.match(r"Error locating target '([^']+)'", text)
    called = re.match(r"Error in call to target '([^']+)'", text)
    cause = error.__cause__
    if located:
        key = f"{key}._target_" if key else key
        msg = f"cannot import '{located.group(1)}' (is its folder on PYTHONPATH?)"
    elif called and cause is not None:
        first = (str(cause).strip().splitlines() or [""])[0]
        msg = f"{called.group(1)} failed: {type(cause).__name__}: {first}"
    else:
        lines = [
            line.strip()
            for line in text.splitlines()
            if line.strip() and not line.startswith("full_key: ")
        ]
        msg = " ".join(lines[:2]).replace(
            ", set env var HYDRA_FULL_ERROR=1 to see chained exception", ""
        )
    return f"{key}: {msg}" if key else msg


def unreadable_override(error: OverrideParseException) -> str:
    """An override Hydra's grammar cannot read, named by its key; a value with an `=` in it
    (a sweep job's directory, `run_dir=<sweep>/hidden_size=8`) gets the quoted form to type."""
    lines = [line.strip() for line in str(error).splitlines()]
    skip = ("Error parsing override", "See https://", "^")
    reason = next((line for line in lines if line and not line.startswith(skip)), "")
    key, has_value, value = error.override.partition("=")
    if not has_value:
        return f"{error.override}: not an override Hydra can read ({reason}); write key=value"
    msg = f"{key}: got {value!r}, which Hydra's override grammar cannot read ({reason})"
    if "=" in value and not any(q in value for q in "'\""):
        msg += f"; quote it: \"{key}='{value}'\""
    return msg


def comma_in_value(message: str) -> str:
    """Hydra's four lines on a value with a comma (a list? a sweep? one value?) as one line
    naming the key, with the quoted form a sweep job's directory needs."""
    found = re.search(r"argument '([^'=]+)=(.*)'$", message.splitlines()[0])
    if found is None:
        return " ".join(message.split())
    key, value = found.groups()
    return (
        f"{key}: got {value!r}, which Hydra reads as several values (a list: {key}=[a,b]; "
        f"a sweep: -m); quote it if it is one: \"{key}='{value}'\""
    )
