"""What a run that fails inside `fit` records: one line, never a run left looking unfinished.

training/run.py catches what `fit` raises besides its own stops (NaN loss, interrupt, out of
memory), marks the run failed in metrics.json (and TensorBoard's HParams) with the line from
`failure_reason`, and exits 1. A checkpoint that Lightning cannot load into the run's network
is no failure of the run but a bad input: a ConfigError naming ckpt_path (exit 2, no run
directory), as records/compat.py gives before `fit` whenever the checkpoint records its settings.
"""

from __future__ import annotations

from lstm_lab.config.keyspec import ConfigError
from lstm_lab.setting_error import SettingError

# The start of torch's message when a state_dict does not fit a module.
LOAD_MISMATCH = "Error(s) in loading state_dict"


def first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    return lines[0] if lines else ""


def failure_reason(error: Exception, ckpt_path: str | None) -> str:
    """`<ExceptionType>: <its first line>`; re-raises bad settings as they are, and a checkpoint
    that does not load as a ConfigError naming ckpt_path."""
    if isinstance(error, SettingError):
        raise error
    message = " ".join(str(error).split())
    if ckpt_path and LOAD_MISMATCH in message:
        detail = message.split(":", 2)[-1].strip()[:300]
        raise ConfigError(
            "ckpt_path", f"{ckpt_path}: does not fit this run's network ({detail})"
        ) from None
    text = first_line(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
