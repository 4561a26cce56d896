"""Error metrics and skill scores, in numpy (float64)."""

from __future__ import annotations

import numpy as np


def errors(true: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """MSE, RMSE and MAE over every element."""
    diff = np.asarray(pred, dtype=np.float64) - np.asarray(true, dtype=np.float64)
    mse = float(np.mean(diff**2))
    return {"mse": mse, "rmse": mse**0.5, "mae": float(np.mean(np.abs(diff)))}


def errors_by_step(true: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """`errors` over all (forecasts, horizon) values, and per step ahead when horizon > 1
    (`mse_step1`, ...): the names of the test metrics training records."""
    out = errors(true, pred)
    if true.shape[1] > 1:
        for step in range(true.shape[1]):
            for name, value in errors(true[:, step], pred[:, step]).items():
                out[f"{name}_step{step + 1}"] = value
    return out


def skill(mse_model: float, mse_baseline: float) -> float | None:
    """1 - MSE_model / MSE_baseline: 1 is perfect, 0 no better than the baseline, < 0 worse.

    None when the baseline is exact (MSE 0) and the ratio is undefined.
    """
    if mse_baseline == 0:
        return None
    return 1.0 - mse_model / mse_baseline


# A baseline whose MSE is below this fraction of the series' variance forecasts it exactly (a
# linear AR on a noise-free sine: MSE 1e-16): skill against it would be a ratio of rounding errors.
EXACT = 1e-10


def is_exact(mse: float, variance: float) -> bool:
    """Whether an MSE is numerically zero relative to the series' variance."""
    return mse == 0 or mse < EXACT * variance


def mse_by_step(true: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """MSE at each step ahead (column), averaged over forecast origins (rows)."""
    diff = np.asarray(pred, dtype=np.float64) - np.asarray(true, dtype=np.float64)
    return np.mean(diff**2, axis=0)
