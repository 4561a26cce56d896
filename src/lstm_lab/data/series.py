"""Series sources: plain numpy arrays of shape (time, features), column 0 the target."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from lstm_lab.data.windows import as_columns


def sine_series(
    n_points: int = 1000,
    t_start: float = 0.0,
    t_end: float = 100.0,
    waves: Sequence[Mapping[str, float]] = ({"frequency": 1.0, "amplitude": 1.0, "phase": 0.0},),
    noise: float = 0.0,
    seed: int = 0,
    trend: float = 0.0,
) -> np.ndarray:
    """Sum of `amplitude * sin(frequency * t + phase)` over `waves`, plus `trend * t` (a
    straight line rising `trend` per unit of t), plus Gaussian noise.

    `frequency` is angular (radians per unit of t), so the default is the classic sin(t)
    sampled at `n_points` points of [t_start, t_end]. The noise has its own seed, so the
    series stays the same whatever the training seed.
    """
    t = np.linspace(t_start, t_end, n_points)
    y = trend * t
    for wave in waves:
        w = {"frequency": 1.0, "amplitude": 1.0, "phase": 0.0, **wave}
        y += w["amplitude"] * np.sin(w["frequency"] * t + w["phase"])
    if noise > 0:
        y += np.random.default_rng(seed).normal(0.0, noise, size=n_points)
    return as_columns(y)  # (time, 1) float32
