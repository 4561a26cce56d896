"""Forecasting core: rollouts with known continuations, baselines on hand-computed series."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from lstm_lab.data.windows import ChronologicalSplit
from lstm_lab.evaluation.baselines import (
    LinearAR,
    estimate_period,
    persistence,
    seasonal_naive,
    training_mean,
)
from lstm_lab.evaluation.forecast import network_forecaster, rollout
from lstm_lab.evaluation.horizon import report_steps, step_scores
from lstm_lab.evaluation.metrics import errors, mse_by_step, skill
from lstm_lab.evaluation.suite import evaluate_split


class AddSteps(nn.Module):
    """Predicts last value + 1, + 2, ... + horizon: on a counting series the exact continuation."""

    def __init__(self, horizon: int) -> None:
        super().__init__()
        self.offsets = nn.Parameter(torch.arange(1.0, horizon + 1), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, -1, :1] + self.offsets


@pytest.mark.parametrize("horizon,steps", [(1, 12), (3, 7), (4, 8)])
def test_rollout_of_a_network_continues_a_counting_series(horizon, steps):
    windows = np.stack([np.arange(5.0), np.arange(100.0, 105.0)])[:, :, None]
    out = rollout(network_forecaster(AddSteps(horizon)), windows, steps)
    np.testing.assert_array_equal(out[0], np.arange(5, 5 + steps))
    np.testing.assert_array_equal(out[1], np.arange(105, 105 + steps))


def test_rollout_feeds_predictions_back_and_drops_the_oldest_values():
    # Forecast = mean of the window; from [0, 0, 3]: 1, then mean(0, 3, 1), then mean(3, 1, 4/3).
    def mean_of_window(x):
        return x.mean(axis=1)

    out = rollout(mean_of_window, np.array([[[0.0], [0.0], [3.0]]]), 3)
    np.testing.assert_allclose(out[0], [1.0, 4 / 3, 16 / 9])


def test_rollout_of_the_exact_sine_recurrence_reproduces_the_sine():
    # sin(t + dt) = 2 cos(dt) sin(t) - sin(t - dt): the exact continuation, fed its own output.
    dt = 0.1
    t = np.arange(700) * dt

    def recurrence(x):
        return 2 * np.cos(dt) * x[:, -1] - x[:, -2]

    windows = np.stack([np.sin(t[:10]), np.sin(t[50:60])])[:, :, None]
    out = rollout(recurrence, windows, 600)
    np.testing.assert_allclose(out[0], np.sin(t[10:610]), atol=1e-9)
    np.testing.assert_allclose(out[1], np.sin(t[60:660]), atol=1e-9)


def test_a_long_rollout_holds_its_forecast_not_one_array_per_step():
    """lstm-predict steps=10000000 grew ~750 bytes a step (a list of each call's array) until
    the machine ran out of memory: the forecast itself is 4 bytes a step."""
    import tracemalloc

    def last_plus_one(w):
        return (w[:, -1, :1] + 1).astype(np.float32)

    tracemalloc.start()
    out = rollout(last_plus_one, np.zeros((1, 10, 1), np.float32), 100_000)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    np.testing.assert_array_equal(out[0, [0, -1]], [1, 100_000])
    assert peak < 1_000_000, peak


def test_rollout_refuses_multivariate_windows():
    with pytest.raises(ValueError, match="needs a single input feature; this data has 2"):
        rollout(lambda x: x[:, -1, :1], np.zeros((1, 4, 2)), 3)


Z = np.array([1.0, 3.0, 2.0, 5.0, 4.0, 7.0, 6.0, 9.0])


def test_persistence_repeats_the_last_known_value():
    np.testing.assert_array_equal(persistence(Z, np.array([4, 6]), 3), [[5, 5, 5], [7, 7, 7]])


def test_seasonal_naive_repeats_the_last_known_period():
    # origin 4, period 2: z[2], z[3], z[2]; origin 6: z[4], z[5], z[4]
    got = seasonal_naive(Z, np.array([4, 6]), 3, period=2)
    np.testing.assert_array_equal(got, [[2, 5, 2], [4, 7, 4]])
    np.testing.assert_array_equal(seasonal_naive(Z, np.array([7]), 1, period=3), [[Z[4]]])


def test_seasonal_naive_refuses_a_period_reaching_before_the_series():
    with pytest.raises(ValueError, match="period of 5"):
        seasonal_naive(Z, np.array([4]), 1, period=5)


def test_training_mean_is_the_mean_of_the_training_values():
    np.testing.assert_array_equal(training_mean(Z[:4], 2, 3), np.full((2, 3), 2.75))


def test_linear_ar_is_exact_on_a_linear_trend():
    z = 2 * np.arange(6.0) + 1  # 1, 3, 5, 7, 9, 11
    x = np.stack([z[i : i + 2] for i in range(3)])[:, :, None]  # [1,3], [3,5], [5,7]
    ar = LinearAR.fit(x, z[2:5, None])
    np.testing.assert_allclose(ar(np.array([[[9.0], [11.0]]])), [[13.0]])
    np.testing.assert_allclose(rollout(ar, np.array([[[9.0], [11.0]]]), 3), [[13, 15, 17]])


def test_errors_skill_and_error_by_step_by_hand():
    scores = errors(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 5.0]))
    assert scores == pytest.approx({"mse": 4 / 3, "rmse": (4 / 3) ** 0.5, "mae": 2 / 3})
    assert skill(1.0, 4.0) == 0.75
    assert skill(8.0, 4.0) == -1.0
    assert skill(1.0, 0.0) is None
    true, pred = np.zeros((2, 3)), np.array([[1.0, 0.0, 2.0], [3.0, 0.0, 0.0]])
    np.testing.assert_allclose(mse_by_step(true, pred), [5.0, 0.0, 2.0])


def test_estimate_period_finds_the_season():
    assert estimate_period(np.tile([0.0, 1, 2, 3, 2, 1], 20)) == 6
    assert estimate_period(np.sin(2 * np.pi * np.arange(240) / 12)) == 12
    assert estimate_period(np.sin(np.linspace(0, 70, 700))) == 63  # sin(t), dt ~ 0.1: 2 pi / dt
    assert estimate_period(np.arange(100.0)) is None  # a trend has no season
    assert estimate_period(np.ones(50)) is None


def periodic_series(n=400, period=20):
    return np.sin(2 * np.pi * np.arange(n) / period).astype(np.float32)


def scaled_persistence(x):
    return x[:, -1, :1]


def test_suite_compares_a_known_forecaster_with_the_baselines():
    # The forecaster is persistence, so its skill against persistence is 0; the series has an
    # exact period of 20 steps, so seasonal naive and the linear AR are (nearly) exact.
    ev = evaluate_split(
        scaled_persistence, ChronologicalSplit.of(periodic_series(), 0.7, 0.15), 10, 1
    )
    s = ev.summary
    assert s["period"] == 20 and s["period_source"].startswith("estimated")
    assert s["one_step"]["mse"] == pytest.approx(s["baselines"]["persistence"]["one_step"]["mse"])
    assert s["skill"]["one_step"]["persistence"] == pytest.approx(0.0, abs=1e-5)
    assert s["skill"]["rollout"]["persistence"] == pytest.approx(0.0, abs=1e-5)
    assert s["baselines"]["seasonal_naive"]["one_step"]["mse"] < 1e-12
    assert s["baselines"]["linear_ar"]["rollout"]["mse"] < 1e-10
    assert s["skill"]["one_step"]["training_mean"] > 0  # persistence beats the mean here
    # an exact baseline gets no skill (a ratio of rounding errors); the best inexact one does
    for kind in ("one_step", "rollout"):
        assert "seasonal_naive" in s["exact_baselines"][kind]
        assert s["skill"][kind]["seasonal_naive"] is None
    assert "persistence" not in s["exact_baselines"]["one_step"]
    assert s["best_baseline"]["one_step"]["name"] == "persistence"
    assert s["best_baseline"]["one_step"]["skill"] == pytest.approx(0.0, abs=1e-5)
    # one-step: every test window (60 steps, window 10); rollout: the whole test split from
    # the last true window before it
    assert ev.one_step.true.shape == (50, 1) and ev.one_step.origins[0] == 340 + 10
    assert s["rollout"]["steps"] == 60 and s["rollout"]["origins"] == 1
    np.testing.assert_allclose(ev.rollout.true[0], periodic_series()[340:], atol=1e-6)
    np.testing.assert_allclose(ev.rollout.pred["model"][0], periodic_series()[339], atol=1e-6)
    assert len(s["rollout"]["mse_by_step"]) == 60


def test_suite_rollout_origins_period_from_config_and_multi_step_horizon():
    ev = evaluate_split(
        lambda x: np.repeat(x[:, -1, :1], 2, axis=1),  # persistence for two steps at once
        ChronologicalSplit.of(periodic_series(), 0.7, 0.15),
        10,
        2,
        rollout_steps=5,
        period=10,
        max_origins=4,
    )
    assert ev.summary["period"] == 10 and ev.summary["period_source"] == "config"
    assert ev.one_step.pred["model"].shape == (49, 2)
    np.testing.assert_array_equal(ev.rollout.origins, [340, 358, 377, 395])
    assert ev.rollout.true.shape == (4, 5)
    # half a period back is the negated sine: seasonal naive with period 10 is badly wrong
    assert ev.summary["baselines"]["seasonal_naive"]["one_step"]["mse"] > 0.5
    # persistence rolled out two steps at a time is still persistence
    assert ev.summary["skill"]["rollout"]["persistence"] == pytest.approx(0.0, abs=1e-5)


def test_suite_skips_or_refuses_the_rollout_of_multivariate_input():
    series = np.stack([periodic_series(), periodic_series() ** 2], axis=1)
    ev = evaluate_split(scaled_persistence, ChronologicalSplit.of(series, 0.7, 0.15), 10, 1)
    assert ev.rollout is None and ev.summary["rollout"] is None
    assert "no rollout" in ev.summary["notes"][0]
    assert ev.summary["skill"].keys() == {"one_step"}
    with pytest.raises(ValueError, match="single input feature"):
        evaluate_split(
            scaled_persistence, ChronologicalSplit.of(series, 0.7, 0.15), 10, 1, rollout_steps=5
        )
    none = evaluate_split(
        scaled_persistence, ChronologicalSplit.of(periodic_series(), 0.7, 0.15), 10, 1, 0
    )
    assert none.rollout is None and not none.summary["notes"]


def test_suite_refuses_a_rollout_longer_than_the_test_split():
    with pytest.raises(ValueError, match="longer than the test split"):
        evaluate_split(
            scaled_persistence, ChronologicalSplit.of(periodic_series(), 0.7, 0.15), 10, 1, 61
        )


def test_scores_by_step_by_hand_leave_exact_baselines_out():
    true = np.zeros((2, 3))
    pred = {
        "model": np.array([[0.0, 1.0, 3.0], [0.0, 1.0, 3.0]]),  # MSE 0, 1, 9 by step
        "persistence": np.ones((2, 3)),  # MSE 1 at every step
        "seasonal_naive": np.zeros((2, 3)),  # exact: no skill against it
        "training_mean": np.full((2, 3), 2.0),  # MSE 4
    }
    scores = step_scores(true, pred, variance=1.0)
    assert scores["steps"] == 3
    np.testing.assert_allclose(scores["mse"]["model"], [0.0, 1.0, 9.0])
    assert scores["best_baseline"] == ["persistence"] * 3
    np.testing.assert_allclose(scores["skill"], [1.0, 0.0, -8.0])
    assert scores["worse_at"] == [3]
    assert report_steps(3) == [1, 2, 3] and report_steps(52) == [1, 26, 52]
    assert report_steps(1) == [1] and report_steps(2) == [1, 2]


def test_suite_scores_direct_and_rolled_forecasts_by_step():
    two_step_persistence = lambda x: np.repeat(x[:, -1, :1], 2, axis=1)  # noqa: E731
    ev = evaluate_split(
        two_step_persistence, ChronologicalSplit.of(periodic_series(), 0.7, 0.15), 10, 2, 5
    )
    block = ev.summary["by_step"]
    assert block["one_step"]["steps"] == 2 and block["rollout"]["steps"] == 5
    for kind, forecasts in (("one_step", ev.one_step), ("rollout", ev.rollout)):
        for name, pred in forecasts.pred.items():
            np.testing.assert_allclose(block[kind]["mse"][name], mse_by_step(forecasts.true, pred))
        # the model is persistence: never worse than it, so never worse than the best
        np.testing.assert_allclose(block[kind]["mse"]["model"], block[kind]["mse"]["persistence"])
    one = evaluate_split(
        scaled_persistence, ChronologicalSplit.of(periodic_series(), 0.7, 0.15), 10, 1, 0
    )
    assert one.summary["by_step"] == {}  # a single step ahead: nothing by step
