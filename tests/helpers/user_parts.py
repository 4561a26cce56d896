"""Networks, series and DataModules "of a user's", some broken on purpose, for the tests of
model._target_, data.series._target_ and data._target_ (tests/test_user_project.py and the
second table of docs/errors.md). Importable with tests/helpers on sys.path."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from lstm_lab.data.datamodule import WindowDataModule


class WrongShape(nn.Module):
    """Returns one value too many per window."""

    def __init__(self, input_size: int, horizon: int) -> None:
        super().__init__()
        self.linear = nn.Linear(input_size, horizon + 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x[:, -1])


class NoHorizon(nn.Module):
    def __init__(self, input_size: int) -> None:
        super().__init__()
        self.linear = nn.Linear(input_size, 1)


class NeedsDepth(nn.Module):
    def __init__(self, input_size: int, horizon: int, depth: int) -> None:
        super().__init__()
        self.linear = nn.Linear(input_size, horizon)


class Crashes(WrongShape):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("my bug")


class LastValue(nn.Module):
    """The last input value through a linear layer: a network with no recurrent state."""

    def __init__(self, input_size: int, horizon: int, scale: float = 1.0) -> None:
        super().__init__()
        self.linear = nn.Linear(input_size, horizon)
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x[:, -1] * self.scale)


def ramp(n_points: int = 200) -> np.ndarray:
    return np.linspace(0.0, 1.0, n_points) + 0.1 * np.sin(np.arange(n_points))


def flat_table(n_points: int = 200) -> np.ndarray:
    return np.zeros((n_points, 2, 2))


class JitterDataModule(WindowDataModule):
    """WindowDataModule whose training windows get Gaussian noise of std `jitter` (scaled units)."""

    def __init__(self, *args, jitter: float = 0.0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        x, y = self.tensors["train"]
        gen = torch.Generator().manual_seed(0)
        self.tensors["train"] = (x + jitter * torch.randn(x.shape, generator=gen), y)


class NotAWindowDataModule:
    def __init__(self, **kwargs) -> None:
        pass
