"""Every row of docs/errors.md, run as written: the docs and the behaviour cannot drift apart."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import torch

from conftest import cli, run_dirs

TABLE = Path(__file__).resolve().parents[1] / "docs" / "errors.md"


def rows() -> list[tuple[str, str]]:
    """(input, expected error line) for each row of the first table."""
    text = TABLE.read_text().split("## ")[0]
    found = re.findall(r"^\| `([^`]+)` \| [^|]+ \| `(.+)` \|$", text, flags=re.M)
    assert len(found) >= 15, found
    return found


class WouldRunCode:
    """Unpickled unsafely, this creates the file `marker`."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def write_bad_files(root: Path) -> Path:
    (root / "not-a-checkpoint.ckpt").write_text("not a checkpoint\n")
    marker = root / "payload-ran"
    torch.save({"state_dict": {}, "epoch": 0, "payload": WouldRunCode(marker)}, root / "evil.ckpt")
    training_state = {"state_dict": {}, "optimizer_states": [], "loops": {}, "epoch": 0}
    torch.save({**training_state, "global_step": 0, "steps_per_call": 4}, root / "grouped.ckpt")
    return marker


@pytest.mark.parametrize("given,expected", rows(), ids=[r[0] for r in rows()])
def test_documented_error(tmp_path, given, expected):
    args = shlex.split(given)
    marker = write_bad_files(tmp_path)
    proc = cli(*args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    line = lines[0]
    if expected.endswith("..."):
        assert line.startswith(f"lstm-train: error: {expected[:-3]}"), line
    else:
        assert line == f"lstm-train: error: {expected}"
    assert "Traceback" not in proc.stdout + proc.stderr
    assert not run_dirs(tmp_path), "a refused run must leave no run directory"
    assert not list(tmp_path.rglob("*.tfevents.*"))
    assert sorted(p.name for p in tmp_path.rglob("*.ckpt")) == [
        "evil.ckpt",
        "grouped.ckpt",
        "not-a-checkpoint.ckpt",
    ]
    assert not marker.exists(), "the checkpoint's payload ran"
