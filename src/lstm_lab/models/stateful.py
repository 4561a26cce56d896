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
from lstm_lab.models.module import RegressionModule

Chunk = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


class StatefulRegressionModule(RegressionModule):
    """RegressionModule for chunked streams: predicts every step, carries (h, c) between chunks.

    Each stage (train, val, test) keeps its own state, so none leaks into another. A state
    is reset to zero at the start of each of its stage's epochs (val and test then warm it
    up on the steps before their split) and whenever the number of streams changes.

    Checkpoints carry the training streams' state (of every DDP process) and where in the
    epoch it was taken, so a run resumed in the middle of an epoch continues each stream from
    the very state it had (the data loader skips the chunks already done; see ExactResume).
    """

    STAGES = ("train", "val", "test")

    def __init__(self, *args, **kwargs) -> None:
        if kwargs.pop("carry_state", False):  # the config refuses it first, naming the key
            raise ValueError("carry_state is the window-mode habit; stateful mode carries state")
        super().__init__(*args, **kwargs)
        self.states: dict[str, State | None] = dict.fromkeys(self.STAGES)
        self._resumed: dict | None = None  # the train state a checkpoint brought back

    def step(self, stage: str, x: torch.Tensor) -> torch.Tensor:
        """Predictions (streams, time, horizon) for a chunk, from and to `stage`'s state."""
        state = self.states[stage]
        if state is not None and state[0].shape[1] != x.shape[0]:
            state = None  # another number of streams: not a continuation
        _, out, carried = self.net.forward_with_state(x, state)
        # Detached: the next chunk's graph starts here (the truncation in TBPTT).
        self.states[stage] = tuple(s.detach() for s in carried)
        return self.net.head(out)

    def reset_state(self, stage: str) -> None:
        self.states[stage] = None

    def on_train_epoch_start(self) -> None:
        super().on_train_epoch_start()
        self.reset_state("train")

    def on_train_start(self) -> None:
        # A fit resumed in the middle of an epoch continues it without on_train_epoch_start:
        # the streams go on from the state they had when the checkpoint was written.
        resumed, self._resumed = self._resumed, None
        trainer = self.trainer
        if (
            resumed is not None
            and resumed["epoch"] == trainer.current_epoch
            and 0 < resumed["batches_done"] < trainer.num_training_batches
            and len(resumed["states"]) == trainer.world_size
        ):
            state = resumed["states"][trainer.global_rank]
            if state is not None:
                self.states["train"] = tuple(t.to(self.device) for t in state)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        super().on_save_checkpoint(checkpoint)
        trainer = self.trainer
        checkpoint["stream_states"] = {
            "epoch": trainer.current_epoch,
            "batches_done": trainer.fit_loop.epoch_loop.batch_progress.current.completed,
            "states": self._gathered_train_states(),
        }

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        super().on_load_checkpoint(checkpoint)
        self._resumed = checkpoint.get("stream_states")

    def _gathered_train_states(self) -> list[State | None]:
        """The training state of each process (rank order), on the CPU. Under DDP every
        process saves a checkpoint, so every one gathers; streams are dealt `rank::world`,
        so a process holds up to ceil(streams / world) of them: pad to that, gather, trim."""
        state = self.states["train"]
        world = self.trainer.world_size
        if state is None:  # before the epoch's first batch, on every process alike
            return [None] * world
        if world == 1:
            return [tuple(t.cpu() for t in state)]
        streams = self.trainer.datamodule.streams
        own = [len(range(r, streams, world)) for r in range(world)]
        # each tensor of the state (h, and c for an LSTM) is (layers, streams here, hidden)
        padded = torch.stack([F.pad(t, (0, 0, 0, max(own) - t.shape[1])) for t in state])
        gathered = self.all_gather(padded)
        return [tuple(t[:, :n].cpu() for t in gathered[r]) for r, n in enumerate(own)]

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
        if scored.any():  # the scored steps (steps, horizon), as windows are scored
            self.score(pred[scored], y[scored])
