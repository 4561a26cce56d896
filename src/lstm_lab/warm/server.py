"""The warm server: imports once what a run needs, then forks a run per request.

One process, one thread: it waits (selectors) on its socket, on each client's connection (a
signal to forward, or the client gone) and on each forked run (a pidfd: readable when the run
ends). A forked run returns from `Server.serve` in the child with its request, and the caller
(cli/warm.py) runs it there: the same `main()` the cold command runs, with the client's
descriptors, working directory, environment and argv; it then exits as a cold process does
(exit handlers included), and the server sends its status to the client.

A request runs cold instead (the client is told why) when the server would not run it as a cold
start would: lstm-lab's source, the Python executable or the installed packages changed since
the server started (the server then stops), or an import-time variable differs (wire.py).
"""

from __future__ import annotations

import fcntl
import gc
import importlib
import os
import selectors
import signal
import socket
import sys
import sysconfig
import time
from contextlib import suppress
from pathlib import Path

import lstm_lab
from lstm_lab.training.preload import MODULES
from lstm_lab.warm import wire

FORWARDED = (signal.SIGINT, signal.SIGTERM)  # to the server: stop; from a client: to its run
# A client's Ctrl-Z: its run is stopped with SIGSTOP (SIGTSTP would be ignored, as the run's
# process group has no terminal), and continued with SIGCONT.
PASSED_ON = {signal.SIGINT: signal.SIGINT, signal.SIGTERM: signal.SIGTERM}
PASSED_ON |= {signal.SIGTSTP: signal.SIGSTOP, signal.SIGCONT: signal.SIGCONT}


def preload() -> None:
    """What a run imports before its first step and for its report, and the commands."""
    for name in (*MODULES, *(module for _, module in wire.COMMANDS.values())):
        importlib.import_module(name)
    gc.freeze()  # what was imported stays: the runs' collections skip it and do not copy it


def take_lock(path: Path):
    """The environment's lock (beside its socket), held while a server takes requests, or None
    when another server holds it: two `lstm-warm start` at once leave one server."""
    lock = open(path.with_suffix(".lock"), "w")  # noqa: SIM115 (held open: the lock lives with it)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        return None
    return lock


def fingerprint() -> list:
    """What a forked run would get stale: lstm-lab's modules, the Python executable, and the
    installed packages (an install or removal changes the site-packages folder)."""
    files = sorted(Path(lstm_lab.__file__).parent.rglob("*.py"))
    sites = {sysconfig.get_paths()[k] for k in ("purelib", "platlib")}
    stamp = []
    for path in (*files, Path(os.path.realpath(sys.executable)), *sorted(map(Path, sites))):
        with suppress(OSError):
            info = path.stat()
            stamp.append((str(path), info.st_mtime_ns, info.st_size, info.st_ino))
    return stamp


