"""The debug presets (configs/debug/): every cell of the "Debug presets" table of
docs/combinations.md, tested as written, and what each preset does to the run."""

from __future__ import annotations

import json
import math
import re
import shlex
from pathlib import Path

import pytest
import yaml

from helpers import read_metrics, run, run_dirs, sweep_dirs, tables

TABLE = Path(__file__).resolve().parents[1] / "docs" / "combinations.md"
SHORT = ["data.series.n_points=300", "data.series.t_end=30", "threads=1"]
EPOCHS = 2  # for debug=overfit (20): the sizes are the test's, as in the table above


PRESETS = TABLE.read_text().split("\n## Debug presets\n", 1)[1]
# (the warm server's table follows: tests/test_warm.py)
COLUMNS, ROWS = tables.parse_table(PRESETS.split("\n## Under the warm server\n")[0], "preset")
SWEPT = ("straight", "stateful")  # the columns run as one sweep's jobs


def expected(preset: str, column: str) -> str | None:
    return tables.refusal(preset, column, ROWS[preset][1][column])


def no_plots(patch: pytest.MonkeyPatch) -> None:
    """Plots take most of a tiny run's time; the runs here check other things."""
    patch.setattr("lstm_lab.evaluation.run_figures.write_figures", lambda *a, **k: [])
    patch.setattr("lstm_lab.training.run._stream_prediction_figure", lambda *a, **k: None)


@pytest.fixture(scope="module")
def jobs(tmp_path_factory) -> dict[str, dict[str, Path]]:
    """{column: {preset: its job's run directory}}: the presets in both modes, one sweep."""
    root = tmp_path_factory.mktemp("debug")
    presets = ",".join(ROWS[p][0][0].split("=", 1)[1] for p in ROWS)
    # the command line's trainer.max_epochs comes after the presets' (fast_dev_run: one)
    sizes = [*SHORT, f"trainer.max_epochs={EPOCHS}"]
    with pytest.MonkeyPatch.context() as patch:
        no_plots(patch)
        proc = run("-m", f"debug={presets}", "model.stateful=false,true", *sizes, cwd=root)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (sweep,) = sweep_dirs(root)
    found = {column: {} for column in SWEPT}
    for job in (p for p in sweep.iterdir() if (p / ".hydra").is_dir()):
        given = dict(
            o.split("=", 1) for o in yaml.safe_load((job / ".hydra" / "overrides.yaml").read_text())
        )
        column = "stateful" if given["model.stateful"].lower() == "true" else "straight"
        found[column][given["debug"]] = job
    return found


def check_preset(preset: str, job: Path) -> None:
    """What the preset does, in the files the run left."""
    metrics = read_metrics(job)
    saved = yaml.safe_load((job / ".hydra" / "config.yaml").read_text())
    assert saved["trainer"]["detect_anomaly"] is True and saved["trainer"]["accelerator"] == "cpu"
    if preset == "fast_dev_run":
        assert metrics["epochs"] == 1 and not (job / "checkpoints").exists()
    elif preset == "overfit":  # 3 batches, one optimizer step each, every epoch
        assert saved["trainer"]["overfit_batches"] == 3 and metrics["epochs"] == EPOCHS
        assert metrics["global_step"] == 3 * EPOCHS
    else:
        assert metrics["epochs"] == EPOCHS
        assert "run_training_epoch" in (job / "fit-profile.txt").read_text()
        assert (job / "test-profile.txt").is_file()


CELLS = [(p, c) for p in ROWS for c in COLUMNS]


@pytest.mark.parametrize("preset,column", CELLS, ids=[f"{p}-{c}" for p, c in CELLS])
def test_debug_cell(jobs, monkeypatch, preset, column):
    no_plots(monkeypatch)
    job = jobs["straight"][preset]
    refusal = expected(preset, column)
    if column in SWEPT:
        assert refusal is None, "a sweep's job either runs or the sweep fails"
        job = jobs[column][preset]
        metrics = read_metrics(job)
        assert metrics["status"] == "completed"
        assert all(math.isfinite(v) for v in metrics["test"].values())
        assert metrics["mode"] == ("stateful" if column == "stateful" else "window")
        check_preset(preset, job)
        return
    if column == "resume=":
        proc = run(f"resume='{job}'", *ROWS[preset][0], cwd=job.parent)
    else:
        assert column == "lstm-eval", column
        proc = run(f"run_dir='{job}'", cwd=job.parent, prog="lstm-eval")
    if refusal is None:
        assert proc.returncode == 0, proc.stderr[-2000:]
        evaluation = json.loads((job / "eval" / "best" / "evaluation.json").read_text())
        assert evaluation["test"]["mse"] == pytest.approx(
            read_metrics(job)["test"]["mse"], rel=1e-4
        )
    else:
        assert proc.returncode == 2
        assert proc.stderr.strip().splitlines()[-1] == refusal.replace("<run>", str(job))


def test_fast_dev_run_refuses_a_checkpoint_to_continue(jobs, tmp_path):
    last = jobs["straight"]["overfit"] / "checkpoints" / "last.ckpt"
    proc = run("debug=fast_dev_run", f"ckpt_path='{last}'", *SHORT, cwd=tmp_path)
    assert proc.returncode == 2 and not run_dirs(tmp_path)
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith("lstm-train: error: ckpt_path: got a checkpoint with trainer.fast_dev")
    assert line.split("error: ", 1)[1] in TABLE.read_text().replace("\n", " ")


def test_the_readme_debug_commands_are_the_tables_rows():
    """README's `lstm-train debug=<preset>` commands run here, as the table's rows (test_readme.py
    leaves them to this file)."""
    readme = (TABLE.parents[1] / "README.md").read_text()
    section = readme.split("### Debugging\n", 1)[1].split("\n#")[0]
    commands = [
        shlex.split(line.split("#")[0])
        for line in re.findall(r"^lstm-train debug=.*$", section, flags=re.M)
    ]
    assert commands == [["lstm-train", *ROWS[preset][0]] for preset in ROWS]
