"""Stateful training with truncated backpropagation through time (TBPTT).

Lightning 2.x dropped `truncated_bptt_steps`, so the module does it itself: the data arrives
as consecutive chunks of the same streams (see data/streams.py), the final (h, c) of one
chunk is the initial state of the next, and it is detached in between, so gradients run
back through one chunk only while the state carries the context of all earlier ones.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lstm_lab.models.lstm import State
from lstm_lab.models.module import LSTMModule

Chunk = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


class StatefulLSTMModule(LSTMModule):
    """LSTMModule for chunked streams: predicts every step, carries (h, c) between chunks.

    Each stage (train, val, test) keeps its own state, so none leaks into another. A state
    is reset to zero at the start of each of its stage's epochs (val and test then warm it
    up on the steps before their split) and whenever the number of streams changes.
    """

    STAGES = ("train", "val", "test")

    def __init__(self, *args, **kwargs) -> None:
        if kwargs.pop("carry_state", False):  # the config refuses it first, naming the key
            raise ValueError("carry_state is the window-mode habit; stateful mode carries state")
        super().__init__(*args, **kwargs)
        self.states: dict[str, State | None] = dict.fromkeys(self.STAGES)

    def step(self, stage: str, x: torch.Tensor) -> torch.Tensor:
        """Predictions (streams, time, horizon) for a chunk, from and to `stage`'s state."""
        state = self.states[stage]
        if state is not None and state[0].shape[1] != x.shape[0]:
            state = None  # another number of streams: not a continuation
        _, out, (h, c) = self.net.forward_with_state(x, state)
        # Detached: the next chunk's graph starts here (the truncation in TBPTT).
        self.states[stage] = (h.detach(), c.detach())
        return self.net.head(out)

    def reset_state(self, stage: str) -> None:
        self.states[stage] = None

    def on_train_epoch_start(self) -> None:
        super().on_train_epoch_start()
        self.reset_state("train")

    def on_validation_epoch_start(self) -> None:
        self.reset_state("val")

    def on_test_epoch_start(self) -> None:
        self.reset_state("test")

    def training_step(self, batch: Chunk, batch_idx: int) -> torch.Tensor:
        x, y, _ = batch
        loss = F.mse_loss(self.step("train", x), y)
        self.add_train_loss(loss, y.numel())
        return loss

    def validation_step(self, batch: Chunk, batch_idx: int) -> None:
        x, y, scored = batch
        pred = self.step("val", x)
        n = int(scored.sum())
        if n:  # warm-up chunks only move the state
            self.log_val_loss(F.mse_loss(pred[scored], y[scored]), n)

    def test_step(self, batch: Chunk, batch_idx: int) -> None:
        x, y, scored = batch
        pred = self.step("test", x)
        if scored.any():
            self.test_metrics.update(
                self.to_original_units(pred[scored]), self.to_original_units(y[scored])
            )
            self.log_dict(self.test_metrics, batch_size=int(scored.sum()))