class Server:
    def __init__(self, path: Path, idle_s: float, before: dict, lock) -> None:
        """`before`: the environment and resource limits before the imports, which may add to
        the environment (a cold start's imports do the same: `imported_env` is added to each
        run's); `lock`: take_lock's."""
        self.pid, self.path, self.idle_s, self.lock = os.getpid(), path, idle_s, lock
        self.env, self.limits, self.stamp = before["env"], before["limits"], fingerprint()
        env = self.env
        self.imported_env = {k: v for k, v in os.environ.items() if k not in env}
        self.started_at, self.last_active = time.time(), time.monotonic()
        self.served, self.runs, self.stopping, self.stop_asked = 0, {}, False, False
        self.selector = selectors.DefaultSelector()
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # a stop signal writes here, so that a select waiting for the idle timeout returns
        self.wakeup = socket.socketpair()

    def listen(self) -> None:
        """Bind the socket (replacing one a dead server left) and take the stop signals."""
        with suppress(FileNotFoundError):
            self.path.unlink()
        self.listener.bind(str(self.path))
        self.listener.listen(16)
        self.selector.register(self.listener, selectors.EVENT_READ, "listen")
        for end in self.wakeup:
            end.setblocking(False)
        self.selector.register(self.wakeup[0], selectors.EVENT_READ, "wakeup")
        signal.set_wakeup_fd(self.wakeup[1].fileno())
        for signum in FORWARDED:  # noted only: the loop stops between two events
            signal.signal(signum, lambda signum, frame: setattr(self, "stop_asked", True))

    def serve(self) -> dict | None:
        """Serve until stopped or idle, then None; in a forked run, that run's request."""
        try:
            while not (self.stopping and not self.runs):
                idle_left = self.idle_s - (time.monotonic() - self.last_active)
                if self.stop_asked or (not self.runs and idle_left <= 0):
                    self.stop()
                    continue
                for key, _ in self.selector.select(None if self.runs else idle_left):
                    request = self.handle(key)
                    if request is not None:
                        return request  # in the forked run
            return None
        finally:
            if os.getpid() == self.pid:
                self.stop()

    def handle(self, key: selectors.SelectorKey) -> dict | None:
        if key.data == "listen":
            return None if self.stopping else self.accept()  # (stopped by an earlier event)
        if key.data == "wakeup":
            with suppress(BlockingIOError):
                self.wakeup[0].recv(64)
            return None
        kind, pid, conn = key.data
        if kind == "ended":
            self.reap(key.fileobj, pid, conn)
        else:
            self.from_client(conn, pid)
        return None

    def stop(self) -> None:
        """Take no more requests; the runs going on still end and report."""
        if not self.stopping:
            self.stopping = True
            self.selector.unregister(self.listener)
            self.listener.close()
            with suppress(FileNotFoundError):
                self.path.unlink()
            self.lock.close()  # a new server may start while the last runs end

    def status(self) -> dict:
        return {
            "pid": self.pid,
            "prefix": sys.prefix,
            "since": self.started_at,
            "served": self.served,
            "running": len(self.runs),
            "runs": sorted(self.runs),
            "idle_s": self.idle_s,
            "socket": str(self.path),
            "current": fingerprint() == self.stamp,
        }

    def accept(self) -> dict | None:
        conn, _ = self.listener.accept()
        conn.settimeout(10)  # a client that connects and says nothing cannot hold the server
        reader = wire.LineReader(conn)
        try:
            message = reader.read() or {}
        except (OSError, ValueError):
            message = {}
        self.last_active = time.monotonic()
        if "run" in message:
            return self.start_run(reader, message, reader.fds)
        for fd in reader.fds:
            os.close(fd)
        with suppress(OSError):
            if message.get("stop"):
                self.stop()
            wire.send(conn, self.status())
        conn.close()
        return None

    def refusal(self, message: dict) -> str | None:
        """Why the request must run cold, if it must."""
        if fingerprint() != self.stamp:
            self.stop()
            return (
                "lstm-lab's code, Python or the installed packages changed since it started "
                "(it has stopped; `lstm-warm start` starts a current one)"
            )
        if message["run"] not in wire.COMMANDS:
            return f"it runs no command {message['run']!r}"
        if message.get("python") != sys.executable:
            return f"it runs {sys.executable}, not {message.get('python')}"
        # what the imports set is set in every run (a DDP process started by a run has it)
        ours = {**self.env, **self.imported_env}
        differ = wire.env_differences(ours, {**self.imported_env, **message.get("env", {})})
        if differ:
            return f"{', '.join(differ)} differ from the server's (it imported under its own)"
        limits = message.get("limits", {})
        differ = sorted(k for k in {*limits, *self.limits} if limits.get(k) != self.limits.get(k))
        if differ:
            return f"its resource limits ({', '.join(differ)}) differ from the server's"
        return None

    def start_run(self, reader: wire.LineReader, message: dict, fds: list[int]) -> dict | None:
        conn = reader.sock
        reason = self.refusal(message) if len(fds) == 3 else "no terminal descriptors came"
        sys.stdout.flush()
        sys.stderr.flush()
        pid = -1
        try:
            pid = pid if reason else os.fork()
        except OSError as error:
            reason = f"it could not fork: {error}"
        if pid == 0:
            self.leave_to_run(conn)
            return {**message, "env": {**self.imported_env, **message["env"]}, "fds": fds}
        for fd in fds:
            os.close(fd)
        if reason:
            with suppress(OSError):
                wire.send(conn, {"cold": reason})
            conn.close()
            return None
        self.served += 1
        self.runs[pid] = reader
        conn.settimeout(None)
        self.selector.register(os.pidfd_open(pid), selectors.EVENT_READ, ("ended", pid, conn))
        self.selector.register(conn, selectors.EVENT_READ, ("client", pid, conn))
        with suppress(OSError):
            wire.send(conn, {"started": pid})
        return None

    def from_client(self, conn: socket.socket, pid: int) -> None:
        """Signals to pass on to the run, or the client gone: then the run is stopped."""
        reader = self.runs[pid]
        while True:
            try:
                message = reader.read()
            except (OSError, ValueError):
                message = None
            if message is None:
                self.selector.unregister(conn)
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)  # stops after its batch, with a checkpoint
                    os.kill(pid, signal.SIGCONT)  # (a run stopped by Ctrl-Z could not)
                return
            if message.get("signal") in PASSED_ON:
                with suppress(ProcessLookupError):
                    os.kill(pid, PASSED_ON[message["signal"]])
            if not reader.has_line():  # (a second Ctrl-C may have come with the first)
                return

    def reap(self, pidfd: int, pid: int, conn: socket.socket) -> None:
        """A run ended: its status to the client (when still there), as a cold exit gives it."""
        self.selector.unregister(pidfd)
        os.close(pidfd)
        _, status = os.waitpid(pid, 0)
        del self.runs[pid]
        self.last_active = time.monotonic()
        with suppress(KeyError, ValueError):
            self.selector.unregister(conn)
        with suppress(OSError):
            wire.send(conn, {"exit": os.waitstatus_to_exitcode(status)})
        conn.close()

    def leave_to_run(self, conn: socket.socket) -> None:
        """In a forked run: drop the server's descriptors and signal handlers."""
        for key in list(self.selector.get_map().values()):
            if isinstance(key.data, tuple) and key.data[0] == "ended":
                os.close(key.fileobj)
            else:
                key.fileobj.close()
        self.selector.close()
        conn.close()
        self.lock.close()
        signal.set_wakeup_fd(-1)
        self.wakeup[1].close()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def run_request(request: dict) -> None:
    """In a forked run: become the client's command, then run its main() as a cold start."""
    from lstm_lab.records.report import count_age_from

    for target, fd in enumerate(request["fds"]):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = list(request["argv"])
    os.umask(request["umask"])
    os.nice(max(0, request["nice"] - os.nice(0)))
    os.sched_setaffinity(0, request["cpus"])
    sys.stdout.reconfigure(line_buffering=sys.stdout.isatty())  # as a cold start sets it
    if request["started"] is not None:
        count_age_from(request["started"])
    importlib.import_module(wire.COMMANDS[request["run"]][1]).main()
