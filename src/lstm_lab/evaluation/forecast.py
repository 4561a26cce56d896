"""Predictions from a trained network, in plain torch and numpy."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


@torch.no_grad()
def predict(net: nn.Module, x: torch.Tensor, batch_size: int = 4096) -> np.ndarray:
    """One-step predictions (N, horizon) for windows `x` (N, window, features), on x's device."""
    was_training = net.training
    net.eval()
    out = torch.cat([net(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])
    net.train(was_training)
    return out.cpu().numpy()
