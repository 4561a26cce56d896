"""A network of your own for lstm-train: any nn.Module class, named by model._target_.

The constructor gets `input_size` (the number of input columns) and `horizon` (data.horizon)
from lstm-lab, and every other key of your model config; `forward` maps windows
(batch, window, input_size) to the next values (batch, horizon).
"""

from __future__ import annotations

import torch
from torch import nn


class MLPRegressor(nn.Module):
    """The window, flattened, through a two-layer perceptron."""

    def __init__(self, input_size: int, horizon: int, window: int, hidden: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(window * input_size, hidden),
            nn.Tanh(),
            nn.Linear(hidden, horizon),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
