"""LightningDataModule serving windows as batches sliced from in-memory tensors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import lightning as L
import numpy as np
import torch

from lstm_lab.data.transforms import transform_scale
from lstm_lab.data.windows import ChronologicalSplit


class TensorBatches:
    """Batches sliced from whole tensors: no per-item collation, no worker processes.

    Shuffling draws a fresh permutation each epoch from a generator seeded with
    (seed, epoch), so the order depends only on the seed and the epoch number, and
    `state_dict` lets a resumed run pick the data order up where it stopped; `start` skips the
    first batches of the next epoch, for a run resumed in the middle of one.

    Under DDP (`world_size` processes) every process draws the same order, cuts it into global
    batches of `batch_size * world_size` windows and takes positions `rank::world_size` of each:
    the processes see disjoint shards of the same global batches, and the same number of them
    (a last global batch with fewer windows than processes is left out, so none is empty).
    """

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        batch_size: int,
        shuffle: bool,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ):
        self.x, self.y = x, y
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.rank, self.world_size = rank, world_size
        self.epoch = 0
        self.start = 0

    @property
    def global_batch(self) -> int:
        return self.batch_size * self.world_size

    def __len__(self) -> int:
        full, rest = divmod(len(self.x), self.global_batch)
        return full + (rest >= self.world_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for group in self.groups(1):
            yield from group

    def groups(self, count: int) -> Iterator[list[tuple[torch.Tensor, torch.Tensor]]]:
        """This epoch's batches, `count` at a time (the epoch's last group may be shorter).

        The windows of a group are gathered at once and each batch is a slice of them: the
        same values as a gather per batch, with two indexing kernels per group instead of three
        per batch. A process's shard of consecutive global batches is one strided run of
        positions (batch b holds positions b * global_batch + rank + k * world_size)."""
        n, size = len(self.x), self.global_batch
        if self.shuffle:
            gen = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
            order = torch.randperm(n, generator=gen).to(self.x.device)
        self.epoch += 1
        first, self.start = self.start, 0
        total, per = len(self), self.batch_size
        for g in range(first, total, count):
            span = slice(g * size + self.rank, min(g + count, total) * size, self.world_size)
            if self.shuffle:
                idx = order[span]
                xs, ys = self.x[idx], self.y[idx]
            else:
                xs, ys = self.x[span], self.y[span]
            if count == 1:
                yield [(xs, ys)]
            else:
                yield [(xs[i : i + per], ys[i : i + per]) for i in range(0, len(xs), per)]

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "start": self.start}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch = state["epoch"]
        self.start = state.get("start", 0)


class BatchGroups:
    """`TensorBatches` handed over `size` batches at a time, as one list: one Lightning batch
    for `size` optimizer steps (RegressionModule's `steps_per_call`). The last group of an epoch
    may be shorter. Positions (`len`, `start` of `load_state_dict`) count groups, as
    Lightning's batch progress does; `steps` is the number of minibatches per epoch."""

    def __init__(self, batches: TensorBatches, size: int) -> None:
        self.batches, self.size = batches, size

    @property
    def steps(self) -> int:
        return len(self.batches)

    @property
    def epoch(self) -> int:
        return self.batches.epoch

    @epoch.setter
    def epoch(self, value: int) -> None:
        self.batches.epoch = value

    def __len__(self) -> int:
        return -(-len(self.batches) // self.size)

    def __iter__(self) -> Iterator[list[tuple[torch.Tensor, torch.Tensor]]]:
        return self.batches.groups(self.size)

    def state_dict(self) -> dict[str, int]:
        state = self.batches.state_dict()
        return {"epoch": state["epoch"], "start": state["start"] // self.size}

    def load_state_dict(self, state: dict[str, int]) -> None:
        start = state.get("start", 0) * self.size
        self.batches.load_state_dict({"epoch": state["epoch"], "start": start})


def _on_device(batch: Any, device: torch.device) -> bool:
    if isinstance(batch, torch.Tensor):
        return batch.device == device
    return isinstance(batch, (list, tuple)) and all(_on_device(b, device) for b in batch)


def process_shard(trainer: L.Trainer | None) -> tuple[int, int]:
    """(rank, number of processes) of this training process: (0, 1) without DDP."""
    return (trainer.global_rank, trainer.world_size) if trainer else (0, 1)


class InMemoryDataModule(L.LightningDataModule):
    """Whole tensors per split (`self.tensors`), kept on the training device; the loaders
    (built by `_loader`, one per split) slice them there and are rebuilt per DDP shard."""

    series: np.ndarray
    tensors: dict[str, tuple[torch.Tensor, ...]]

    def __init__(self) -> None:
        super().__init__()
        self._loaders: dict[str, Any] = {}
        self._shard = (0, 1)  # (rank, world size) of this process

    @property
    def n_features(self) -> int:
        return self.series.shape[1]

    def setup(self, stage: str) -> None:
        # Keep the data on the training device, so batches are sliced there (no copies per step).
        device = self.trainer.strategy.root_device if self.trainer else torch.device("cpu")
        if self.tensors["train"][0].device != device:
            self.tensors = {k: tuple(t.to(device) for t in v) for k, v in self.tensors.items()}
            self._loaders.clear()
        shard = process_shard(self.trainer)
        if shard != self._shard:
            self._shard = shard
            self._loaders.clear()
            self.check_shard(*shard)

    def transfer_batch_to_device(self, batch, device: torch.device, dataloader_idx: int):
        # Batches are sliced on the training device already: nothing to move.
        if _on_device(batch, device):
            return batch
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    def check_shard(self, rank: int, world_size: int) -> None:
        """Refuse a DDP layout the data cannot be split into (SettingError)."""

    def _loader(self, name: str) -> Any:
        raise NotImplementedError

    def train_dataloader(self) -> Any:
        return self._loader("train")

    def val_dataloader(self) -> Any:
        return self._loader("val")

    def test_dataloader(self) -> Any:
        return self._loader("test")


class WindowDataModule(InMemoryDataModule):
    """Chronological train/val/test windows of one series, scaled with train statistics."""

    def __init__(
        self,
        series: np.ndarray,
        window: int = 10,
        horizon: int = 1,
        split: dict[str, float] | None = None,
        batch_size: int | None = 16,
        eval_batch_size: int = 1024,
        shuffle: bool = True,
        seed: int = 0,
        steps_per_call: int = 1,
        transform: str = "none",
    ) -> None:
        """`steps_per_call` > 1 groups that many training batches into one (BatchGroups).
        `transform` (data/transforms.py) is applied by the network; the data module measures
        its scale on the training windows (`transform_scale`)."""
        super().__init__()
        split = dict(split or {"train": 0.7, "val": 0.15})
        self.steps_per_call = steps_per_call
        # the run's split and scaler, which its forecasts and plots take from here
        self.split = ChronologicalSplit.of(series, split["train"], split["val"])
        self.series, self.scaler = self.split.series, self.split.scaler
        self.window, self.horizon = window, horizon
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.shuffle, self.seed = shuffle, seed
        arrays = self.split.windows(window, horizon)
        self.transform = transform
        self.transform_scale = transform_scale(*arrays["train"], transform)
        self.tensors = {
            k: (torch.from_numpy(x), torch.from_numpy(y)) for k, (x, y) in arrays.items()
        }

    def _loader(self, name: str) -> TensorBatches | BatchGroups:
        """Training batches are sharded across DDP processes (batch_size is per process); val
        and test are evaluated whole by every process, so their reduced metrics are exact."""
        if name not in self._loaders:
            x, y = self.tensors[name]
            if name == "train":
                rank, world = self._shard
                size = self.batch_size or -(-len(x) // world)
                batches = TensorBatches(
                    x, y, size, self.shuffle, seed=self.seed, rank=rank, world_size=world
                )
                self._loaders[name] = (
                    BatchGroups(batches, self.steps_per_call)
                    if self.steps_per_call > 1
                    else batches
                )
            else:
                self._loaders[name] = TensorBatches(x, y, self.eval_batch_size, shuffle=False)
        return self._loaders[name]

    def state_dict(self) -> dict[str, Any]:
        return {"train_epoch": self._loader("train").epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._loader("train").epoch = state["train_epoch"]
