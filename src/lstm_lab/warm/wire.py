"""What the warm server and its clients share: where the socket is, how a message travels, and
which settings must match for a forked run to be the run a cold start would make.

Stdlib only, and cheap to import: every console script imports it before anything else.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sys
from pathlib import Path

# Read when torch, Lightning, numpy or Python start (thread pools, libraries loaded, the
# encoding of stdout, where modules come from): a server started under other values would run
# a request differently from a cold start, so such a request runs cold.
IMPORT_TIME_ENV = (
    *("PYTHON", "LD_", "OMP_", "MKL_", "KMP_", "OPENBLAS_", "GOTO_", "CUDA_", "NVIDIA_"),
    *("TORCH", "PYTORCH_", "MPLBACKEND", "MPLCONFIGDIR", "LANG", "LC_"),
)
# The commands a server runs: name -> (console script, the module whose main() it runs).
COMMANDS = {
    "train": ("lstm-train", "lstm_lab.cli.train"),
    "evaluate": ("lstm-eval", "lstm_lab.cli.evaluate"),
    "predict": ("lstm-predict", "lstm_lab.cli.predict"),
    "compare": ("lstm-compare", "lstm_lab.cli.compare"),
}
OFF = "LSTM_LAB_WARM"  # set to 0: every command runs cold, whatever server there is
DIR = "LSTM_LAB_WARM_DIR"  # where the sockets live (default: $XDG_RUNTIME_DIR or ~/.cache)
MAX_LINE = 1 << 20


def socket_dir() -> Path:
    if os.environ.get(DIR):
        return Path(os.environ[DIR])
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    base = Path(runtime) if runtime else Path.home() / ".cache"
    return base / "lstm-lab"


def environment_id() -> str:
    """One per Python environment: two venvs never share a server."""
    return hashlib.sha256(os.path.realpath(sys.prefix).encode()).hexdigest()[:16]


def socket_path() -> Path:
    return socket_dir() / f"warm-{environment_id()}.sock"


def process_start_s() -> float | None:
    """When this process started, in seconds since boot (Linux /proc; None elsewhere)."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def limits() -> dict[str, list[int]]:
    """This process's resource limits (ulimit): a run forked from the server has the server's."""
    import resource

    names = sorted(n for n in dir(resource) if n.startswith("RLIMIT_"))
    return {n: list(resource.getrlimit(getattr(resource, n))) for n in names}


def env_differences(mine: dict[str, str], theirs: dict[str, str]) -> list[str]:
    """The import-time variables (IMPORT_TIME_ENV) set differently in the two environments."""
    keys = {k for k in (*mine, *theirs) if k.startswith(IMPORT_TIME_ENV)}
    return sorted(k for k in keys if mine.get(k) != theirs.get(k))


def connect(path: Path) -> socket.socket | None:
    """A connection to the server listening at `path`, or None (none there, or a socket left
    by a server that died)."""
    if not path.exists():
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
    except OSError:
        sock.close()
        return None
    return sock


def send(sock: socket.socket, message: dict, fds: list[int] | None = None) -> None:
    """One message: a line of JSON, with file descriptors riding on its first bytes."""
    data = (json.dumps(message) + "\n").encode()
    sent = socket.send_fds(sock, [data], fds) if fds else 0
    if sent < len(data):  # (an empty send to a peer that has answered and closed: EPIPE)
        sock.sendall(data[sent:])


class LineReader:
    """Lines of JSON from a stream socket, with the descriptors that came with them."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.buffer, self.fds = sock, b"", []

    def has_line(self) -> bool:
        return b"\n" in self.buffer

    def read(self) -> dict | None:
        """The next message, or None once the other side has closed."""
        while b"\n" not in self.buffer:
            if len(self.buffer) > MAX_LINE:
                raise ValueError("message too long")
            data, fds, _, _ = socket.recv_fds(self.sock, 65536, 3)
            self.fds += fds
            if not data:
                return None
            self.buffer += data
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)
