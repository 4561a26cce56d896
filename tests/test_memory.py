"""Runs too big for the memory there is: refused before training, or, when the estimate let
one through, its out-of-memory failure reported in one line (see test_combinations.py)."""

from __future__ import annotations

import pytest
import torch

from lstm_lab.config import ConfigError, validate
from lstm_lab.models.lstm import LSTMRegressor
from lstm_lab.training.memory import check_fits, is_out_of_memory, lstm_parameters, needs


@pytest.mark.parametrize("features,hidden,layers,horizon", [(1, 32, 1, 1), (3, 7, 2, 4)])
def test_the_parameter_count_is_the_networks(features, hidden, layers, horizon):
    net = LSTMRegressor(features, hidden, layers, horizon=horizon)
    assert lstm_parameters(features, hidden, layers, horizon) == sum(
        p.numel() for p in net.parameters()
    )


def test_reasonable_runs_pass_and_the_default_is_far_below_a_gigabyte(compose_train):
    for overrides in ([], ["model.stateful=true"], ["data.batch_size=null"]):
        plain = validate(compose_train(*overrides))
        check_fits(plain, 1000, 1)  # no ConfigError on this machine
        assert sum(needs(plain, 1000, 1).values()) < 1e8


@pytest.mark.parametrize(
    "overrides,key",
    [
        (["model.hidden_size=100000"], "model.hidden_size"),
        (["data.batch_size=null", "data.window=500", "model.hidden_size=4000"], "data.batch_size"),
        (["model.stateful=true", "model.bptt=100000", "model.streams=100000"], "model.bptt"),
        (["data.window=100000"], "data.window"),
    ],
)
def test_a_run_that_cannot_fit_names_the_key_behind_most_of_it(compose_train, overrides, key):
    plain = validate(compose_train(*overrides))
    with pytest.raises(ConfigError) as error:
        check_fits(plain, 2_000_000, 1)
    assert error.value.key == key and "\n" not in str(error.value)
    assert "of memory" in str(error.value) and f"lower {key}" in str(error.value)


def test_out_of_memory_errors_are_told_from_others():
    assert is_out_of_memory(RuntimeError("DefaultCPUAllocator: can't allocate memory: 8 bytes"))
    assert is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate"))
    assert not is_out_of_memory(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
    assert not is_out_of_memory(ValueError("out of memory"))
