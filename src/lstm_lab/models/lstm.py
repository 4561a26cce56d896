"""The network: nn.LSTM + nn.Linear head. Plain torch, no Lightning."""

from __future__ import annotations

import torch
from torch import nn

from lstm_lab.data.transforms import TRANSFORMS

# The recurrent state a network carries: a tuple of tensors, each (num_layers, batch, hidden).
State = tuple[torch.Tensor, ...]


class TargetTransform(nn.Module):
    """The `transform` (data/transforms.py) at a network's edges: the recurrent layers read the
    target column as changes (`diff`) or relative to the window's last value
    (`window_relative`), divided by `transform_scale`, and the head's outputs are turned back
    into values of the target. Inputs and predictions of `forward` stay in the series' (scaled)
    units whatever the transform, so training, test metrics, rollouts and forecasts need not
    know it. The scale is a buffer: checkpoints carry it. LSTMRegressor and GRURegressor build
    on it; a network of yours can too (take `transform` and `transform_scale`, call
    `set_transform`, and wrap its layers in `encode`/`decode`)."""

    def set_transform(self, transform: str, transform_scale: float) -> None:
        if transform not in TRANSFORMS:
            raise ValueError(f"unknown transform {transform!r}; one of {', '.join(TRANSFORMS)}")
        self.transform = transform
        if transform != "none":  # so a checkpoint of another transform does not load
            self.register_buffer("transform_scale", torch.tensor(float(transform_scale)))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """What the LSTM reads of windows `x` (batch, window, features)."""
        if self.transform == "none":
            return x
        target = x[..., :1]
        if self.transform == "diff":
            rel = torch.diff(target, dim=1, prepend=target[:, :1])
        else:
            rel = target - target[:, -1:]
        return torch.cat([rel / self.transform_scale, x[..., 1:]], dim=-1)

    def decode(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """The head's outputs (batch, horizon) for windows `x` as values of the target."""
        if self.transform == "none":
            return out
        steps = out.cumsum(dim=1) if self.transform == "diff" else out
        return x[:, -1, :1] + self.transform_scale * steps

    def encode_target(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The head's outputs that `decode` turns into the targets `y`: its inverse."""
        if self.transform == "none":
            return y
        rel = (y - x[:, -1, :1]) / self.transform_scale
        if self.transform == "diff":
            return torch.diff(rel, dim=1, prepend=torch.zeros_like(rel[:, :1]))
        return rel


class RecurrentRegressor(TargetTransform):
    """A recurrent layer stack (`layers`: nn.LSTM or nn.GRU) + an nn.Linear head; the stack is
    the attribute named after its class (`self.lstm`, `self.gru`), as checkpoints name it."""

    layers: type[nn.LSTM] | type[nn.GRU]
    # What lstm-lab sizes a run by (training/memory.py), declared here rather than in a table
    # keyed by import path; a network of yours without them is measured (memory.py).
    gates: int  # weight blocks per layer: 4 (LSTM), 3 (GRU)
    size_key = "hidden_size"  # the model key that sizes the network: the one to lower

    @classmethod
    def kept_per_step(cls, hidden_size: int, num_layers: int, **_: object) -> int:
        """Values the backward pass keeps per sample and time step: every layer's gates and
        its state (about gates + 2 per hidden unit)."""
        return num_layers * hidden_size * (cls.gates + 2)

    def __init__(
        self,
        input_size: int = 1,
        hidden_size: int = 32,
        num_layers: int = 1,
        dropout: float = 0.0,
        horizon: int = 1,
        transform: str = "none",
        transform_scale: float = 1.0,
        linear_skip: int = 0,
    ) -> None:
        super().__init__()
        # the recurrent layers apply dropout between layers only, and warn when there is one
        stack = self.layers(
            input_size,
            hidden_size,
            num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        setattr(self, self.layers.__name__.lower(), stack)
        self.head = nn.Linear(hidden_size, horizon)
        # LSTNet's "highway": a linear map of the window's last `linear_skip` steps (what the
        # layers read, every column) added to the head, so the network is at least a linear
        # autoregression on them plus the recurrent part. Window mode only: it reads a window.
        self.linear_skip = linear_skip
        if linear_skip:
            self.skip = nn.Linear(linear_skip * input_size, horizon)
        self.set_transform(transform, transform_scale)

    def forward(self, x: torch.Tensor, state: State | None = None) -> torch.Tensor:
        return self.forward_with_state(x, state)[0]

    def predict(self, x: torch.Tensor, encoded: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """The forecast (batch, horizon) for windows `x`, read by the layers as `encoded`, from
        the layers' outputs `out` (batch, time, hidden_size): the head at the last step, plus
        the linear skip."""
        pred = self.head(out[:, -1])
        if self.linear_skip:
            pred = pred + self.skip(encoded[:, -self.linear_skip :].flatten(1))
        return self.decode(x, pred)


class LSTMRegressor(RecurrentRegressor):
    """Reads (batch, time, input_size) and predicts the next `horizon` values of the target.

    `forward` returns the prediction from the last time step, shape (batch, horizon).
    `forward_with_state` also returns the LSTM's output sequence (batch, time, hidden_size)
    and the final (h_n, c_n) of every layer, each (num_layers, batch, hidden_size); both
    take an optional initial (h0, c0) of that shape.

    `transform`: see TargetTransform.

    This is the contract for a network of your own (model._target_=your.Class): a constructor
    taking `input_size` and `horizon` (filled in from the data) and the model config's other
    keys, and `forward` as above. Stateful mode and carry_state also call `forward_with_state`
    (prediction, per-step outputs, state as a tuple of (layers, batch, ...) tensors) and `head`
    (per-step outputs -> (batch, time, horizon)). The memory check and `threads: auto` size
    it by what RecurrentRegressor declares (`kept_per_step`, `size_key`); a class without
    those is sized by its own parameters, built on the meta device (training/memory.py).
    """

    layers = nn.LSTM
    gates = 4

    def forward_with_state(
        self, x: torch.Tensor, state: State | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, State]:
        encoded = self.encode(x)
        out, state = self.lstm(encoded, state)
        return self.predict(x, encoded, out), out, state
