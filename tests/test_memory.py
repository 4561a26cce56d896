"""Runs too big for the memory there is: refused before training, or, when the estimate let
one through, its out-of-memory failure reported in one line (see test_combinations.py)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lstm_lab.config import ConfigError, validate
from lstm_lab.models.gru import GRURegressor
from lstm_lab.models.lstm import LSTMRegressor
from lstm_lab.training.memory import FLOAT, PARAM_COPIES, check_fits, is_out_of_memory, needs


class Wide(nn.Module):
    """A network of a user's that declares nothing: the window, flattened, through a layer."""

    def __init__(self, input_size: int, horizon: int, window: int, hidden: int) -> None:
        super().__init__()
        self.hidden = nn.Linear(window * input_size, hidden)
        self.out = nn.Linear(hidden, horizon)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.relu(self.hidden(x.flatten(1))))


def with_network(plain: dict, **network) -> dict:
    """`plain` with the model section's network keys replaced (lstm-lab's own keys kept)."""
    own = {k: plain["model"][k] for k in ("carry_state", "stateful", "bptt", "streams")}
    return {**plain, "model": {**own, "steps_per_call": 1, **network}}


@pytest.mark.parametrize("network", [LSTMRegressor, GRURegressor])
@pytest.mark.parametrize("features,hidden,layers,horizon", [(1, 32, 1, 1), (3, 7, 2, 4)])
def test_the_parameter_count_is_the_networks(
    compose_train, network, features, hidden, layers, horizon
):
    plain = validate(compose_train(f"data.horizon={horizon}"))
    target = f"{network.__module__}.{network.__name__}"
    plain = with_network(plain, _target_=target, hidden_size=hidden, num_layers=layers, dropout=0.0)
    net = network(features, hidden, layers, horizon=horizon)
    count = sum(p.numel() for p in net.parameters())
    assert needs(plain, 1000, features)["model.hidden_size"] == count * PARAM_COPIES * FLOAT


def test_a_network_that_declares_nothing_is_sized_by_what_it_is(compose_train):
    plain = with_network(
        validate(compose_train()), _target_=f"{__name__}.Wide", window=10, hidden=500
    )
    parts = needs(plain, 1000, 1)
    net = Wide(1, 1, window=10, hidden=500)
    assert parts["model._target_"] == sum(p.numel() for p in net.parameters()) * 16
    # autograd keeps at least the hidden layer's values of each of the batch's 16 windows
    assert parts["data.batch_size"] >= 16 * 500 * FLOAT
    huge = with_network(plain, _target_=f"{__name__}.Wide", window=10, hidden=10**10)
    with pytest.raises(ConfigError) as error:
        check_fits(huge, 1000, 1)
    assert error.value.key == "model._target_" and "use a smaller network" in str(error.value)


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
