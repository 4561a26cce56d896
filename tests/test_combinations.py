"""Every cell of docs/combinations.md, tested as written: the table and the behaviour cannot
drift apart, and a row or column added there is tested here.

Runs are tiny (300 steps, 2 epochs, one thread) and, but for DDP and the joblib sweep (one
subprocess each for all rows), run inside the test process: `train_here` does what lstm-train
does after composing the config. A SIGTERM is the real signal (Lightning's handler stops the
run after the batch); a kill is `faults.Crash` raised after a batch: nothing saved on the way
out, as for SIGKILL. Runs in this process make no plots (most of a tiny run's time); the
sweeps do, and check them.
"""

from __future__ import annotations

import itertools
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from helpers import TIMINGS, cli, tables
from lstm_lab import CONFIG_DIR
from lstm_lab.config import ConfigError, check_evaluation, validate
from lstm_lab.pipeline import build_series
from lstm_lab.training.stopped import RunStopped

HELPERS = Path(__file__).parent / "helpers"
TABLE = Path(__file__).resolve().parents[1] / "docs" / "combinations.md"
SHORT_SINE = ["data.series.n_points=300", "data.series.t_end=30"]  # the CSV has 300 rows
TINY = ["trainer.max_epochs=2", "threads=1"]
# Window mode: 13 minibatches an epoch, handed over 4 at a time (4 Lightning batches), so a
# stop can fall in the middle of an epoch; stateful: 3 chunks of 4 streams an epoch.
TINY += ["model.steps_per_call=4", "+callbacks.fault._target_=faults.SignalFromEnv"]
NAN = ["optimizer=sgd", "optimizer.lr=1e30"]


def parse_table() -> tuple[list[str], dict[str, tuple[list[str], dict[str, str]]]]:
    """(columns, {setup: (overrides, {column: cell})}) of the table."""
    main = TABLE.read_text().split("\n## Debug presets\n")[0]  # that one: tests/test_debug.py
    return tables.parse_table(main, "setup")


COLUMNS, ROWS = parse_table()
CELLS = [(row, column) for row in ROWS for column in COLUMNS]


def expected(row: str, column: str) -> str | None:
    """None for `works`, else the refusal line."""
    return tables.refusal(row, column, ROWS[row][1][column])


def test_the_table_holds_every_pair_of_mode_horizon_and_input():
    values = {
        "mode": ("window", "stateful"),
        "horizon": ("horizon 1", "horizon 3"),
        "input": ("sine", "CSV one column", "CSV features"),
    }
    setups = [{d: next(v for v in vs if v in row) for d, vs in values.items()} for row in ROWS]
    for a, b in itertools.combinations(values, 2):
        pairs = {(s[a], s[b]) for s in setups}
        assert pairs == set(itertools.product(values[a], values[b])), (a, b)
    for (overrides, _), setup in zip(
        ROWS.values(), setups, strict=True
    ):  # the name says what it sets
        assert ("model.stateful=true" in overrides) == (setup["mode"] == "stateful")
        assert ("data.horizon=3" in overrides) == (setup["horizon"] == "horizon 3")
        assert ("data.series.features=[f]" in overrides) == (setup["input"] == "CSV features")
    assert {e for c in CELLS if (e := expected(*c))}, "the refusals are parsed"


# --- running a setup in this process --------------------------------------------------------


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("combinations")
    t = np.arange(300)
    rows = "".join(f"{i},{np.sin(i / 5):.6f},{np.cos(i / 7):.6f}\n" for i in t)
    (root / "series.csv").write_text("t,y,f\n" + rows)
    sys.path.insert(0, str(HELPERS))
    yield root
    sys.path.remove(str(HELPERS))


def overrides(row: str) -> list[str]:
    """The row's overrides, at the tiny size."""
    given = ROWS[row][0]
    return [*given, *([] if "data=csv" in given else SHORT_SINE)]


def compose_run(root: Path, row: str, name: str, *extra: str):
    run_dir = root / "runs" / name / f"row{list(ROWS).index(row)}"
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(
            "train", overrides=[f"paths.run_dir={run_dir}", *overrides(row), *TINY, *extra]
        )
    return cfg, run_dir


