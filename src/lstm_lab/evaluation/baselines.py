"""Naive forecasts an LSTM has to beat, in numpy.

Each takes the target series `z` (1-D, original units) and forecast origins: origin `o` is
the first unknown step, so a forecast from `o` may use z[:o] only, and its step k (0-based)
forecasts z[o + k].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def persistence(z: np.ndarray, origins: np.ndarray, steps: int) -> np.ndarray:
    """The last known value, for every step: (len(origins), steps)."""
    last = np.asarray(z, dtype=np.float64)[np.asarray(origins) - 1]
    return np.repeat(last[:, None], steps, axis=1)


def seasonal_naive(z: np.ndarray, origins: np.ndarray, steps: int, period: int) -> np.ndarray:
    """The value one period earlier, repeating the last known period: (len(origins), steps).

    Step k from origin o reads z[o + k - period * (k // period + 1)], always before o.
    """
    k = np.arange(steps)
    idx = np.asarray(origins)[:, None] + k - period * (k // period + 1)
    if idx.min(initial=0) < 0:
        raise ValueError(f"a period of {period} steps reaches before the start of the series")
    return np.asarray(z, dtype=np.float64)[idx]


def training_mean(z_train: np.ndarray, n_origins: int, steps: int) -> np.ndarray:
    """The mean of the training split, for every step: (n_origins, steps)."""
    return np.full((n_origins, steps), float(np.mean(z_train, dtype=np.float64)))


def estimate_period(z_train: np.ndarray) -> int | None:
    """The lag of the highest autocorrelation peak after the first negative autocorrelation.

    Looks at lags up to half the series; None when there is no such peak (no seasonality).
    """
    x = np.asarray(z_train, dtype=np.float64)
    x = x - x.mean()
    n = len(x)
    if n < 4 or not np.any(x):
        return None
    spectrum = np.fft.rfft(x, 2 * n)  # zero-padded: a linear, not circular, autocorrelation
    acf = np.fft.irfft(spectrum * np.conj(spectrum))[: n // 2 + 1]
    acf /= acf[0]
    negative = np.flatnonzero(acf < 0)
    if len(negative) == 0:
        return None
    start = negative[0]
    lag = int(start + np.argmax(acf[start:]))
    return lag if acf[lag] > 0 else None


@dataclass(frozen=True)
class LinearAR:
    """Linear autoregression on the same windows the network reads, fitted by least squares.

    Predicts all `horizon` outputs from the flattened window plus an intercept.
    """

    coef: np.ndarray  # (window * features + 1, horizon)

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray) -> LinearAR:
        coef, *_ = np.linalg.lstsq(_design(x), np.asarray(y, dtype=np.float64), rcond=None)
        return cls(coef)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return _design(x) @ self.coef


def _design(x: np.ndarray) -> np.ndarray:
    flat = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    return np.hstack([flat, np.ones((len(flat), 1))])
