"""Deterministic algorithms without filling every new tensor.

Under `trainer.deterministic` (true or warn), torch also fills every tensor that `empty`,
`empty_like` or `resize_` creates with NaN (`torch.utils.deterministic.fill_uninitialized_memory`,
on by default), so that an operator that read memory it never wrote would give the same
wrong answer each time. No operator of a run reads such memory, so the fill changes no
result (tests/test_determinism.py checks the weights bit for bit) and costs every step a
kernel per new tensor: about 3 % of a small LSTM's step on CPU. torch's documentation names
this case: "if your program is valid and does not use uninitialized memory as the input to an
operation, then this setting can be turned off for better performance and still be
deterministic". RunProgress (training/distributed.py) turns it off for each stage, per process.
"""

from __future__ import annotations

import torch
import torch.utils.deterministic as deterministic


def skip_uninitialized_fill() -> bool | None:
    """The fill off if deterministic algorithms are on; its previous setting (None: untouched)."""
    if not torch.are_deterministic_algorithms_enabled():
        return None
    before = deterministic.fill_uninitialized_memory
    deterministic.fill_uninitialized_memory = False
    return before


def restore_uninitialized_fill(before: bool | None) -> None:
    if before is not None:
        deterministic.fill_uninitialized_memory = before
