"""A GRU network, built like LSTMRegressor (and like any user's class): model=gru."""

from __future__ import annotations

import torch
from torch import nn

from lstm_lab.models.lstm import State, TargetTransform


class GRURegressor(TargetTransform):
    """nn.GRU + nn.Linear head: (batch, time, input_size) -> (batch, horizon).

    The same contract as LSTMRegressor, so stateful mode and carry_state work with it too;
    its state is the 1-tuple (h_n,), (num_layers, batch, hidden_size).
    """

    def __init__(
        self,
        input_size: int = 1,
        hidden_size: int = 32,
        num_layers: int = 1,
        dropout: float = 0.0,
        horizon: int = 1,
        transform: str = "none",
        transform_scale: float = 1.0,
    ) -> None:
        super().__init__()
        # nn.GRU applies dropout between layers only, and warns when there is one layer.
        self.gru = nn.GRU(
            input_size,
            hidden_size,
            num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.head = nn.Linear(hidden_size, horizon)
        self.set_transform(transform, transform_scale)

    def forward_with_state(
        self, x: torch.Tensor, state: State | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, State]:
        out, h = self.gru(self.encode(x), None if state is None else state[0])
        return self.decode(x, self.head(out[:, -1])), out, (h,)

    def forward(self, x: torch.Tensor, state: State | None = None) -> torch.Tensor:
        return self.forward_with_state(x, state)[0]
