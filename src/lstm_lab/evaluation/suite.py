"""A model's whole forecast evaluation on the test split, against four naive baselines.

Two kinds of forecast, both in the series' original units:
- one-step: every test window of true values -> the next `horizon` values (what training tests);
- rollout: from true windows ending at evenly spaced origins in the test split (the first
  is the last true window before it), predictions are fed back as inputs for `steps` steps.
Skill against a baseline is 1 - MSE_model / MSE_baseline on the same forecasts; none against
a baseline that is exact (its MSE numerically zero next to the series' variance: a linear AR on
a noise-free sine), and one against the best baseline that is not exact, comparable across runs.
Plain numpy around any forecaster; the network comes in through `network_forecaster`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lstm_lab.data.windows import ChronologicalSplit, StandardScaler
from lstm_lab.evaluation.baselines import (
    LinearAR,
    estimate_period,
    persistence,
    seasonal_naive,
    training_mean,
)
from lstm_lab.evaluation.forecast import Forecaster, rollout, rollout_refusal
from lstm_lab.evaluation.horizon import by_step
from lstm_lab.evaluation.metrics import errors, is_exact, mse_by_step, skill

BASELINES = ("persistence", "seasonal_naive", "training_mean", "linear_ar")


@dataclass
class Forecasts:
    """Forecasts from origins (rows) for steps ahead (columns), original units."""

    origins: np.ndarray  # index in the series of each row's first forecast step
    true: np.ndarray
    pred: dict[str, np.ndarray]  # "model" and each baseline


@dataclass
class ForecastEvaluation:
    summary: dict  # JSON-ready: metrics, baselines, skill, period, notes
    one_step: Forecasts
    rollout: Forecasts | None
    test_start: int


def evaluate_split(
    forecaster: Forecaster,
    split: ChronologicalSplit,
    window: int,
    horizon: int,
    rollout_steps: int | None = None,
    period: int | None = None,
    max_origins: int = 256,
) -> ForecastEvaluation:
    """Evaluate `forecaster` (scaled windows -> scaled predictions) on the test split of the
    run's own `split` (its scaler, fitted on the training stretch, scales every forecast).
    `rollout_steps`: None for the whole test split, 0 for no rollout. `period`: the
    seasonal-naive period in steps, None to estimate it from the training split.
    """
    windows = split.windows(window, horizon)
    z = split.series[:, 0].astype(np.float64)
    z_train = z[slice(*split.bounds["train"])]
    test_start = split.bounds["test"][0]
    notes: list[str] = []
    period, period_source = _seasonal_period(period, z_train, test_start, notes)
    ar = LinearAR.fit(*windows["train"])  # in scaled units, like the network
    forecasts = _Forecasting(forecaster, ar, split.scaler, z, z_train, period)

    x_test, _ = windows["test"]
    one_step = forecasts(x_test, test_start + window + np.arange(len(x_test)), horizon, False)
    rolled = _rollout(forecasts, split, window, rollout_steps, max_origins, notes)
    variance = float(np.var(z))
    return ForecastEvaluation(
        _summary(one_step, rolled, period, period_source, notes, variance),
        one_step,
        rolled,
        test_start,
    )


def _seasonal_period(
    period: int | None, z_train: np.ndarray, test_start: int, notes: list[str]
) -> tuple[int | None, str]:
    """The seasonal-naive period: the configured one, else estimated from the training split."""
    if period is None:
        period = estimate_period(z_train)
        if period is None:
            notes.append("no seasonality found in the training split: no seasonal-naive baseline")
        return period, "estimated from the training split"
    if period > test_start:
        raise ValueError(f"a period of {period} steps reaches before the start of the series")
    return period, "config"


@dataclass
class _Forecasting:
    """The model's and every baseline's forecasts from given windows, in original units."""

    forecaster: Forecaster
    ar: LinearAR
    scaler: StandardScaler
    z: np.ndarray  # the target column, original units
    z_train: np.ndarray
    period: int | None

    def unscale(self, values: np.ndarray) -> np.ndarray:
        return self.scaler.inverse_target(np.asarray(values, dtype=np.float64))

    def __call__(self, windows: np.ndarray, origins: np.ndarray, steps: int, rolled: bool):
        if rolled:
            model = rollout(self.forecaster, windows, steps)
            linear = rollout(self.ar, windows.astype(np.float64), steps)
        else:
            model, linear = self.forecaster(windows), self.ar(windows)
        z = self.z
        pred = {
            "model": self.unscale(model),
            "persistence": persistence(z, origins, steps),
            "training_mean": training_mean(self.z_train, len(origins), steps),
            "linear_ar": self.unscale(linear),
        }
        if self.period is not None:
            pred["seasonal_naive"] = seasonal_naive(z, origins, steps, self.period)
        true = z[origins[:, None] + np.arange(steps)]
        return Forecasts(origins, true, pred)


def _rollout(forecasts, split, window, rollout_steps, max_origins, notes) -> Forecasts | None:
    """Rollouts from evenly spaced origins of the test split (None when there are none)."""
    test_start, test_end = split.bounds["test"]
    steps = test_end - test_start if rollout_steps is None else rollout_steps
    refusal = rollout_refusal(split.series.shape[1])
    if steps > test_end - test_start:
        raise ValueError(
            f"a rollout of {steps} steps is longer than the test split "
            f"({test_end - test_start} steps)"
        )
    if refusal and rollout_steps:
        raise ValueError(refusal)
    if refusal and steps:
        notes.append(f"no rollout: {refusal}")
        return None
    if not steps:
        return None
    last = test_end - steps  # the last origin whose rollout stays inside the test split
    count = min(last - test_start + 1, max_origins)
    origins = np.unique(np.round(np.linspace(test_start, last, count)).astype(int))
    windows = split.scaled[origins[:, None] - window + np.arange(window)]
    return forecasts(windows, origins, steps, True)


def _summary(one_step, rolled, period, period_source, notes, variance: float) -> dict:
    def scores(f: Forecasts | None, name: str) -> dict | None:
        return None if f is None else errors(f.true, f.pred[name])

    summary: dict = {"one_step": scores(one_step, "model"), "rollout": None}
    if rolled is not None:
        summary["rollout"] = {
            **scores(rolled, "model"),
            "steps": rolled.true.shape[1],
            "origins": len(rolled.origins),
            "mse_by_step": mse_by_step(rolled.true, rolled.pred["model"]).tolist(),
        }
    names = [b for b in BASELINES if b in one_step.pred]
    summary["baselines"] = {
        b: {"one_step": scores(one_step, b), "rollout": scores(rolled, b)} for b in names
    }
    kinds = [kind for kind in ("one_step", "rollout") if summary[kind] is not None]
    baseline_mse = {k: {b: summary["baselines"][b][k]["mse"] for b in names} for k in kinds}
    summary["exact_baselines"] = {
        k: [b for b in names if is_exact(baseline_mse[k][b], variance)] for k in kinds
    }
    summary["skill"] = {
        k: {
            b: None if b in summary["exact_baselines"][k] else skill(summary[k]["mse"], mse)
            for b, mse in baseline_mse[k].items()
        }
        for k in kinds
    }
    summary["best_baseline"] = {
        k: _best(summary[k]["mse"], baseline_mse[k], summary, k) for k in kinds
    }
    summary["by_step"] = by_step(one_step, rolled, variance)
    summary["period"] = period
    summary["period_source"] = period_source if period is not None else None
    summary["notes"] = list(notes)
    return summary


def _best(model_mse: float, baseline_mse: dict, summary: dict, kind: str) -> dict | None:
    """The baseline with the lowest MSE that is not exact, and the model's skill against it."""
    usable = {b: m for b, m in baseline_mse.items() if b not in summary["exact_baselines"][kind]}
    if not usable:
        return None
    name = min(usable, key=usable.get)
    return {"name": name, "mse": usable[name], "skill": skill(model_mse, usable[name])}


def evaluate_with_config(forecaster: Forecaster, split: ChronologicalSplit, plain: dict):
    """`evaluate_split` with a run's `data` and `evaluation` settings (a plain dict)."""
    data, settings = plain["data"], plain.get("evaluation") or {}
    return evaluate_split(
        forecaster,
        split,
        window=data["window"],
        horizon=data["horizon"],
        rollout_steps=settings.get("rollout_steps"),
        period=settings.get("period"),
        max_origins=settings.get("max_origins", 256),
    )
