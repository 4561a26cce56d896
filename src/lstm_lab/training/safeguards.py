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
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from multiprocessing import active_children, parent_process
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.utilities.exceptions import SIGTERMException
from torch.multiprocessing import ProcessExitedException

from lstm_lab.models.nonfinite import check_finite_loss
from lstm_lab.records.compat import RUN_CONFIG, compat_config
from lstm_lab.training.finishing import finishing_handler
from lstm_lab.training.sweep_signals import STOP_SIGNALS, stop_mark


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
    """SIGTERM or Ctrl-C, in any process of the run: every process stops after the same batch,
    the training state is saved to `path` (all of them take part in the save), and `fit` raises
    SIGTERMException with exit code 128 + the signal.

    Lightning's own SIGTERM handler broadcasts from inside the handler, a collective the other
    processes are not in at that moment: under DDP it hangs. From `on_train_start` on, this
    callback's handler only notes the signal; at the start of each training batch the processes
    combine what they noted (one small all-reduce), so they all stop at the same one.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.saved: Path | None = None
        self.got = 0  # the signal noted in this process (0: none)
        # read back from the checkpoint in the main process of ddp_spawn/ddp_fork, whose own
        # trainer did not train: (epoch, step) and metrics.json's progress fields
        self.stopped_at: tuple[int, int] | None = None
        self.recovered: dict[str, Any] = {}
        self._previous: dict[int, Any] = {}
        self._mark: Path | None = None

    def _note(self, signum: int, frame) -> None:
        if signum == signal.SIGINT and self.got == signal.SIGINT and parent_process() is None:
            raise KeyboardInterrupt  # a second Ctrl-C where the user pressed it: abort
        if not self.got:
            self.got = signum
            if signum == signal.SIGINT and parent_process() is None:
                print(STOPPING, file=sys.stderr)

    def on_train_start(self, trainer: L.Trainer, pl_module) -> None:
        self.got = signal.SIGTERM if trainer.received_sigterm else 0
        self._mark = stop_mark()  # in a parallel sweep: where its stop is announced
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                self._previous[signum] = signal.signal(signum, self._note)

    def on_train_batch_start(self, trainer: L.Trainer, pl_module, batch, batch_idx: int) -> None:
        if self._mark is not None and not self.got and self._mark.exists():
            self.got = int(self._mark.read_text() or signal.SIGTERM)
        got = self.got
        if trainer.world_size > 1:
            noted = torch.tensor(got, device=trainer.strategy.root_device)
            got = int(trainer.strategy.reduce(noted, reduce_op="max"))
        if got:
            self._restore()
            trainer.save_checkpoint(self.path, weights_only=False)  # the full training state
            self.saved = self.path
            raise SIGTERMException(128 + got)

    def on_train_end(self, trainer: L.Trainer, pl_module) -> None:
        self._restore()

    def on_test_start(self, trainer: L.Trainer, pl_module) -> None:
        """After training, a signal lets the test and report finish (finish_before_stopping);
        Lightning's own SIGTERM handler, set again for the test, would end a test of several
        batches early, and under DDP hang it (the broadcast above, and a SIGTERM it sends the
        other processes, whose handlers broadcast again)."""
        if threading.current_thread() is not threading.main_thread():
            return
        finishing = finishing_handler()
        if finishing is not None:  # Lightning sets SIGTERM's handler only
            signal.signal(signal.SIGTERM, finishing)  # its teardown restores ours
        elif trainer.world_size > 1:  # a process ddp_spawn started: its main process decides
            for signum in STOP_SIGNALS:
                signal.signal(signum, signal.SIG_IGN)

    def on_exception(self, trainer: L.Trainer, pl_module, exception: BaseException) -> None:
        self._restore()
        if isinstance(exception, ProcessExitedException) and stop_signal(exception.exit_code):
            # the main process of ddp_spawn/ddp_fork: its processes saved and stopped
            self.saved, self.recovered = self.path, saved_progress(self.path)
            self.stopped_at = (self.recovered["epochs"], self.recovered["global_step"])
        elif self._lightnings_stop(trainer, exception):
            trainer.save_checkpoint(self.path, weights_only=False)
            self.saved = self.path

    def _lightnings_stop(self, trainer: L.Trainer, exception: BaseException) -> bool:
        """Lightning's own SIGTERM stop, in one process, before this callback's handler was on."""
        stopped = isinstance(exception, SIGTERMException) and trainer.training
        return stopped and not self.saved and trainer.world_size == 1

    def _restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}


STOPPING = "\nInterrupted: saving a checkpoint after this batch (Ctrl-C again to abort)"


def saved_progress(path: Path) -> dict[str, Any]:
    """metrics.json's progress fields of a stopped run, from the checkpoint it saved."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    best = [
        s["best_model_path"]
        for name, s in state.get("callbacks", {}).items()
        if name.startswith("ModelCheckpoint") and s.get("monitor") and s.get("best_model_path")
    ]
    return {
        "epochs": state["epoch"],
        "global_step": state["global_step"],
        "best_val_loss": state.get("best_val_loss", float("inf")),
        "best_checkpoint": best[0] if best else None,
    }


def stop_signal(exit_code: int | None) -> int | None:
    """The signal a process stopped on through CheckpointOnInterrupt, from its exit code."""
    if isinstance(exit_code, int) and exit_code - 128 in STOP_SIGNALS:
        return exit_code - 128
    return None


def forward_to_children(signum: int) -> bool:
    """Send the signal on to the processes ddp_spawn/ddp_fork started; whether there were any."""
    children = active_children()
    for child in children:
        if child.pid is not None:
            with suppress(ProcessLookupError):
                os.kill(child.pid, signum)
    return bool(children)


@contextmanager
def ctrl_c_stops_after_batch() -> Iterator[dict[str, int]]:
    """The first Ctrl-C is turned into a stop after the current batch, with a checkpoint; a
    second one aborts at once. A SIGTERM or Ctrl-C that reaches this process while child
    processes train (ddp_spawn, ddp_fork) is passed on to them, and their stop comes back as
    SIGTERMException. Yields a dict whose "signal" is set on a stop."""
    got: dict[str, int] = {}

    def on_sigint(signum, frame) -> None:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        got["signal"] = signal.SIGINT
        print(STOPPING, file=sys.stderr)
        if not forward_to_children(signal.SIGINT):
            os.kill(os.getpid(), signal.SIGTERM)

    def on_sigterm(signum, frame) -> None:
        forward_to_children(signal.SIGTERM)

    previous = signal.signal(signal.SIGINT, on_sigint)
    previous_term = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield got
    except (SIGTERMException, ProcessExitedException) as error:
        code = error.code if isinstance(error, SIGTERMException) else error.exit_code
        if stop_signal(code) == signal.SIGINT:
            got["signal"] = signal.SIGINT
        if isinstance(error, ProcessExitedException) and stop_signal(code):
            raise SIGTERMException(code) from None
        raise
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.signal(signal.SIGTERM, previous_term)
