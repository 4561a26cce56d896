"""Checkpoint files written in place: a temporary name beside the checkpoint, then a rename.

Lightning's `TorchCheckpointIO` pickles a checkpoint into memory, then writes the bytes
through an fsspec transaction: to a temporary file in the system's temporary folder, moved
to the checkpoint's name when complete. Where that folder is another filesystem (a tmpfs
/tmp, a container's volume), the move is a copy, and a run killed during it leaves a partial
last.ckpt that `resume=` cannot read. The detour also costs a small LSTM up to 3 % of its
training when the disk is slow (two checkpoints every epoch), under 1 % when it is not
(docs/benchmarks.md).

LocalCheckpointIO writes the same bytes (torch.save into an open file, as into Lightning's
buffer) to a hidden temporary name in the checkpoint's own folder and renames it over the
checkpoint, which is atomic on one filesystem: a reader sees the old file or the new one,
never part of one. A write that fails removes its temporary file. Paths with a protocol
(`s3://`, `gs://`, `file://`...) keep Lightning's fsspec route, as does loading and removing.

build_trainer (training/run.py) puts it in place of Lightning's own `TorchCheckpointIO`,
exactly that class; a CheckpointIO of a run's own (`trainer.plugins`, e.g. Lightning's
`AsyncCheckpointIO`) and those of strategies with their own (XLA, DeepSpeed) stay.
"""

from __future__ import annotations

import os
from typing import Any

import lightning as L
import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from lstm_lab.files import written_whole


class LocalCheckpointIO(TorchCheckpointIO):
    """Lightning's `TorchCheckpointIO`, writing local checkpoints under a temporary name in
    their own folder and renaming them (see the module's docstring)."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        path = os.fspath(path)
        if storage_options is not None or "://" in path:
            return super().save_checkpoint(checkpoint, path, storage_options)
        with written_whole(path) as temporary, open(temporary, "wb") as file:
            torch.save(checkpoint, file)


def use_local_checkpoint_io(trainer: L.Trainer) -> None:
    """LocalCheckpointIO in place of the strategy's CheckpointIO when that is Lightning's own
    `TorchCheckpointIO` (not a subclass), through the strategy's public setter."""
    if type(trainer.strategy.checkpoint_io) is TorchCheckpointIO:
        trainer.strategy.checkpoint_io = LocalCheckpointIO()
