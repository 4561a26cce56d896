"""What the network reads and predicts of the target: its level, its changes, or its values
relative to the window's last one. Numpy; the network applies it (models/lstm.py).

- `none`: the scaled level, as it is;
- `diff`: the step-to-step changes of the target (inputs and predictions), the forecast being
  the window's last value plus the predicted changes, summed;
- `window_relative`: the target's values minus the window's last value (inputs and
  predictions), the forecast being that last value plus the prediction: a residual head on
  persistence.

A trending series leaves the training range in its test split; in levels the network has to
extrapolate, in changes or relative values it does not. Feature columns are left as they are.
"""

from __future__ import annotations

import numpy as np

TRANSFORMS = ("none", "diff", "window_relative")


def transformed_target(x: np.ndarray, y: np.ndarray, transform: str) -> np.ndarray:
    """The target of windows `x` (N, window, F) and their targets `y` (N, horizon) as the
    transform presents it: (N, window + horizon), inputs first."""
    target = np.concatenate([x[:, :, 0], y], axis=1).astype(np.float64)
    if transform == "diff":
        return np.diff(target, axis=1, prepend=target[:, :1])
    if transform == "window_relative":
        return target - target[:, x.shape[1] - 1 : x.shape[1]]
    if transform == "none":
        return target
    raise ValueError(f"unknown transform {transform!r}; one of {', '.join(TRANSFORMS)}")


def transform_scale(x: np.ndarray, y: np.ndarray, transform: str) -> float:
    """The root mean square of the transformed target over the training windows: the network
    reads and predicts it divided by this, so values of about unit size (changes are far
    smaller than the scaled level). 1 for `none`."""
    if transform == "none" or not len(x):
        return 1.0
    rms = float(np.sqrt(np.mean(transformed_target(x, y, transform) ** 2)))
    return rms if rms > 0 else 1.0
