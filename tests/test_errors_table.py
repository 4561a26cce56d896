"""Every row of docs/errors.md, run as written (lstm-train's entry point, in this process): the
docs and the behaviour cannot drift apart."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from helpers import run, run_dirs, write_bad_files
from helpers.bad_inputs import write_bad_inputs

TABLE = Path(__file__).resolve().parents[1] / "docs" / "errors.md"


def rows() -> list[tuple[str, str]]:
    """(input, expected error line) for each row of the first table."""
    text = TABLE.read_text().split("## ")[0]
    found = re.findall(r"^\| `([^`]+)` \| [^|]+ \| `(.+)` \|$", text, flags=re.M)
    assert len(found) >= 15, found
    return found


@pytest.mark.parametrize("given,expected", rows(), ids=[r[0] for r in rows()])
def test_documented_error(tmp_path, given, expected):
    args = shlex.split(given)
    marker = write_bad_files(tmp_path)
    other_settings = write_bad_inputs(tmp_path)
    proc = run(*args, cwd=tmp_path)
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
    assert sorted(p.name for p in tmp_path.rglob("*.ckpt")) == sorted(
        ["evil.ckpt", "grouped.ckpt", "not-a-checkpoint.ckpt", *other_settings]
    )
    assert not marker.exists(), "the checkpoint's payload ran"
