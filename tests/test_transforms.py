"""data.transform: the network reads changes or window-relative values of the target, and
everything that calls it still gets forecasts in the series' own units (round trip), with
horizon > 1, feature columns, resume, lstm-eval and lstm-predict; stateful mode refuses it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers import read_metrics, run, train
from lstm_lab.config import ConfigError, validate
from lstm_lab.data.series import sine_series
from lstm_lab.data.transforms import TRANSFORMS, transform_scale, transformed_target
from lstm_lab.models.lstm import LSTMRegressor
from lstm_lab.pipeline import build_series
from lstm_lab.training.run import build_datamodule, build_module, build_trainer

SHAPES = [(1, 1), (3, 1), (1, 4), (3, 4)]  # (features, horizon)


def windows(features: int, horizon: int, n: int = 5, window: int = 7):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, window, features, generator=gen).cumsum(1) + 5.0  # wandering, off zero
    y = torch.randn(n, horizon, generator=gen).cumsum(1) + x[:, -1, :1]
    return x, y


@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("features,horizon", SHAPES)
def test_forecast_is_the_inverse_of_the_transformed_forecast(transform, features, horizon):
    torch.manual_seed(0)
    net = LSTMRegressor(features, 8, horizon=horizon, transform=transform, transform_scale=0.3)
    x, y = windows(features, horizon)
    with torch.no_grad():
        transformed = net.head(net.lstm(net.encode(x))[0][:, -1])  # what the LSTM predicts
        assert torch.allclose(net(x), net.decode(x, transformed), atol=1e-6)
        # decode and encode_target undo each other: the loss on values is a loss on changes
        assert torch.allclose(net.decode(x, net.encode_target(x, y)), y, atol=1e-5)
        assert torch.allclose(
            net.encode_target(x, net.decode(x, transformed)), transformed, atol=1e-5
        )
    # the torch edges read what the numpy definition says (features pass through as they are)
    expected = transformed_target(x.numpy(), y.numpy(), transform)[:, : x.shape[1]]
    encoded = net.encode(x).detach().numpy()
    scale = 0.3 if transform != "none" else 1.0
    np.testing.assert_allclose(encoded[..., 0] * scale, expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(encoded[..., 1:], x.numpy()[..., 1:])


@pytest.mark.parametrize("transform", ["diff", "window_relative"])
def test_a_transformed_network_follows_the_level_of_the_target(transform):
    """Shift the target's level: the forecast moves by as much, so a trend that leaves the
    training range asks no extrapolation of the LSTM. In levels (none) it does not."""
    torch.manual_seed(0)
    for name in ("none", transform):
        net = LSTMRegressor(2, 8, horizon=3, transform=name, transform_scale=0.5)
        x, _ = windows(2, 3)
        shifted = x.clone()
        shifted[..., 0] += 40.0
        with torch.no_grad():
            moved = net(shifted) - net(x)
        assert torch.allclose(moved, torch.full_like(moved, 40.0), atol=1e-4) == (name != "none")


@pytest.mark.parametrize("transform", ["diff", "window_relative"])
def test_the_scale_makes_the_transformed_target_about_unit_size(transform):
    series = sine_series(n_points=300, t_end=30.0, trend=0.2)
    from lstm_lab.data.windows import create_sequences

    x, y = create_sequences(series, window=10, horizon=2)
    scale = transform_scale(x, y, transform)
    values = transformed_target(x, y, transform) / scale
    assert np.sqrt(np.mean(values**2)) == pytest.approx(1.0)
    assert transform_scale(x, y, "none") == 1.0


def test_the_sine_generator_has_a_trend_term():
    t = np.linspace(0.0, 10.0, 11)
    flat = sine_series(n_points=11, t_end=10.0, waves=[{"amplitude": 0.0}], trend=0.5)
    np.testing.assert_allclose(flat[:, 0], 0.5 * t, atol=1e-6)
    waves = sine_series(n_points=11, t_end=10.0)
    np.testing.assert_allclose(sine_series(n_points=11, t_end=10.0, trend=0.5), waves + flat[:, :1])


def test_stateful_mode_and_unknown_transforms_are_refused(compose_train):
    with pytest.raises(ConfigError, match=r"^data\.transform: got diff with model\.stateful=true"):
        validate(compose_train("model.stateful=true", "data.transform=diff"))
    with pytest.raises(ConfigError, match=r"^data\.transform: got 'log'; must be one of none"):
        validate(compose_train("data.transform=log"))
    validate(compose_train("model.stateful=true", "data.transform=none"))


# 300 points -> 195 training windows -> 13 batches of 16 per epoch; a steep trend.
TINY = ["data.series.n_points=300", "data.series.t_end=30", "data.series.trend=0.3"]
TINY += ["~callbacks.progress_bar", "logger=csv", "threads=1", "model.hidden_size=8"]


def fit(compose_train, tmp_path, *overrides: str, ckpt_path: str | None = None):
    cfg = compose_train(*TINY, f"paths.run_dir={tmp_path}", *overrides)
    plain = validate(cfg)
    torch.manual_seed(0)
    datamodule = build_datamodule(cfg, plain, build_series(plain))
    module = build_module(
        plain, cfg, datamodule.n_features, datamodule.scaler, datamodule.transform_scale
    )
    trainer = build_trainer(cfg, plain, enable_model_summary=False)
    trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    return trainer, module, datamodule


def test_a_resumed_run_gets_the_scale_from_its_checkpoint(compose_train, tmp_path):
    run = ["data.transform=window_relative", "data.horizon=2", "scheduler=none"]
    _, first, datamodule = fit(compose_train, tmp_path / "first", *run, "trainer.max_epochs=1")
    assert float(first.net.transform_scale) == pytest.approx(datamodule.transform_scale)
    last = tmp_path / "first" / "checkpoints" / "last.ckpt"
    # Another series, so another scale: the checkpoint's is the one the run continues with.
    other = [*run, "trainer.max_epochs=2", "data.series.trend=0.1"]
    trainer, resumed, fresh = fit(compose_train, tmp_path / "resumed", *other, ckpt_path=str(last))
    assert trainer.current_epoch == 2
    assert fresh.transform_scale != pytest.approx(datamodule.transform_scale)
    assert float(resumed.net.transform_scale) == pytest.approx(datamodule.transform_scale)


def write_trending_csv(path):
    t = np.arange(400)
    target = 100 + 0.5 * t + 3 * np.sin(2 * np.pi * t / 25)
    feature = np.cos(2 * np.pi * t / 25)
    rows = "\n".join(f"{a},{b:.4f},{c:.4f}" for a, b, c in zip(t, target, feature, strict=True))
    path.write_text("t,sales,season\n" + rows + "\n")


@pytest.mark.slow
def test_diff_with_features_and_horizon_stays_in_original_units_in_eval_and_predict(tmp_path):
    csv = tmp_path / "sales.csv"
    write_trending_csv(csv)
    data = [f"data.series.path={csv}", "data.series.target=sales", "data.series.time=t"]
    run_dir = train(
        tmp_path, "data=csv", *data, "data.transform=diff", "data.horizon=3",
        "data.series.features=[season]", "trainer.max_epochs=1", "threads=1",
        "model.hidden_size=8",
    )  # fmt: skip
    metrics = read_metrics(run_dir)
    state = torch.load(run_dir / "checkpoints" / "best.ckpt", weights_only=True)["state_dict"]
    assert float(state["net.transform_scale"]) > 0
    persistence = metrics["forecast"]["baselines"]["persistence"]["one_step"]["mse"]
    assert metrics["test"]["mse"] < 10 * persistence  # original units: no scaled-units mix-up
    assert {"mse_step1", "mse_step3"} <= metrics["test"].keys()

    proc = run(f"run_dir={run_dir}", cwd=tmp_path, prog="lstm-eval")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"mse {metrics['forecast']['one_step']['mse']:.4g}" in proc.stdout
    assert metrics["test"]["mse"] == pytest.approx(metrics["forecast"]["one_step"]["mse"], rel=1e-4)

    univariate = train(
        tmp_path, "data=csv", *data, "data.transform=diff", "trainer.max_epochs=1",
        "threads=1", "model.hidden_size=8",
    )  # fmt: skip
    proc = run(f"run_dir={univariate}", "steps=5", cwd=tmp_path, prog="lstm-predict")
    assert proc.returncode == 0, proc.stderr[-2000:]
    forecast = np.loadtxt(univariate / "forecast.csv", delimiter=",", skiprows=1)[:, 1]
    last = 100 + 0.5 * 399
    assert np.all(np.abs(forecast - last) < 15), forecast  # beyond the training range, near it
