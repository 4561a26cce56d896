"""Stateful mode: stream chunking (numpy), truncated BPTT in the module, whole runs."""

from __future__ import annotations

import functools
import json

import lightning as L
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from helpers import QUICK, hparams_session, load_events, read_metrics, run, train
from lstm_lab.commands.evaluate import evaluate_restored
from lstm_lab.commands.predict import forecast_after
from lstm_lab.config import ConfigError, validate
from lstm_lab.data.stream_datamodule import StreamChunks, StreamDataModule
from lstm_lab.data.streams import cut_streams, make_streams, step_pairs
from lstm_lab.data.windows import split_bounds
from lstm_lab.evaluation.stream_forecast import predict_stream
from lstm_lab.models.lstm import LSTMRegressor
from lstm_lab.models.stateful import StatefulRegressionModule
from lstm_lab.pipeline import build_series
from lstm_lab.records.restore import restore


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny LSTMs run fastest on one thread; more only wait on each other (as QUICK's threads=1)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# --- the data: numpy core -------------------------------------------------------------------


def test_step_pairs_read_one_step_and_target_the_next_ones():
    series = np.arange(10, dtype=np.float32)
    x, y = step_pairs(series, horizon=3)
    assert x.shape == (7, 1) and y.shape == (7, 3)
    np.testing.assert_array_equal(x[:, 0], np.arange(7))
    np.testing.assert_array_equal(y[2], [3, 4, 5])


def test_streams_are_contiguous_and_the_last_ends_with_the_data():
    x = np.arange(23, dtype=np.float32)[:, None]
    sx, sy = cut_streams(x, x + 100, streams=4)
    assert sx.shape == (4, 5, 1) and sy.shape == (4, 5, 1)
    # 23 % 4 = 3 oldest steps dropped; stream b continues where stream b-1 stopped
    np.testing.assert_array_equal(sx[..., 0], np.arange(3, 23).reshape(4, 5))
    np.testing.assert_array_equal(sy[..., 0], sx[..., 0] + 100)
    with pytest.raises(ValueError, match="cannot be cut into 30 streams"):
        cut_streams(x, x, streams=30)


@pytest.mark.parametrize("horizon", [1, 2])
def test_each_split_scores_exactly_its_own_targets_after_a_warm_up(horizon):
    # Values equal their time index, so every input and target tells where it came from.
    series = np.arange(100, dtype=np.float32)
    streams = make_streams(series, horizon, train=0.6, val=0.2, streams=3)
    bounds = split_bounds(100, 0.6, 0.2)
    train = streams["train"]
    assert train.x.shape[0] == 3 and train.scored.all()
    assert train.y.max() == 59  # no training target beyond the train split
    for name in ("val", "test"):
        s, (start, end) = streams[name], bounds[name]
        assert s.x.shape[0] == 1 and s.x[0, 0, 0] == 0  # one stream from t = 0: warm-up
        scored_targets = s.y[s.scored]
        assert scored_targets.min() == start and scored_targets.max() == end - 1
        assert len(scored_targets) == end - start - horizon + 1
        assert not s.scored[0, : start - 1].any()


def test_batch_k_holds_chunk_k_of_every_stream():
    x = torch.arange(24.0).reshape(3, 8, 1)
    chunks = list(StreamChunks(x, x, torch.ones(3, 8, dtype=torch.bool), chunk=3))
    assert len(chunks) == 3 and [c[0].shape[1] for c in chunks] == [3, 3, 2]
    for b in range(3):  # batch k+1 of stream b starts right after batch k of stream b
        walked = torch.cat([c[0][b, :, 0] for c in chunks])
        torch.testing.assert_close(walked, x[b, :, 0])


def test_datamodule_scales_with_train_statistics_and_chunks_by_bptt():
    series = np.sin(np.linspace(0, 30, 300)).astype(np.float32) * 3 + 5
    dm = StreamDataModule(series, split={"train": 0.7, "val": 0.15}, bptt=7, streams=3)
    assert dm.scaler.mean[0] == pytest.approx(series[:210].mean(), rel=1e-5)
    x, y, scored = next(iter(dm.train_dataloader()))
    assert x.shape == (3, 7, 1) and y.shape == (3, 7, 1) and scored.all()
    assert len(dm.train_dataloader()) == -(-(209 // 3) // 7)
    assert len(dm.val_dataloader()) == 1  # eval_batch_size 1024 steps per chunk


# --- the module: truncated BPTT -------------------------------------------------------------


def make_module(layers: int = 1, hidden: int = 6) -> StatefulRegressionModule:
    torch.manual_seed(0)
    net = LSTMRegressor(hidden_size=hidden, num_layers=layers)
    return StatefulRegressionModule(net, optimizer=functools.partial(torch.optim.Adam, lr=0.01))


@pytest.mark.parametrize("layers", [1, 2, 3])
def test_gradients_stop_at_the_chunk_boundary(layers):
    module = make_module(layers)
    first = torch.randn(3, 5, 1, requires_grad=True)
    second = torch.randn(3, 5, 1, requires_grad=True)
    module.step("train", first)
    F.mse_loss(module.step("train", second), torch.zeros(3, 5, 1)).backward()
    assert second.grad is not None and second.grad.abs().sum() > 0
    assert first.grad is None  # the graph of chunk k+1 does not reach the inputs of chunk k
    # The same two chunks with the state left attached do reach back: the check can fail.
    _, _, state = module.net.forward_with_state(first)
    _, out, _ = module.net.forward_with_state(second, state)
    out.sum().backward()
    assert first.grad is not None and first.grad.abs().sum() > 0


@pytest.mark.parametrize("layers,streams", [(1, 1), (2, 3), (3, 4)])
def test_state_is_carried_between_chunks(layers, streams):
    module = make_module(layers).eval()
    x = torch.randn(streams, 12, 1)
    with torch.no_grad():
        module.step("train", x[:, :5])
        carried = module.step("train", x[:, 5:])
        whole = module.net.head(module.net.forward_with_state(x)[1])
        fresh = module.net.head(module.net.forward_with_state(x[:, 5:])[1])
    assert module.states["train"][0].shape == (layers, streams, 6)
    torch.testing.assert_close(carried, whole[:, 5:])  # chunk k+1 continues chunk k ...
    assert not torch.allclose(carried, fresh, atol=1e-4)  # ... unlike a zero-state run


def test_state_resets_when_the_number_of_streams_changes_and_stages_stay_apart():
    module = make_module().eval()
    with torch.no_grad():
        module.step("train", torch.randn(3, 5, 1))
        train_state = module.states["train"]
        x = torch.randn(2, 5, 1)
        torch.testing.assert_close(module.step("train", x), module.net.head(module.net.lstm(x)[0]))
        val = module.step("val", x)
    torch.testing.assert_close(val, module.net.head(module.net.lstm(x)[0]))  # val from zero
    assert module.states["train"][0].shape[1] == 2 and train_state[0].shape[1] == 3


class StateRecorder(L.Callback):
    """Records which stage states the module holds when each batch starts."""

    def __init__(self) -> None:
        self.train: list[tuple[int, int, bool]] = []
        self.val: list[tuple[int, bool]] = []
        self.train_state_around_val: list[bool] = []

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        self.train.append((trainer.current_epoch, batch_idx, module.states["train"] is not None))

    def on_validation_batch_start(self, trainer, module, batch, batch_idx, dataloader_idx=0):
        self.val.append((batch_idx, module.states["val"] is not None))

    def on_validation_start(self, trainer, module):
        self._before = module.states["train"]

    def on_validation_end(self, trainer, module):
        self.train_state_around_val.append(module.states["train"] is self._before)


def quick_fit(module, datamodule, epochs=2, callbacks=()):
    trainer = L.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=list(callbacks),
    )
    trainer.fit(module, datamodule=datamodule)
    return trainer


def sine(n=200):
    return np.sin(np.linspace(0, 20, n)).astype(np.float32)


@pytest.mark.parametrize("layers,streams", [(1, 2), (3, 3)])
def test_state_resets_at_each_epoch_and_never_leaks_into_validation(layers, streams):
    dm = StreamDataModule(sine(), bptt=10, streams=streams, eval_batch_size=40)
    recorder = StateRecorder()
    quick_fit(make_module(layers), dm, callbacks=[recorder])
    n = len(dm.train_dataloader())
    assert n >= 3 and len(recorder.train) == 2 * n
    # zero state at the first chunk of each epoch, carried into every later chunk
    assert recorder.train == [(e, k, k > 0) for e in range(2) for k in range(n)]
    # Lightning's sanity check walks 2 val chunks first; each val epoch starts from zero too
    m = len(dm.val_dataloader())
    walk = [(k, k > 0) for k in range(m)]
    assert m >= 3 and recorder.val == walk[:2] + walk * 2
    assert recorder.train_state_around_val == [True] * 3  # val leaves the train state alone


def test_test_metrics_are_the_warmed_up_stream_predictions_in_original_units():
    series = 4 * sine(300) + 10
    dm = StreamDataModule(series, bptt=10, streams=3, eval_batch_size=16)  # test: many chunks
    module = make_module(2)
    module.target_mean.fill_(float(dm.scaler.mean[0]))
    module.target_std.fill_(float(dm.scaler.std[0]))
    trainer = quick_fit(module, dm, epochs=1)
    tested = trainer.test(module, datamodule=dm, verbose=False)[0]
    x, y, scored = dm.tensors["test"]
    pred = dm.scaler.inverse_target(predict_stream(module.net, x, chunk=1000)[scored.numpy()])
    true = dm.scaler.inverse_target(y[scored].numpy())
    assert len(true) == 300 - split_bounds(300, 0.7, 0.15)["test"][0]  # every test step
    assert tested["test/mse"] == pytest.approx(float(np.mean((pred - true) ** 2)), rel=1e-4)
    assert tested["test/mae"] == pytest.approx(float(np.mean(np.abs(pred - true))), rel=1e-4)


# --- config and whole runs ------------------------------------------------------------------


def test_stateful_experiment_composes(compose_train):
    cfg = validate(compose_train("experiment=stateful"))
    assert cfg["model"]["stateful"] is True and cfg["model"]["carry_state"] is False
    assert cfg["data"]["series"] == validate(compose_train())["data"]["series"]


@pytest.mark.parametrize(
    "overrides,key",
    [
        (["model.stateful=yes"], "model.stateful"),
        (["model.bptt=0"], "model.bptt"),
        (["model.streams=0"], "model.streams"),
        (["model.stateful=true", "model.carry_state=true"], "model.carry_state"),
        (["model.stateful=true", "model.streams=800"], "model.streams"),
        (["model.stateful=true", "data.horizon=151"], "data.horizon"),
    ],
)
def test_bad_stateful_settings_name_their_key(compose_train, overrides, key):
    with pytest.raises(ConfigError) as info:
        build_series(validate(compose_train(*overrides)))
    assert info.value.key == key and "\n" not in str(info.value)


def test_stateful_mode_reads_no_window_so_a_long_one_is_not_refused(compose_train):
    # data.window is unused in stateful mode; a window longer than the val split was refused
    plain = validate(compose_train("model.stateful=true", "data.window=200"))
    assert build_series(plain).shape == (1000, 1)
    with pytest.raises(ConfigError) as info:  # what a stateful split does need: its targets
        build_series(validate(compose_train("model.stateful=true", "data.horizon=151")))
    assert str(info.value) == (
        "data.horizon: the val split has 150 steps, too few for a target 151 step(s) ahead; "
        "lower data.horizon (at most 150 here), or give the split more"
    )


def test_too_many_streams_is_one_line_and_leaves_no_run(tmp_path):
    proc = run("model.stateful=true", "model.streams=800", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "lstm-train: error: model.streams: the train split has 699 steps with targets, "
        "too few for 800 streams; lower model.streams"
    )
    assert not (tmp_path / "outputs" / "runs").exists() or not any(
        (tmp_path / "outputs" / "runs").iterdir()
    )


def test_a_sweep_over_the_mode_records_it_per_run(tmp_path):
    proc = run("-m", "model.stateful=false,true", *QUICK, "trainer.max_epochs=1", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    runs = sorted((tmp_path / "outputs" / "sweeps").glob("*/*/metrics.json"))
    assert len(runs) == 2
    for path in runs:
        expected = "stateful" if "stateful=true" in path.parent.name.lower() else "window"
        metrics = read_metrics(path.parent)
        assert metrics["mode"] == expected and set(metrics["test"]) == {"mse", "rmse", "mae"}
        assert hparams_session(load_events(path.parent))["mode"] == expected


@pytest.mark.slow
def test_stateful_experiment_learns_the_sine_within_10x_of_window_mode(tmp_path, default_run):
    # threads=1: the same results, and no threads waiting on each other on a busy machine
    window = read_metrics(default_run)  # the default experiment, threads=1
    stateful = read_metrics(train(tmp_path, "experiment=stateful", "threads=1"))
    assert (window["mode"], stateful["mode"]) == ("window", "stateful")
    assert stateful["test"]["mse"] <= 10 * window["test"]["mse"], (stateful, window)


def test_a_stateful_run_is_evaluated_and_forecast_from_its_warmed_up_state(tmp_path):
    run_dir = train(tmp_path, *QUICK, "trainer.max_epochs=1", "model.stateful=true")
    metrics = read_metrics(run_dir)
    assert metrics["mode"] == "stateful" and metrics["status"] == "completed"
    assert (run_dir / "plots" / "test_prediction.png").is_file()
    # lstm-eval's numbers are those training recorded (the same warmed-up test stream)
    restored = restore(str(run_dir), None)
    result = evaluate_restored(restored, threads=1)
    assert result["test"] == pytest.approx(metrics["test"], rel=1e-4)
    assert (run_dir / "eval" / "best" / "plots" / "test_prediction.png").is_file()
    # no rollout, whatever evaluation.rollout_steps says, and the record says none was used
    # (it recorded rollout_steps=10 without a word)
    proc = run(f"run_dir={run_dir}", "evaluation.rollout_steps=10", cwd=tmp_path, prog="lstm-eval")
    assert proc.returncode == 0, proc.stderr[-2000:]
    written = json.loads((run_dir / "eval" / "best" / "evaluation.json").read_text())
    assert written["evaluation"] is None and written["forecast"]["rollout"] is None
    assert "Forecasts:   no rollout or baselines: a stateful run is scored one step" in proc.stdout
    # lstm-predict: the state warmed up over the series, then carried through the rollout;
    # the first forecast is the one-step prediction after the last value
    forecast = forecast_after(restored, restored.series, 3)
    scaled = torch.from_numpy(restored.scaler.transform(restored.series))
    first = predict_stream(restored.net, scaled[None])[0, -1, 0]
    assert forecast.shape == (3,) and np.isfinite(forecast).all()
    assert forecast[0] == pytest.approx(restored.scaler.inverse_target(first), rel=1e-5)
