"""A GRU network, built like LSTMRegressor (and like any user's class): model=gru."""

from __future__ import annotations

import torch
from torch import nn

from lstm_lab.models.lstm import RecurrentRegressor, State


class GRURegressor(RecurrentRegressor):
    """nn.GRU + nn.Linear head: (batch, time, input_size) -> (batch, horizon).

    The same contract as LSTMRegressor, so stateful mode and carry_state work with it too;
    its state is the 1-tuple (h_n,), (num_layers, batch, hidden_size).
    """

    layers = nn.GRU
    gates = 3

    def forward_with_state(
        self, x: torch.Tensor, state: State | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, State]:
        encoded = self.encode(x)
        out, h = self.gru(encoded, None if state is None else state[0])
        return self.predict(x, encoded, out), out, (h,)
