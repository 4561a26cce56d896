"""The console scripts' entry points: each hands its command to this environment's warm server
when one runs (lstm_lab/warm/client.py, stdlib only), else imports its command and runs it cold.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module

from lstm_lab.warm.client import hand_over
from lstm_lab.warm.wire import COMMANDS


def console_script(name: str) -> Callable[[], None]:
    """What the console script of command `name` (wire.COMMANDS) calls."""

    def main() -> None:
        hand_over(name)
        import_module(COMMANDS[name][1]).main()

    main.__name__ = name
    return main


train, evaluate, predict, compare = map(console_script, ("train", "evaluate", "predict", "compare"))