def train_here(root, monkeypatch, row: str, name: str, *extra: str, ckpt=None, fault=None):
    """What lstm-train does once the config is composed; the run directory (cwd: root)."""
    from lstm_lab.training.memory import check_fits
    from lstm_lab.training.run import train_and_test

    monkeypatch.chdir(root)
    monkeypatch.setenv("LSTM_LAB_FAULT", fault or "")
    # Plots take most of a tiny run's time: made in the sweeps (test_where_it_runs) only.
    monkeypatch.setattr("lstm_lab.evaluation.run_figures.write_figures", lambda *a, **k: [])
    monkeypatch.setattr("lstm_lab.training.run._stream_prediction_figure", lambda *a, **k: None)
    cfg, run_dir = compose_run(root, row, name, *extra)
    (run_dir / ".hydra").mkdir(parents=True, exist_ok=True)
    OmegaConf.save(cfg, run_dir / ".hydra" / "config.yaml")  # as Hydra does for lstm-train
    plain = validate(cfg)
    series = build_series(plain)
    check_evaluation(plain, len(series), series.shape[1] if series.ndim > 1 else 1)
    check_fits(plain, len(series), series.shape[1] if series.ndim > 1 else 1)
    before = torch.get_num_threads()
    try:
        train_and_test(cfg, plain, series, ckpt_path=ckpt and str(ckpt))
    finally:
        torch.set_num_threads(before)
    return run_dir


def metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


def comparable(run_dir: Path) -> dict:
    return {k: v for k, v in metrics(run_dir).items() if k not in (*TIMINGS, "git_commit")}


def weights(run_dir: Path, name: str = "last") -> dict:
    path = run_dir / "checkpoints" / f"{name}.ckpt"
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


def same_weights(a: Path, b: Path) -> bool:
    wa, wb = weights(a), weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def assert_completed(run_dir: Path, row: str, plots: bool = False) -> None:
    got = metrics(run_dir)
    assert got["status"] == "completed", got
    assert got["mode"] == ("stateful" if "model.stateful=true" in ROWS[row][0] else "window")
    names = {"mse", "rmse", "mae"}
    if "data.horizon=3" in ROWS[row][0]:
        names |= {f"{m}_step{s}" for m in ("mse", "rmse", "mae") for s in (1, 2, 3)}
    assert set(got["test"]) == names and all(np.isfinite(v) for v in got["test"].values())
    files = ["checkpoints/best.ckpt", "checkpoints/last.ckpt"]
    for path in [*files, *(["plots/test_prediction.png"] if plots else [])]:
        assert (run_dir / path).is_file(), path
    assert list(run_dir.glob("*.tfevents.*"))  # TensorBoard reads the run directory itself


@pytest.fixture(scope="module")
def straight_runs(root):
    """The straight run of each setup, trained once, for the columns that use a trained run."""
    done = {}
    with pytest.MonkeyPatch.context() as monkeypatch:
        for row in ROWS:
            done[row] = train_here(root, monkeypatch, row, "straight")
    return done


@pytest.fixture(scope="module")
def compared(straight_runs):
    """lstm-compare over the straight runs of every setup, once: {run directory: its Run}."""
    from lstm_lab.records.comparison import compare

    folder = next(iter(straight_runs.values())).parent
    return {run.path: run for run in compare(folder)}


@dataclass
class Cell:
    root: Path
    monkeypatch: pytest.MonkeyPatch
    straight: dict[str, Path]  # the straight run of each row
    compared: dict[Path, object]  # lstm-compare's Run of each straight run

    def train(self, row: str, name: str, *extra: str, ckpt=None, fault=None) -> Path:
        return train_here(self.root, self.monkeypatch, row, name, *extra, ckpt=ckpt, fault=fault)

    def stop(self, row: str, fault: str) -> Path:
        """A run of the setup stopped by `fault` (SIGTERM or CRASH@epoch:batch); its directory."""
        name = fault.split("@")[0]
        with pytest.raises(BaseException) as stop:
            self.train(row, name, fault=fault)
        run_dir = compose_run(self.root, row, name)[1]
        if name == "SIGTERM":
            assert isinstance(stop.value, RunStopped) and stop.value.exit_code == 143
            assert metrics(run_dir)["status"] == "interrupted"
        else:
            assert type(stop.value).__name__ == "Crash"
            assert not (run_dir / "metrics.json").exists()
        return run_dir

    def epoch_checkpoint(self, row: str) -> Path:
        """A copy of last.ckpt at the end of epoch 0 (written by the SIGKILL cell, or now)."""
        saved = self.root / f"row{list(ROWS).index(row)}-epoch0.ckpt"
        if not saved.exists():
            shutil.copy(self.stop(row, "CRASH@1:0") / "checkpoints" / "last.ckpt", saved)
        return saved


