"""Predictions of a stateful network along whole streams, in plain torch and numpy."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


@torch.no_grad()
def predict_stream(net: nn.Module, x: torch.Tensor, chunk: int = 1024) -> np.ndarray:
    """Predictions (streams, time, horizon) at every step of `x` (streams, time, features),
    walked `chunk` steps at a time from zero state, each chunk starting from the last's state.

    `net` keeps LSTMRegressor's state contract: `forward_with_state` gives the output
    sequence, `head` maps it.
    """
    was_training = net.training
    net.eval()
    state, preds = None, []
    for start in range(0, x.shape[1], chunk):
        _, out, state = net.forward_with_state(x[:, start : start + chunk], state)
        preds.append(net.head(out))
    net.train(was_training)
    return torch.cat(preds, dim=1).cpu().numpy()


def scored_predictions(
    net: nn.Module, x: torch.Tensor, y: np.ndarray, scored: np.ndarray, chunk: int = 1024
) -> tuple[np.ndarray, np.ndarray]:
    """(true, predicted) values (n, horizon) of the scored steps of a stream `x` (1, time,
    features) with targets `y` (1, time, horizon), walked from its start (see predict_stream)."""
    return y[scored], predict_stream(net, x, chunk)[scored]


@torch.no_grad()
def stream_rollout(net: nn.Module, x: torch.Tensor, steps: int, chunk: int = 1024) -> np.ndarray:
    """The next `steps` values after a (time, 1) series: the state is warmed up over the whole
    series (`chunk` steps at a time), then each step-1 prediction is fed back as the next input,
    the state carried on. Scaled values in and out; a single input feature."""
    was_training = net.training
    net.eval()
    state, out = None, None
    for start in range(0, x.shape[0], chunk):
        _, out, state = net.forward_with_state(x[None, start : start + chunk], state)
    # filled in place: a list of each step's tensor grew by about a kilobyte a step
    preds = torch.empty(steps, dtype=x.dtype, device=x.device)
    for step in range(steps):
        value = net.head(out[:, -1])[:, :1]  # (1, 1): the next value
        preds[step] = value[0, 0]
        _, out, state = net.forward_with_state(value[:, None], state)
    net.train(was_training)
    return preds.cpu().numpy()
