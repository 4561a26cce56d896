"""The network: nn.LSTM + nn.Linear head. Plain torch, no Lightning."""

from __future__ import annotations

import torch
from torch import nn

# The recurrent state a network carries: a tuple of tensors, each (num_layers, batch, hidden).
State = tuple[torch.Tensor, ...]


class LSTMRegressor(nn.Module):
    """Reads (batch, time, input_size) and predicts the next `horizon` values of the target.

    `forward` returns the prediction from the last time step, shape (batch, horizon).
    `forward_with_state` also returns the LSTM's output sequence (batch, time, hidden_size)
    and the final (h_n, c_n) of every layer, each (num_layers, batch, hidden_size); both
    take an optional initial (h0, c0) of that shape.

    This is the contract for a network of your own (model._target_=your.Class): a constructor
    taking `input_size` and `horizon` (filled in from the data) and the model config's other
    keys, and `forward` as above. Stateful mode and carry_state also call `forward_with_state`
    (prediction, per-step outputs, state as a tuple of (layers, batch, ...) tensors) and `head`
    (per-step outputs -> (batch, time, horizon)).
    """

    def __init__(
        self,
        input_size: int = 1,
        hidden_size: int = 32,
        num_layers: int = 1,
        dropout: float = 0.0,
        horizon: int = 1,
    ) -> None:
        super().__init__()
        # nn.LSTM applies dropout between layers only, and warns when there is one layer.
        self.lstm = nn.LSTM(
            input_size,
            hidden_size,
            num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.head = nn.Linear(hidden_size, horizon)

    def forward_with_state(
        self, x: torch.Tensor, state: State | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, State]:
        out, state = self.lstm(x, state)
        return self.head(out[:, -1]), out, state

    def forward(self, x: torch.Tensor, state: State | None = None) -> torch.Tensor:
        return self.forward_with_state(x, state)[0]
