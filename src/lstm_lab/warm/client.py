"""A console script's first step: when a warm server for this environment is live, hand the
command to it and exit with the status of the run it forked; otherwise return, and the command
runs cold as before. Stdlib only: a cold start pays a socket lookup, about a millisecond.

What travels: argv, the working directory, the environment, umask, niceness and CPU affinity,
this process's start time (so time_to_first_step_s still counts from here), and the terminal's
descriptors 0, 1 and 2 themselves (so progress bars and tty detection behave as in a cold run).
Ctrl-C and SIGTERM here are sent on to the run; if this process dies, the server stops the run.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
from contextlib import suppress

from lstm_lab.warm import wire

# Passed on to the run; Ctrl-Z (SIGTSTP) stops the run (SIGSTOP) and this process, `fg`
# (SIGCONT) continues both.
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGCONT)


def request(command: str) -> dict:
    umask = os.umask(0o22)
    os.umask(umask)
    return {
        "run": command,
        "argv": sys.argv,
        "cwd": os.getcwd(),
        "env": dict(os.environ),
        "python": sys.executable,
        "started": wire.process_start_s(),
        "umask": umask,
        "nice": os.nice(0),
        "cpus": sorted(os.sched_getaffinity(0)),
        "limits": wire.limits(),
    }


def hand_over(command: str) -> None:
    """Run `command` (wire.COMMANDS) in the warm server and exit as the run exits; return to
    run cold."""
    prog = wire.COMMANDS[command][0]
    if os.environ.get(wire.OFF) == "0":
        return
    sock = wire.connect(wire.socket_path())
    if sock is None:
        return
    try:
        for fd in (0, 1, 2):
            os.fstat(fd)  # a closed one cannot travel: run cold
        wire.send(sock, request(command), [0, 1, 2])
        reader = wire.LineReader(sock)
        answer = reader.read()
    except (OSError, ValueError):
        answer = None
    if not answer or "started" not in answer:
        sock.close()
        if answer and answer.get("cold"):
            print(f"{prog}: warm server not used: {answer['cold']}; running cold", file=sys.stderr)
        return
    follow(sock, reader, prog)


def follow(sock: socket.socket, reader: wire.LineReader, prog: str) -> None:
    """Forward Ctrl-C, SIGTERM and Ctrl-Z to the run until it ends; then end as it ended."""

    def forward(signum: int, frame) -> None:
        with suppress(OSError):
            wire.send(sock, {"signal": signum})

    def suspend(signum: int, frame) -> None:
        forward(signum, frame)  # the run stops...
        signal.signal(signal.SIGTSTP, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTSTP)  # ...and so does this process, until SIGCONT
        signal.signal(signal.SIGTSTP, suspend)

    for signum in FORWARDED:
        signal.signal(signum, forward)
    signal.signal(signal.SIGTSTP, suspend)
    try:
        ended = reader.read()
    except (OSError, ValueError):
        ended = None
    if not ended or "exit" not in ended:
        print(f"{prog}: error: the warm server stopped during the run", file=sys.stderr)
        sys.exit(1)
    exit_as(ended["exit"])


def exit_as(code: int) -> None:
    """Exit with the run's status; a run killed by a signal kills this process the same way."""
    if code < 0:
        signal.signal(-code, signal.SIG_DFL)
        sys.stdout.flush()
        os.kill(os.getpid(), -code)
        code = 128 - code
    sys.exit(code)
