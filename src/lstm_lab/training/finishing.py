"""A signal that lets the work in hand finish first: the test and report after training,
lstm-eval's evaluation. Standard library only, so lstm-eval, which imports no Lightning, can
use it as lstm-train does (training/safeguards.py)."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from lstm_lab.training.stopped import RunStopped

FINISHING = "\nInterrupted: finishing {what} first (Ctrl-C again to abort)"

# finish_before_stopping's handler while it is on (None otherwise): CheckpointOnInterrupt
# (safeguards.py) puts it back over Lightning's when the test starts.
_handler: Any = None


def finishing_handler() -> Any:
    """The handler finish_before_stopping has set, or None outside it."""
    return _handler


@contextmanager
def finish_before_stopping(
    noted: int = 0, what: str = "the test and report"
) -> Iterator[dict[str, int]]:
    """A Ctrl-C or SIGTERM lets `what` (a second or two) end, so that no file is left
    half-written or missing, and is noted in the dict this yields (its "signal"); the caller
    stops then. `noted`: a signal already noted (in training's last batch). A second Ctrl-C
    aborts at once. Outside the main thread (where no handler can be set) signals keep their
    handlers."""
    global _handler
    got: dict[str, int] = {}
    message = FINISHING.format(what=what)
    if noted:
        got["signal"] = noted
        print(message, file=sys.stderr)
    if threading.current_thread() is not threading.main_thread():
        yield got
        return

    def note(signum, frame) -> None:
        signal.signal(signal.SIGINT, signal.default_int_handler)  # from now on Ctrl-C aborts
        if "signal" not in got:
            got["signal"] = signum
            print(message, file=sys.stderr)

    previous = {
        signal.SIGINT: signal.signal(signal.SIGINT, signal.default_int_handler if noted else note),
        signal.SIGTERM: signal.signal(signal.SIGTERM, note),
    }
    _handler = note
    try:
        yield got
    finally:
        _handler = None
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def stop_if_signalled(stopped: dict[str, int], message: str) -> None:
    """After finish_before_stopping's block: RunStopped when it noted a signal, with `message`
    (its "{how}" replaced by Ctrl-C or SIGTERM; not str.format, since a path may hold braces)
    and the signal's exit status (130, 143)."""
    if stopped:
        how = signal_name(stopped["signal"])
        raise RunStopped(message.replace("{how}", how), exit_code=128 + stopped["signal"])


def signal_name(signum: int) -> str:
    """A stop's signal as its message names it: Ctrl-C for SIGINT, else SIGTERM."""
    return "Ctrl-C" if signum == signal.SIGINT else "SIGTERM"
