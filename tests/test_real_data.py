"""Real data end to end: a CSV with several inputs, multi-step horizons, the bundled experiment."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import QUICK, load_events, read_metrics, run, run_dirs, train
from lstm_lab import CONFIG_DIR
from lstm_lab.data.windows import split_bounds

ELNINO = CONFIG_DIR.parent / "data" / "elnino" / "elnino.csv"


def checkpoint_shapes(run_dir) -> tuple[int, int]:
    """(input size, horizon) of the network saved in the best checkpoint."""
    state = torch.load(run_dir / "checkpoints" / "best.ckpt", weights_only=False)["state_dict"]
    return state["net.lstm.weight_ih_l0"].shape[1], state["net.head.weight"].shape[0]


@pytest.fixture
def sensor_csv(tmp_path):
    """Three columns over 240 days; the target follows the two features, with two gaps."""
    days = np.arange(np.datetime64("2024-01-01"), np.datetime64("2024-01-01") + 240)
    t = np.arange(240)
    temp, hum = np.sin(t / 6.0), np.cos(t / 9.0)
    load = 2 * temp + hum + 10
    path = tmp_path / "sensors.csv"
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["day", "load", "temp", "hum"])
        for i in t:
            cell = "" if i in (50, 51) else f"{load[i]:.4f}"
            out.writerow([str(days[i]), cell, f"{temp[i]:.4f}", f"{hum[i]:.4f}"])
    return path


def test_multivariate_csv_run_has_the_sine_runs_outputs(tmp_path, sensor_csv, monkeypatch):
    run_dir = train(
        tmp_path,
        "data=csv",
        f"data.series.path={sensor_csv}",
        "data.series.target=load",
        "data.series.features=[temp,hum]",
        "data.series.time=day",
        "data.series.missing=interpolate",
        "trainer.max_epochs=2",
        "threads=1",
    )
    metrics = read_metrics(run_dir)
    assert metrics["status"] == "completed" and set(metrics["test"]) == {"mse", "rmse", "mae"}
    assert checkpoint_shapes(run_dir) == (3, 1)  # all three columns in, the target out
    assert (run_dir / "plots" / "test_prediction.png").stat().st_size > 10_000
    assert "test/prediction" in load_events(run_dir).Tags()["images"]

    # lstm-eval's prediction plot is labelled with the CSV's days too, as training's is
    import lstm_lab.evaluation.run_figures as run_figures

    made = []
    real = run_figures.make_figures
    monkeypatch.setattr(
        run_figures, "make_figures", lambda *a, **k: made.append(a) or real(*a, **k)
    )
    proc = run(f"run_dir={run_dir}", cwd=tmp_path, prog="lstm-eval")
    assert proc.returncode == 0, proc.stderr[-2000:]
    ((evaluation, time),) = made
    days = np.arange(np.datetime64("2024-01-01"), np.datetime64("2024-01-01") + 240)
    assert time is not None and len(time) == len(days)


def test_multi_step_run_reports_every_step(tmp_path):
    proc = run(*QUICK, "data.horizon=3", "evaluation.rollout_steps=4", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (run_dir,) = run_dirs(tmp_path)
    metrics = read_metrics(run_dir)
    test = metrics["test"]
    steps = [f"{m}_step{h}" for m in ("mse", "rmse", "mae") for h in (1, 2, 3)]
    assert set(test) == {"mse", "rmse", "mae", *steps}
    # Every step has as many targets, so the overall MSE is the mean of the steps' MSEs.
    assert test["mse"] == pytest.approx(np.mean([test[f"mse_step{h}"] for h in (1, 2, 3)]))
    assert test["rmse_step2"] == pytest.approx(test["mse_step2"] ** 0.5, rel=1e-4)
    assert checkpoint_shapes(run_dir) == (1, 3)
    scalars = set(load_events(run_dir).Tags()["scalars"])
    assert {f"test/{name}" for name in steps} <= scalars
    assert not any(tag.startswith("hp/test_") for tag in scalars)  # test/* once, not twice
    # the direct 3-step forecast and the 4-step rollout, scored at every step against the
    # baselines: in metrics.json, as TensorBoard scalars by step, in the printed report
    by_step = metrics["forecast"]["by_step"]
    assert (by_step["one_step"]["steps"], by_step["rollout"]["steps"]) == (3, 4)
    model = by_step["one_step"]["mse"]["model"]
    assert model == pytest.approx([test[f"mse_step{h}"] for h in (1, 2, 3)], rel=1e-4)
    events = load_events(run_dir)
    curve = events.Scalars("test/mse_by_step_rollout/persistence")
    assert [e.step for e in curve] == [1, 2, 3, 4]
    assert [e.value for e in curve] == pytest.approx(by_step["rollout"]["mse"]["persistence"])
    assert "test/error_by_step" in events.Tags()["images"]
    assert "MSE by step ahead (direct forecasts)" in proc.stdout
    assert "test/mse_step2" not in proc.stdout  # the per-step rows give way to the table
    assert "step 2" in proc.stdout and "skill vs best baseline" in proc.stdout


@pytest.mark.parametrize(
    "overrides,expected",
    [
        ([], "data.series.path: not set"),
        (["data.series.path=nope.csv"], "data.series.path: nope.csv: no such file"),
        (["data.series.target=power"], "data.series.target: {f}: no column 'power' (columns: day"),
        (["data.series.features=[temp,wind]"], "data.series.features: {f}: no column 'wind'"),
        (["data.series.time=load"], "data.series.time: 'load' is also a value column"),
        ([], "data.series.target: {f}: column 'load', line 52 is missing a value"),
        (["data.window=200"], "data.window: {f} has 240 usable rows: the train split has 168"),
    ],
)
def test_csv_problems_are_one_line_naming_file_and_column(
    tmp_path, sensor_csv, overrides, expected
):
    base = ["data=csv", "data.series.target=load", "data.series.missing=interpolate"]
    if "missing a value" in expected:
        base.remove("data.series.missing=interpolate")
    if "not set" not in expected:
        base.append(f"data.series.path={sensor_csv}")
    proc = run(*base, *overrides, cwd=tmp_path)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1
    assert proc.stderr.startswith("lstm-train: error: " + expected.format(f=sensor_csv))
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not run_dirs(tmp_path)


def test_unsorted_time_column_is_refused(tmp_path, sensor_csv):
    lines = sensor_csv.read_text().splitlines()
    lines[10], lines[11] = lines[11], lines[10]
    sensor_csv.write_text("\n".join(lines) + "\n")
    proc = run(
        "data=csv",
        f"data.series.path={sensor_csv}",
        "data.series.target=load",
        "data.series.time=day",
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        f"lstm-train: error: data.series.time: {sensor_csv}: column 'day' is not in increasing "
        "order: line 12 (2024-01-10) does not come after line 11 (2024-01-11)"
    )


@pytest.fixture
def elnino_run(made_once):
    """The bundled experiment, whole, as the README gives it (threads=1)."""
    return Path(
        made_once("elnino", lambda root: str(train(root, "experiment=elnino", "threads=1")))
    )


@pytest.mark.slow
def test_bundled_experiment_runs_on_all_four_regions(elnino_run, compose_train):
    assert checkpoint_shapes(elnino_run) == (4, 1)
    epochs = compose_train("experiment=elnino").trainer.max_epochs
    assert read_metrics(elnino_run)["epochs"] == epochs


def seasonal_naive_mse(path, target: str, window: int, period: int = 12) -> float:
    """MSE on the test windows' targets of "the value one period earlier" (original units)."""
    with path.open() as handle:
        y = np.array([float(row[target]) for row in csv.DictReader(handle)])
    start, end = split_bounds(len(y), 0.7, 0.15)["test"]
    targets = np.arange(start + window, end)
    return float(np.mean((y[targets] - y[targets - period]) ** 2))


@pytest.mark.slow
def test_bundled_experiment_beats_seasonal_naive_on_held_out_years(elnino_run, compose_train):
    data = compose_train("experiment=elnino").data
    assert (data.split.train, data.split.val, data.horizon) == (0.7, 0.15, 1)
    naive = seasonal_naive_mse(ELNINO, data.series.target, data.window)
    metrics = read_metrics(elnino_run)
    assert metrics["test"]["mse"] < naive, (metrics["test"], naive)
    print(f"elnino test MSE {metrics['test']['mse']:.3f}, seasonal naive {naive:.3f}")