# --- the cells, one check per column, parametrized by row -----------------------------------


def check_straight(cell: Cell, row: str) -> None:
    assert_completed(cell.straight[row], row)


def check_resume(cell: Cell, row: str, fault: str) -> None:
    """Stopped (SIGTERM in the middle of epoch 1, or a crash after epoch 0's last.ckpt), then
    continued from its last.ckpt in its own directory, as resume= does: the straight run's
    weights and metrics, bit for bit."""
    run_dir = cell.stop(row, fault)
    last = run_dir / "checkpoints" / "last.ckpt"
    if fault.startswith("CRASH"):
        shutil.copy(last, cell.root / f"row{list(ROWS).index(row)}-epoch0.ckpt")
    cell.train(row, fault.split("@")[0], ckpt=last)
    assert same_weights(run_dir, cell.straight[row])
    assert comparable(run_dir) == comparable(cell.straight[row])


def check_sigterm(cell: Cell, row: str) -> None:
    check_resume(cell, row, "SIGTERM@1:1")


def check_sigkill(cell: Cell, row: str) -> None:
    check_resume(cell, row, "CRASH@1:0")


def check_nan(cell: Cell, row: str) -> None:
    with pytest.raises(RunStopped) as stop:
        cell.train(row, "nan", *NAN)
    assert stop.value.exit_code == 1 and "loss became" in str(stop.value)
    got = metrics(compose_run(cell.root, row, "nan")[1])
    assert got["status"] == "failed" and "non-finite loss" in got["reason"]


def check_ckpt_path(cell: Cell, row: str) -> None:
    """A new run from another run's last.ckpt of epoch 0: the straight run's end, bit for bit."""
    run_dir = cell.train(row, "from-ckpt", ckpt=cell.epoch_checkpoint(row))
    assert_completed(run_dir, row)
    assert same_weights(run_dir, cell.straight[row])
    # The new run's best.ckpt (its test metrics) counts only the epochs it trained itself: the
    # same as the straight run's where that run's best came after the checkpoint's epoch 0.
    straight_best = torch.load(
        cell.straight[row] / "checkpoints" / "best.ckpt", weights_only=True, map_location="cpu"
    )["epoch"]
    if straight_best >= 1:
        assert metrics(run_dir)["test"] == metrics(cell.straight[row])["test"]


def check_eval(cell: Cell, row: str) -> None:
    from lstm_lab.commands.evaluate import evaluate_restored
    from lstm_lab.records.restore import restore

    cell.monkeypatch.chdir(cell.root)
    run_dir = cell.straight[row]
    result = evaluate_restored(restore(str(run_dir), None), threads=1)
    assert result["test"] == pytest.approx(metrics(run_dir)["test"], rel=1e-4, abs=1e-7)
    assert (run_dir / "eval" / "best" / "evaluation.json").is_file()


def check_predict(cell: Cell, row: str) -> None:
    from lstm_lab.commands.predict import predict
    from lstm_lab.config import validate_tool

    cell.monkeypatch.chdir(cell.root)
    run_dir = cell.straight[row]
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        plain = validate_tool(compose("predict", overrides=[f"run_dir={run_dir}", "steps=5"]))
    refusal = expected(row, "lstm-predict")
    if refusal is None:
        predict(plain)
        rows = np.loadtxt(run_dir / "forecast.csv", delimiter=",", skiprows=1)
        assert rows.shape == (5, 2) and np.isfinite(rows).all()
    else:
        with pytest.raises(ConfigError) as error:
            predict(plain)
        assert f"lstm-predict: error: {error.value}" == refusal


def check_compare(cell: Cell, row: str) -> None:
    run_dir = cell.straight[row]
    run = cell.compared[run_dir]
    assert (run.status, run.mode) == ("completed", metrics(run_dir)["mode"])
    assert run.test_mse == metrics(run_dir)["test"]["mse"]
    assert run.name in (run_dir.parent / "comparison.md").read_text()


def check_hparams(cell: Cell, row: str) -> None:
    from helpers import hparams_session, load_events

    run_dir = cell.straight[row]
    session = hparams_session(load_events(run_dir))
    assert session["mode"] == metrics(run_dir)["mode"]


CHECKS = {
    "straight": check_straight,
    "SIGTERM, resume=": check_sigterm,
    "SIGKILL, resume=": check_sigkill,
    "NaN stop": check_nan,
    "ckpt_path=": check_ckpt_path,
    "lstm-eval": check_eval,
    "lstm-predict": check_predict,
    "lstm-compare": check_compare,
    "HParams": check_hparams,
}
IN_PROCESS = [(r, c) for r, c in CELLS if c in CHECKS]


