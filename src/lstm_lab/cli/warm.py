"""lstm-warm start|stop|status: the warm server of this Python environment (lstm_lab/warm/).

`start` launches the server in a session of its own and waits until it has imported everything
and listens (a few seconds); later `lstm-train`, `lstm-eval`, `lstm-predict` and `lstm-compare`
of the same environment are forked from it, their first step about 3 s sooner. It stops on
`stop`, on SIGTERM, after `--idle-minutes` without a request, or when lstm-lab's code changes.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from lstm_lab.warm import wire

PROG = "lstm-warm"
IDLE_MINUTES = 30.0
ANOTHER = "another server of this environment is starting or running"


def ask(message: dict) -> dict | None:
    """The server's answer, or None when no server listens for this environment."""
    sock = wire.connect(wire.socket_path())
    if sock is None:
        return None
    with sock:
        try:
            wire.send(sock, message)
            return wire.LineReader(sock).read()
        except (OSError, ValueError):
            return None


def describe(status: dict) -> str:
    since = time.strftime("%H:%M:%S", time.localtime(status["since"]))
    return (
        f"server {status['pid']} for {status['prefix']} since {since}: {status['served']} runs "
        f"served, {status['running']} running; stops after {status['idle_s'] / 60:g} min idle "
        f"(socket {status['socket']})"
    )


def start(idle_minutes: float) -> int:
    running = ask({"status": True})
    if running and running["current"]:
        print(f"{PROG}: already running: {describe(running)}")
        return 0
    if running:  # lstm-lab's code changed since it started: a current one replaces it
        ask({"stop": True})
    path = wire.socket_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # its user's only
    script = Path(sys.executable).parent / PROG  # run as a console script, as the commands are
    args = [str(script if script.exists() else sys.argv[0]), "serve"]
    args.append(f"--idle-minutes={idle_minutes}")
    with open(path.with_suffix(".log"), "w") as log:
        server = subprocess.Popen(
            [sys.executable, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            start_new_session=True,  # not stopped by the terminal's Ctrl-C or hang-up
            text=True,
        )
    line = server.stdout.readline().strip()
    server.stdout.close()
    if line == ANOTHER:
        print(f"{PROG}: {ANOTHER}")
        return 0
    if line != "ready":
        code = server.wait()
        line = line or f"the server exited ({code}); see {log.name}"
        print(f"{PROG}: error: {line}", file=sys.stderr)
        return 2
    print(f"{PROG}: started {describe(ask({'status': True}))}")
    return 0


def stop_or_status(stop: bool) -> int:
    """`stop` (exit 0 whether one ran or not) or `status` (exit 1 when none runs)."""
    answer = ask({"stop": True} if stop else {"status": True})
    if answer is None:
        print(f"{PROG}: no server for {sys.prefix}")
        return 0 if stop else 1
    if not stop:
        print(f"{PROG}: {describe(answer)}")
    elif answer["running"]:
        print(f"{PROG}: stopped server {answer['pid']}; it exits when its {answer['running']} "
              "running runs end")  # fmt: skip
    else:
        print(f"{PROG}: stopped server {answer['pid']}")
    return 0


def serve(idle_minutes: float) -> None:
    """The server itself (what `start` launches): refuses with a GPU, else says ready on
    stdout and serves. Returns only in a forked run, which then runs its command."""
    before = {"env": dict(os.environ), "limits": wire.limits()}  # the imports add to env
    from lstm_lab.training.preload import can_fork
    from lstm_lab.warm.server import Server, preload, run_request, take_lock

    if not can_fork():
        print(
            "a GPU is visible (or this is not Linux): a process forked after CUDA is set up "
            "cannot use it, so there is no warm server here; commands run cold",
            flush=True,
        )
        sys.exit(2)
    wire.socket_dir().mkdir(mode=0o700, parents=True, exist_ok=True)
    lock = take_lock(wire.socket_path())
    if lock is None:
        print(ANOTHER, flush=True)
        sys.exit(0)
    preload()
    server = Server(wire.socket_path(), idle_minutes * 60, before, lock)
    server.listen()
    print("ready", flush=True)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    request = server.serve()
    if request is not None:
        run_request(request)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="A warm server for this Python environment: lstm-train, lstm-eval, "
        "lstm-predict and lstm-compare are forked from it, with torch and Lightning already "
        "imported. Set LSTM_LAB_WARM=0 to run a command cold while it runs.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    started = commands.add_parser("start", help="start it (and wait until it is ready)")
    serving = commands.add_parser("serve", help="the server itself, in the foreground")
    for sub in (started, serving):
        sub.add_argument(
            "--idle-minutes",
            type=float,
            default=IDLE_MINUTES,
            help=f"stop after this long without a request (default {IDLE_MINUTES:g})",
        )
    commands.add_parser("stop", help="stop it (runs going on still end)")
    commands.add_parser("status", help="is one running, since when, how many runs it served")
    args = parser.parse_args(argv)
    if args.command == "serve":
        serve(args.idle_minutes)
        return 0
    if args.command == "start":
        if args.idle_minutes <= 0:
            parser.exit(
                2, f"{PROG}: error: --idle-minutes: got {args.idle_minutes:g}; must be > 0\n"
            )
        return start(args.idle_minutes)
    return stop_or_status(args.command == "stop")
