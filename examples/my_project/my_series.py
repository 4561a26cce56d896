"""A series of your own for lstm-train: any function named by data.series._target_.

It gets the other keys of `data.series` and returns a numpy array, (time,) or
(time, features) with the target in column 0, in its original units.
"""

from __future__ import annotations

import numpy as np


def sawtooth(n_points: int = 600, period: int = 25, noise: float = 0.05, seed: int = 0):
    rng = np.random.default_rng(seed)
    t = np.arange(n_points)
    return (t % period) / period + noise * rng.standard_normal(n_points)
