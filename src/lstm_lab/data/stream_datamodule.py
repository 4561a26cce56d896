"""LightningDataModule serving contiguous streams in chunks, for stateful (TBPTT) training."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from lstm_lab.data.datamodule import InMemoryDataModule
from lstm_lab.data.streams import Streams, chunk_bounds, make_streams
from lstm_lab.data.windows import ChronologicalSplit
from lstm_lab.setting_error import SettingError

Chunk = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


class StreamChunks:
    """Chunk k of every stream, in order, sliced from whole tensors (no collation, no workers).

    Yields (x, y, scored): (streams, chunk, features), (streams, chunk, horizon) and the
    (streams, chunk) mask of steps that count. Consecutive chunks continue the same streams,
    so a model may carry its state from one to the next. Never shuffled.

    `state_dict` / `load_state_dict` as TensorBatches: `start` skips the first chunks of the
    next epoch, for a run resumed in the middle of one (the model restores the streams' state).
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, scored: torch.Tensor, chunk: int):
        self.x, self.y, self.scored = x, y, scored
        self.bounds = chunk_bounds(x.shape[1], chunk)
        self.epoch = 0
        self.start = 0

    def __len__(self) -> int:
        return len(self.bounds)

    def __iter__(self) -> Iterator[Chunk]:
        self.epoch += 1
        first, self.start = self.start, 0
        for a, b in self.bounds[first:]:
            yield self.x[:, a:b], self.y[:, a:b], self.scored[:, a:b]

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "start": self.start}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch = state["epoch"]
        self.start = state.get("start", 0)


class StreamDataModule(InMemoryDataModule):
    """The series as `streams` contiguous training streams walked `bptt` steps per batch;
    val and test as one warmed-up stream each, walked `eval_batch_size` steps per batch.

    Scaled with train statistics, like WindowDataModule.
    """

    def __init__(
        self,
        series: np.ndarray,
        horizon: int = 1,
        split: dict[str, float] | None = None,
        bptt: int = 20,
        streams: int = 4,
        eval_batch_size: int = 1024,
    ) -> None:
        super().__init__()
        split = dict(split or {"train": 0.7, "val": 0.15})
        self.split = ChronologicalSplit.of(series, split["train"], split["val"])
        self.series, self.scaler = self.split.series, self.split.scaler
        self.horizon, self.bptt, self.streams = horizon, bptt, streams
        self.eval_batch_size = eval_batch_size
        arrays = make_streams(self.split.scaled, horizon, split["train"], split["val"], streams)
        self.tensors = {name: _to_tensors(s) for name, s in arrays.items()}

    def check_shard(self, rank: int, world_size: int) -> None:
        if self.streams < world_size:
            raise SettingError(
                "model.streams",
                f"got {self.streams}; DDP over {world_size} processes needs at least one "
                "training stream per process",
            )

    def _loader(self, name: str) -> StreamChunks:
        """Under DDP each process trains on streams `rank::world_size` (carrying their states);
        val and test are one stream, evaluated whole by every process."""
        if name not in self._loaders:
            tensors = self.tensors[name]
            if name == "train":
                rank, world = self._shard
                tensors = tuple(t[rank::world] for t in tensors)
            chunk = self.bptt if name == "train" else self.eval_batch_size
            self._loaders[name] = StreamChunks(*tensors, chunk=chunk)
        return self._loaders[name]


def _to_tensors(streams: Streams) -> Chunk:
    return (
        torch.from_numpy(np.ascontiguousarray(streams.x)),
        torch.from_numpy(np.ascontiguousarray(streams.y)),
        torch.from_numpy(streams.scored),
    )
