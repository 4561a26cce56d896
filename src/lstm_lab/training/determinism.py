"""Deterministic algorithms without filling every new tensor.

Under `trainer.deterministic` (true or warn), torch also fills every tensor that `empty`,
`empty_like` or `resize_` creates with NaN (`torch.utils.deterministic.fill_uninitialized_memory`,
on by default), so that an operator that read memory it never wrote would give the same
wrong answer each time. No operator of a run reads such memory, so the fill changes no
result (a test checks the weights bit for bit) and costs every step a kernel per new tensor:
about 3 % of a small LSTM's step on CPU. torch's documentation names this case: "if your
program is valid and does not use uninitialized memory as the input to an operation, then
this setting can be turned off for better performance and still be deterministic".
"""

from __future__ import annotations

import lightning as L
import torch
import torch.utils.deterministic as deterministic


class SkipUninitializedFill(L.Callback):
    """Per process and stage (fit, test): the fill off while deterministic algorithms are on,
    back as it was at the stage's end."""

    def __init__(self) -> None:
        self.before: bool | None = None

    def setup(self, trainer: L.Trainer, pl_module, stage: str) -> None:
        if torch.are_deterministic_algorithms_enabled():
            self.before = deterministic.fill_uninitialized_memory
            deterministic.fill_uninitialized_memory = False

    def teardown(self, trainer: L.Trainer, pl_module, stage: str) -> None:
        if self.before is not None:
            deterministic.fill_uninitialized_memory = self.before
            self.before = None
