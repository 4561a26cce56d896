"""Windows, chronological splits and train-only scaling: numpy in, numpy out."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SPLITS = ("train", "val", "test")
# The largest size of value a series may hold: training and metrics run in float32, whose
# squares (the variance of the scaler, the squared errors in the series' own units) overflow
# past 3.4e38, so larger values train into NaN or score inf without a word.
MAX_MAGNITUDE = 1e15


def as_columns(series: np.ndarray) -> np.ndarray:
    """float32 (time, features); a 1-D series becomes one column."""
    series = np.asarray(series, dtype=np.float32)
    return series[:, None] if series.ndim == 1 else series


def create_sequences(
    series: np.ndarray, window: int, horizon: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Cut (T, F) `series` into inputs (N, window, F) and targets (N, horizon) of column 0.

    Window i reads series[i : i + window] and predicts column 0 of the next `horizon` steps.
    """
    series = as_columns(series)
    n = len(series) - window - horizon + 1
    if n < 1:
        raise ValueError(f"a series of {len(series)} steps holds no window of {window} + {horizon}")
    idx = np.arange(n)[:, None]
    x = series[idx + np.arange(window)]
    y = series[idx + window + np.arange(horizon), 0]
    return x, y


def split_bounds(n_points: int, train: float, val: float) -> dict[str, tuple[int, int]]:
    """Chronological [start, end) of each split: train, then val, then the rest as test."""
    a = int(round(n_points * train))
    b = int(round(n_points * (train + val)))
    return {"train": (0, a), "val": (a, b), "test": (b, n_points)}


@dataclass(frozen=True)
class StandardScaler:
    """Per-column mean/std, fitted on the training split only."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, values: np.ndarray) -> StandardScaler:
        std = values.std(axis=0)
        return cls(values.mean(axis=0), np.where(std > 0, std, 1.0))

    def transform(self, values: np.ndarray) -> np.ndarray:
        return ((values - self.mean) / self.std).astype(np.float32)

    def inverse_target(self, values: np.ndarray) -> np.ndarray:
        """Undo the scaling of column 0 (the target), for predictions in original units."""
        return values * self.std[0] + self.mean[0]


@dataclass(frozen=True)
class ChronologicalSplit:
    """One series cut in time into train, val and test, and scaled with the training stretch's
    statistics: built once per run and shared by its DataModule, its forecasts and baselines,
    lstm-eval and lstm-predict (which rebuild it from the run's saved config)."""

    series: np.ndarray  # (time, features) float32, original units
    bounds: dict[str, tuple[int, int]]  # [start, end) of each split
    scaler: StandardScaler  # fitted on the training stretch alone
    scaled: np.ndarray  # the whole series, scaled

    @classmethod
    def of(cls, series: np.ndarray, train: float, val: float) -> ChronologicalSplit:
        series = as_columns(series)
        bounds = split_bounds(len(series), train, val)
        start, end = bounds["train"]
        scaler = StandardScaler.fit(series[start:end])
        return cls(series, bounds, scaler, scaler.transform(series))

    def windows(self, window: int, horizon: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Scaled (x, y) windows per split, each split windowed on its own stretch of time:
        no window's inputs or targets cross into a later split."""
        check_split_lengths(self.bounds, window, horizon)
        return {
            name: create_sequences(self.scaled[a:b], window, horizon)
            for name, (a, b) in self.bounds.items()
        }


def make_splits(
    series: np.ndarray, window: int, horizon: int, train: float, val: float
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], StandardScaler]:
    """Scaled (x, y) windows per split and the scaler: ChronologicalSplit's, in one call."""
    split = ChronologicalSplit.of(series, train, val)
    return split.windows(window, horizon), split.scaler


def check_split_lengths(bounds: dict[str, tuple[int, int]], window: int, horizon: int) -> None:
    """Each split holds one window of `window` inputs and `horizon` targets (window 0: stateful
    mode, whose splits need their targets only)."""
    need = f"one window of {window} inputs + {horizon} target(s)"
    if not window:
        need = f"a target {horizon} step(s) ahead"
    for name, (a, b) in bounds.items():
        if b - a < window + horizon:
            raise ValueError(f"the {name} split has {b - a} steps, too few for {need}")