@pytest.mark.parametrize("row,column", IN_PROCESS, ids=[f"{r} / {c}" for r, c in IN_PROCESS])
def test_cell(root, monkeypatch, straight_runs, compared, row, column):
    # Only lstm-predict refuses anything today; a refusal elsewhere needs its check here.
    assert expected(row, column) is None or column == "lstm-predict", "a refusal to test"
    CHECKS[column](Cell(root, monkeypatch, straight_runs, compared), row)


# --- where it runs: one subprocess per column, every row a job of one sweep ------------------


def combo_configs(root: Path) -> Path:
    """Each row as a config `+combo=rowN` (the row's overrides), for one sweep over all rows."""
    folder = root / "combos" / "combo"
    folder.mkdir(parents=True, exist_ok=True)
    for i, row in enumerate(ROWS):
        groups = [o.replace("=", ": ") for o in overrides(row) if o.startswith("data=")]
        keys = [o for o in overrides(row) if not o.startswith("data=")]
        text = "# @package _global_\n"
        if groups:
            text += "defaults:\n" + "".join(f"  - override /{g}\n" for g in groups)
        (folder / f"row{i}.yaml").write_text(text + OmegaConf.to_yaml(OmegaConf.from_dotlist(keys)))
    return root / "combos"


WHERE = {
    "CPU DDP x2": [
        "trainer=ddp",
        "trainer.accelerator=cpu",
        "trainer.strategy=ddp_fork",
        "trainer.devices=2",
    ],
    "joblib sweep": ["launcher=joblib", "hydra.launcher.n_jobs=2"],
}


@pytest.mark.slow
@pytest.mark.parametrize("column", list(WHERE))
def test_where_it_runs(root, column):
    rows = [r for r in ROWS if expected(r, column) is None]
    combos = combo_configs(root)
    names = ",".join(f"row{list(ROWS).index(r)}" for r in rows)
    tiny = ["trainer.max_epochs=1", "threads=1"]
    proc = cli(
        "-m", "--config-dir", str(combos), f"+combo={names}", *WHERE[column], *tiny, cwd=root
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    done = {p.parent.name: p.parent for p in (root / "outputs" / "sweeps").glob("*/*/metrics.json")}
    for row in rows:
        (run_dir,) = [d for n, d in done.items() if f"row{list(ROWS).index(row)}" in n]
        assert_completed(run_dir, row, plots=True)
    shutil.rmtree(root / "outputs")


def test_every_column_is_tested():
    assert set(COLUMNS) == set(CHECKS) | set(WHERE)


def test_resume_in_the_middle_of_an_epoch_is_not_trivial(root, monkeypatch, straight_runs):
    """The SIGTERM cells stop where the stateful streams carry a state (so restoring it is
    what makes the resume exact): without it the resumed weights differ."""
    from lstm_lab.models.stateful import StatefulRegressionModule

    row = next(r for r in ROWS if "model.stateful=true" in ROWS[r][0])
    monkeypatch.setattr(StatefulRegressionModule, "on_train_start", lambda self: None)
    with pytest.raises(RunStopped):
        train_here(root, monkeypatch, row, "no-state", fault="SIGTERM@1:1")
    run_dir = compose_run(root, row, "no-state")[1]
    train_here(root, monkeypatch, row, "no-state", ckpt=run_dir / "checkpoints" / "last.ckpt")
    assert not same_weights(run_dir, straight_runs[row])


def test_running_out_of_memory_is_a_one_line_failure(root, monkeypatch):
    """A run the estimate let through, out of memory in training: RunStopped (one line, exit
    1) and metrics.json with "status": "failed" and torch's reason."""
    from lstm_lab.models.module import RegressionModule

    def no_memory(self, *args):
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 8")

    # in a training step: the network's check on a dummy batch before training goes through
    monkeypatch.setattr(RegressionModule, "training_step", no_memory)
    row = next(iter(ROWS))
    with pytest.raises(RunStopped) as stop:
        train_here(root, monkeypatch, row, "oom")
    assert stop.value.exit_code == 1 and "\n" not in str(stop.value)
    assert str(stop.value).startswith("training failed, out of memory: DefaultCPUAllocator")
    got = metrics(compose_run(root, row, "oom")[1])
    assert got["status"] == "failed" and "can't allocate memory" in got["reason"]
