"""README's "Add a config key": the two edits it shows, made in a copy of the package, give a
working, checked `data.stride` key end to end (help, refusal, training)."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# The two files README's example edits, each with the line its snippet goes after.
ANCHORS = {
    "config/schema.py": '        one_of("none", "diff", "window_relative"),\n    )\n',
    "data/datamodule.py": "        arrays = self.split.windows(window, horizon)\n",
}
SIGNATURE = ('        transform: str = "none",\n', "        stride: int = 1,\n")


def readme_snippets() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("**Add a config key**", 1)[1].split("**From Python.**", 1)[0]
    for path in ANCHORS:
        assert f"src/lstm_lab/{path}" in section
    assert "takes two\nfiles" in section and len(ANCHORS) == 2
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def copy_with_the_key(tmp_path: Path) -> Path:
    root = tmp_path / "copy"
    shutil.copytree(ROOT / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__"))
    for shared in ("configs", "data"):
        (root / shared).symlink_to(ROOT / shared)
    package = root / "src" / "lstm_lab"
    for (path, anchor), snippet in zip(ANCHORS.items(), readme_snippets(), strict=True):
        text = (package / path).read_text()
        assert text.count(anchor) == 1, path
        text = text.replace(anchor, anchor + snippet)
        if path == "data/datamodule.py":
            assert text.count(SIGNATURE[0]) == 1
            text = text.replace(SIGNATURE[0], SIGNATURE[0] + SIGNATURE[1])
        (package / path).write_text(text)
    return root


def train_in(root: Path, refused: list[str], trained: list[str]) -> subprocess.CompletedProcess:
    """In one fresh interpreter on the copy: lstm_lab.train refusing, then training."""
    code = (
        "import json, sys, lstm_lab\n"
        "refused, trained = json.loads(sys.argv[1]), json.loads(sys.argv[2])\n"
        "try:\n"
        "    lstm_lab.train(refused)\n"
        "except lstm_lab.api.CommandError as e:\n"
        "    print(f'REFUSED {e}')\n"
        "r = lstm_lab.train(trained)\n"
        "print('STEPS', r.metrics['global_step'], lstm_lab.__file__)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    args = [json.dumps(refused), json.dumps(trained)]
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
def test_readmes_two_edits_add_a_checked_data_key_end_to_end(tmp_path):
    root = copy_with_the_key(tmp_path)
    points, window, stride, batch = 300, 10, 3, 16
    done = train_in(
        root,
        ["data.stride=0"],
        [
            f"data.series.n_points={points}",
            "data.series.t_end=30",
            f"data.window={window}",
            f"data.stride={stride}",
            f"data.batch_size={batch}",
            "trainer.max_epochs=1",
            "threads=1",
            "evaluation.rollout_steps=0",
        ],
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "REFUSED data.stride: got 0; must be an integer >= 1\n" in done.stdout
    steps, module = done.stdout.split("STEPS ")[1].split()
    assert module.startswith(str(root))  # the copy's package ran
    train_windows = round(points * 0.7) - window  # horizon 1: one window per start
    assert int(steps) == math.ceil(math.ceil(train_windows / stride) / batch)
