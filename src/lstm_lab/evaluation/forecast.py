"""Predictions from a trained network, in plain torch and numpy: one-step and rolled out."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

# A forecaster maps windows (B, window, features) to the next values (B, horizon), in the
# units it was fitted in; the network and the linear AR baseline are both forecasters.
Forecaster = Callable[[np.ndarray], np.ndarray]


@torch.no_grad()
def predict(net: nn.Module, x: torch.Tensor, batch_size: int = 4096) -> np.ndarray:
    """One-step predictions (N, horizon) for windows `x` (N, window, features), on x's device."""
    was_training = net.training
    net.eval()
    out = torch.cat([net(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])
    net.train(was_training)
    return out.cpu().numpy()


def network_forecaster(net: nn.Module, batch_size: int = 4096) -> Forecaster:
    """The network as a numpy forecaster, running on the device its weights are on."""
    device = next(net.parameters()).device

    def forecast(windows: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(windows, dtype=np.float32)).to(device)
        return predict(net, x, batch_size)

    return forecast


def rollout_refusal(n_features: int) -> str | None:
    """Why windows of `n_features` columns cannot be rolled out, or None when they can."""
    if n_features == 1:
        return None
    return (
        f"a rollout feeds its predictions back as inputs, which needs a single input feature; "
        f"this data has {n_features} (the future values of the others are unknown)"
    )


def rollout(forecaster: Forecaster, windows: np.ndarray, steps: int) -> np.ndarray:
    """Autoregressive forecasts (B, steps) from starting windows (B, window, 1).

    Each call predicts the next `horizon` values; all of them are appended to the window
    (the oldest values drop out) and the forecaster is called again, until `steps` values
    exist. With horizon 1 this is the classic feed-one-prediction-back rollout.
    """
    windows = np.asarray(windows)
    if windows.ndim != 3:
        raise ValueError(f"windows must be (batch, window, features); got shape {windows.shape}")
    refusal = rollout_refusal(windows.shape[2])
    if refusal:
        raise ValueError(refusal)
    width = windows.shape[1]
    out = None  # filled in place: a list of each call's array took ~750 bytes a step
    done = 0
    while done < steps:
        pred = np.asarray(forecaster(windows))
        if out is None:
            out = np.empty((len(pred), steps), dtype=pred.dtype)
        take = min(pred.shape[1], steps - done)
        out[:, done : done + take] = pred[:, :take]
        done += pred.shape[1]
        fed_back = pred[:, :, None].astype(windows.dtype)
        windows = np.concatenate([windows, fed_back], axis=1)[:, -width:]
    if out is None:
        return np.zeros((len(windows), 0), dtype=windows.dtype)
    return out
