"""How a run that stopped before its end says so: RunStopped carries the line and the exit
status; metrics.json, written first, says why. The entry points print it as one line."""

from __future__ import annotations


class RunStopped(Exception):
    """Training stopped before its end (non-finite loss, interruption); metrics.json says why."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code
