"""Safe checkpoint loading: weights only, and one clear error naming the file otherwise."""

from __future__ import annotations

import os

import pytest
import torch

from lstm_lab.models.lstm import LSTMRegressor
from lstm_lab.records.checkpoints import CheckpointError, load_checkpoint, load_weights


class Payload:
    """An arbitrary object: unpickling it would run code from outside torch."""

    def __reduce__(self):
        return (os.getcwd, ())


def lightning_like(net: torch.nn.Module, **extra) -> dict:
    return {"state_dict": {f"net.{k}": v for k, v in net.state_dict().items()}, **extra}


def test_weights_round_trip_into_a_fresh_network(tmp_path):
    torch.manual_seed(0)
    net = LSTMRegressor(hidden_size=4)
    torch.save(lightning_like(net, epoch=3, global_step=30), tmp_path / "a.ckpt")
    checkpoint = load_checkpoint(tmp_path / "a.ckpt")
    fresh = LSTMRegressor(hidden_size=4)
    load_weights(fresh, checkpoint, tmp_path / "a.ckpt")
    x = torch.randn(2, 5, 1)
    torch.testing.assert_close(fresh(x), net(x))
    assert checkpoint["global_step"] == 30


def write_bytes(path, data: bytes):
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    "make,expected",
    [
        (lambda p: p / "missing.ckpt", "no such checkpoint file"),
        (lambda p: p, "not a file"),
        (lambda p: write_bytes(p / "empty.ckpt", b""), "corrupt, truncated or not a PyTorch"),
        (lambda p: write_bytes(p / "text.ckpt", b"hello\n"), "corrupt, truncated or not a PyTorch"),
        (
            lambda p: write_bytes(p / "half.ckpt", _saved(p)[: len(_saved(p)) // 2]),
            "corrupt, truncated or not a PyTorch",
        ),
        (
            lambda p: _save(p / "unsafe.ckpt", {"state_dict": {}, "x": Payload()}),
            "getcwd when loaded; refusing to unpickle it",
        ),
        (lambda p: _save(p / "plain.ckpt", {"weights": torch.zeros(1)}), "no state_dict"),
    ],
)
def test_bad_files_are_one_line_naming_the_file(tmp_path, make, expected):
    path = make(tmp_path)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and expected in message
    assert "\n" not in message


def _save(path, obj):
    torch.save(obj, path)
    return path


def _saved(tmp_path) -> bytes:
    path = _save(tmp_path / "whole.ckpt", lightning_like(LSTMRegressor(hidden_size=4)))
    return path.read_bytes()


@pytest.mark.parametrize(
    "other,expected",
    [
        (LSTMRegressor(hidden_size=8), "lstm.weight_ih_l0 has shape (32, 1), the model expects"),
        (LSTMRegressor(hidden_size=4, num_layers=2), "unexpected weights lstm.bias_hh_l1"),
        (torch.nn.Linear(1, 1), "no weights for"),
    ],
)
def test_weights_of_another_model_are_refused(tmp_path, other, expected):
    path = _save(tmp_path / "other.ckpt", lightning_like(other))
    with pytest.raises(CheckpointError, match="does not fit the model") as info:
        load_weights(LSTMRegressor(hidden_size=4), load_checkpoint(path), path)
    assert expected in str(info.value)
