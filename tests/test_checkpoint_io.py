"""Checkpoint files (training/checkpoint_io.py): the same bytes as Lightning's TorchCheckpointIO,
the old file whole until the new one is, nothing left by a failed write, Lightning's route for
paths with a protocol, and a run's own CheckpointIO kept."""

from __future__ import annotations

import fsspec
import pytest
import torch
from lightning.pytorch.plugins.io import AsyncCheckpointIO, TorchCheckpointIO

from helpers import fit_objects
from lstm_lab.training.checkpoint_io import LocalCheckpointIO

TINY = [
    "data.series.n_points=300",
    "data.series.t_end=30",
    "~callbacks.progress_bar",
    "trainer.max_epochs=2",
]


def checkpoint(**extra) -> dict:
    torch.manual_seed(0)
    return {"state_dict": {"w": torch.randn(4, 3), "b": torch.zeros(3)}, "epoch": 1, **extra}


class ReadsTheOldFile:
    """Pickled while the new checkpoint is being written: loads what the checkpoint's name holds
    at that moment."""

    def __init__(self, path) -> None:
        self.path = path
        self.seen: dict | None = None

    def __reduce__(self):
        self.seen = torch.load(self.path, weights_only=True)
        return (dict, ())


class Unpicklable:
    def __reduce__(self):
        raise RuntimeError("cannot pickle this")


def test_the_same_bytes_as_lightnings_writer(tmp_path):
    LocalCheckpointIO().save_checkpoint(checkpoint(), tmp_path / "ours" / "last.ckpt")
    TorchCheckpointIO().save_checkpoint(checkpoint(), tmp_path / "lightnings" / "last.ckpt")
    ours = (tmp_path / "ours" / "last.ckpt").read_bytes()
    assert ours == (tmp_path / "lightnings" / "last.ckpt").read_bytes()
    assert sorted(p.name for p in (tmp_path / "ours").iterdir()) == ["last.ckpt"]


def test_the_old_checkpoint_stays_whole_while_the_new_one_is_written(tmp_path):
    path = tmp_path / "last.ckpt"
    io = LocalCheckpointIO()
    io.save_checkpoint(checkpoint(epoch=1), path)
    reader = ReadsTheOldFile(path)
    io.save_checkpoint(checkpoint(epoch=2, probe=reader), path)
    assert reader.seen is not None and reader.seen["epoch"] == 1
    assert torch.load(path, weights_only=False)["epoch"] == 2  # the probe pickles as a dict
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]


def test_a_failed_write_keeps_the_old_checkpoint_and_leaves_nothing(tmp_path):
    path = tmp_path / "last.ckpt"
    io = LocalCheckpointIO()
    io.save_checkpoint(checkpoint(epoch=1), path)
    with pytest.raises(RuntimeError, match="cannot pickle this"):
        io.save_checkpoint(checkpoint(epoch=2, bad=Unpicklable()), path)
    assert io.load_checkpoint(path)["epoch"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]


def test_paths_with_a_protocol_take_lightnings_route():
    path = "memory://lstm-lab-checkpoint-io/checkpoints/last.ckpt"
    io = LocalCheckpointIO()
    io.save_checkpoint(checkpoint(epoch=3), path)
    assert fsspec.filesystem("memory").exists(path)
    assert io.load_checkpoint(path)["epoch"] == 3
    io.remove_checkpoint(path)
    with pytest.raises(TypeError, match="storage_options"):  # as TorchCheckpointIO refuses it
        io.save_checkpoint(checkpoint(), "unused.ckpt", storage_options={"any": 1})


@pytest.mark.parametrize(
    "overrides,plugin",
    [
        ([], LocalCheckpointIO),
        (["+trainer.strategy=ddp_spawn"], LocalCheckpointIO),
        (
            ["+trainer.plugins=[{_target_: lightning.pytorch.plugins.io.AsyncCheckpointIO}]"],
            AsyncCheckpointIO,
        ),
    ],
)
def test_a_run_writes_through_it_unless_it_brings_its_own(
    compose_train, tmp_path, overrides, plugin
):
    cfg = compose_train(*TINY, f"paths.run_dir={tmp_path}", *overrides)
    datamodule, module, trainer = fit_objects(cfg)
    assert type(trainer.strategy.checkpoint_io) is plugin
    if overrides:
        return
    trainer.fit(module, datamodule=datamodule)
    folder = tmp_path / "checkpoints"
    assert sorted(p.name for p in folder.iterdir()) == ["best.ckpt", "last.ckpt"]
    assert trainer.strategy.checkpoint_io.load_checkpoint(folder / "last.ckpt")["epoch"] == 1
