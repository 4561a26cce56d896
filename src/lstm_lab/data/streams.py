"""Contiguous streams for stateful training (truncated BPTT): numpy in, numpy out.

Window mode cuts the series into independent windows. Stream mode instead reads the series
one step at a time, each input `series[t]` paired with the next `horizon` target values, and
keeps those pairs in time order so an LSTM can carry its state from one chunk to the next:

- training: the train split's pairs are cut into `streams` contiguous streams of equal length
  (stacked as the batch dimension), and batch k is chunk k of every stream;
- val / test: one stream from the start of the series to the end of the split, so the state
  that reaches the split has been warmed up on everything before it; only the steps whose
  targets lie in the split are scored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lstm_lab.data.windows import as_columns, split_bounds


def step_pairs(series: np.ndarray, horizon: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Inputs (N, F) = series[t] and targets (N, horizon) = column 0 of series[t+1 : t+1+horizon],
    for every t whose targets fit in the series (N = T - horizon)."""
    series = as_columns(series)
    n = len(series) - horizon
    if n < 1:
        raise ValueError(f"a series of {len(series)} steps holds no target {horizon} step(s) ahead")
    x = series[:n]
    y = series[np.arange(n)[:, None] + 1 + np.arange(horizon), 0]
    return x, y


def cut_streams(x: np.ndarray, y: np.ndarray, streams: int) -> tuple[np.ndarray, np.ndarray]:
    """Stack N time-ordered pairs as `streams` contiguous streams: (streams, N // streams, ...).

    Stream b holds pairs [b*L, (b+1)*L) after dropping the N % streams oldest pairs, so the
    last stream ends where the data ends.
    """
    length = len(x) // streams
    if length < 1:
        raise ValueError(f"{len(x)} steps cannot be cut into {streams} streams")
    drop = len(x) - streams * length
    return (
        x[drop:].reshape(streams, length, *x.shape[1:]),
        y[drop:].reshape(streams, length, *y.shape[1:]),
    )


@dataclass(frozen=True)
class Streams:
    """Arrays (streams, time, ...) walked in chunks along time; `scored` marks the steps
    whose predictions count (False: warm-up)."""

    x: np.ndarray  # (S, T, features)
    y: np.ndarray  # (S, T, horizon)
    scored: np.ndarray  # (S, T) bool


def make_streams(
    scaled: np.ndarray, horizon: int, train: float, val: float, streams: int
) -> dict[str, Streams]:
    """Training streams and the warmed-up val and test streams of a scaled (T, F) series.

    A pair belongs to the split that holds all its targets, as in window mode. Val and test
    are one stream each that starts at t = 0, so the state reaching the split has seen every
    earlier step; only their own pairs are scored.
    """
    scaled = as_columns(scaled)
    bounds = split_bounds(len(scaled), train, val)
    x, y = step_pairs(scaled, horizon)
    t = np.arange(len(x))
    first, last = t + 1, t + horizon  # the time steps of each pair's targets
    out = {}
    for name, (start, end) in bounds.items():
        inside = (first >= start) & (last < end)
        if not inside.any():
            raise ValueError(
                f"the {name} split has {end - start} steps, too few for a target "
                f"{horizon} step(s) ahead"
            )
        if name == "train":
            sx, sy = cut_streams(x[inside], y[inside], streams)
            out[name] = Streams(sx, sy, np.ones(sx.shape[:2], dtype=bool))
        else:
            stop = int(t[inside][-1]) + 1
            out[name] = Streams(x[None, :stop], y[None, :stop], inside[None, :stop])
    return out


def check_stream_lengths(n_points: int, horizon: int, train: float, streams: int) -> None:
    """Raise ValueError when the train split has fewer target steps than `streams`."""
    start, end = split_bounds(n_points, train, 0.0)["train"]
    pairs = end - start - horizon
    if pairs < streams:
        raise ValueError(
            f"the train split has {max(pairs, 0)} steps with targets, too few for {streams} streams"
        )


def chunk_bounds(length: int, chunk: int) -> list[tuple[int, int]]:
    """[start, end) of consecutive chunks of `chunk` steps; the last may be shorter."""
    return [(a, min(a + chunk, length)) for a in range(0, length, chunk)]
