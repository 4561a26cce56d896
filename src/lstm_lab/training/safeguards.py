"""Callbacks that keep a run's work safe: they are always on, whatever `callbacks=` says.

- `StopOnNonFiniteLoss`: a NaN or infinite loss stops training before it reaches the weights.
- `ExactResume`: saves what Lightning's checkpoints lack for an exact resume, the torch, numpy
  and Python RNG states and how far into the epoch's data order training got, and restores them.
- `RecordRunConfig`: writes into every checkpoint the settings its weights depend on, so a run
  that loads it later is checked against them first (records/compat.py).
- `CheckpointOnInterrupt`: SIGTERM (and Ctrl-C, see `ctrl_c_stops_after_batch`) stop training
  after the current batch, and the state is saved to `last.ckpt` before the process exits.
"""

from __future__ import annotations

import os
import random
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.utilities.exceptions import SIGTERMException

from lstm_lab.models.nonfinite import check_finite_loss
from lstm_lab.records.compat import RUN_CONFIG, compat_config


class StopOnNonFiniteLoss(L.Callback):
    """Raise NonFiniteLoss before the backward pass of a non-finite loss (no bad update is made).

    The hook runs for every backward pass Lightning makes, and for `manual_backward`: so also
    for every step of RegressionModule's groups (steps_per_call > 1).
    """

    def on_before_backward(self, trainer: L.Trainer, pl_module, loss: torch.Tensor) -> None:
        check_finite_loss(trainer, loss)


def rng_states() -> dict[str, Any]:
    """torch, numpy and Python RNG states as tensors and plain data (safe for weights_only).

    The Mersenne Twister states (624 words each) go in as tensors, not lists of ints: pickling
    a list costs a call per int, about a millisecond of every checkpoint.
    """
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    states: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss],
        "python": [version, torch.from_numpy(np.asarray(internal, dtype=np.int64)), gauss_next],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def _ints(words: torch.Tensor | list[int]) -> list[int]:
    """A state's words, from a tensor or (checkpoints written before) a list."""
    return words.tolist() if isinstance(words, torch.Tensor) else list(words)


def set_rng_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    kind, keys, pos, has_gauss, gauss = states["numpy"]
    np.random.set_state((kind, np.asarray(_ints(keys), dtype=np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = states["python"]
    random.setstate((version, tuple(_ints(internal)), gauss_next))
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


class ExactResume(L.Callback):
    """RNG states and the data position, saved with every checkpoint and restored on resume."""

    def __init__(self) -> None:
        self.trainer: L.Trainer | None = None  # the state is read from it at save time
        self._to_restore: dict[str, Any] | None = None

    def setup(self, trainer: L.Trainer, pl_module, stage: str) -> None:
        self.trainer = trainer

    def state_dict(self) -> dict[str, Any]:
        trainer = self.trainer
        if trainer is None:
            return {}
        return {
            "rng": rng_states(),
            "epoch": trainer.current_epoch,
            "batches_done": trainer.fit_loop.epoch_loop.batch_progress.current.completed,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._to_restore = state or None

    def on_train_start(self, trainer: L.Trainer, pl_module) -> None:
        # Lightning has restored the loops and the loader by now; put the data order and the
        # random streams back exactly where they stood when the checkpoint was written.
        state, self._to_restore = self._to_restore, None
        if state is None:
            return
        loader = trainer.train_dataloader
        epoch, done = state["epoch"], state["batches_done"]
        if done >= len(loader):  # saved at the end of an epoch: the next one starts afresh
            epoch, done = epoch + 1, 0
        loader.load_state_dict({"epoch": epoch, "start": done})
        set_rng_states(state["rng"])


class RecordRunConfig(L.Callback):
    """The settings a checkpoint depends on (network, window, horizon, features, transform,
    mode), saved in it as plain data for records/compat.py's check."""

    def __init__(self, plain: dict) -> None:
        self.plain = plain

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module, checkpoint: dict) -> None:
        n_features = getattr(trainer.datamodule, "n_features", None)
        checkpoint[RUN_CONFIG] = compat_config(self.plain, n_features)


class CheckpointOnInterrupt(L.Callback):
    """On SIGTERM (Lightning stops after the current batch), save the training state."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.saved: Path | None = None

    def on_exception(self, trainer: L.Trainer, pl_module, exception: BaseException) -> None:
        if isinstance(exception, SIGTERMException) and trainer.training:
            trainer.save_checkpoint(self.path, weights_only=False)  # the full training state
            self.saved = self.path


@contextmanager
def ctrl_c_stops_after_batch() -> Iterator[dict[str, int]]:
    """The first Ctrl-C is turned into Lightning's SIGTERM stop (after the current batch, with a
    checkpoint); a second one aborts at once. Yields a dict whose "signal" is set on a stop."""
    got: dict[str, int] = {}

    def on_sigint(signum, frame) -> None:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        got["signal"] = signal.SIGINT
        print(
            "\nInterrupted: saving a checkpoint after this batch (Ctrl-C again to abort)",
            file=sys.stderr,
        )
        os.kill(os.getpid(), signal.SIGTERM)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield got
    finally:
        signal.signal(signal.SIGINT, previous)
