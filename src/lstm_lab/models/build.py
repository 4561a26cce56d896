"""The one place a network is built from the `model` config: for training and for a restored run.

`model._target_` names any `nn.Module` class (default: LSTMRegressor). Its constructor gets the
network's keys of the model section (the config's `schema.network_section`: all but lstm-lab's
own training keys) plus two filled in from the data: `input_size` (the number of input
columns) and `horizon` (data.horizon). It maps windows (batch, window, input_size) to the next
values (batch, horizon). Stateful training and `carry_state` also need `forward_with_state`
and `head` (see LSTMRegressor). Plain Python and torch: no Hydra, no Lightning.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from lstm_lab.setting_error import SettingError

# The default network (config/schema.py's model option `lstm` takes it from here).
DEFAULT_TARGET = "lstm_lab.models.lstm.LSTMRegressor"
# What the constructor is given from the data, not from the config.
FILLED_IN = ("input_size", "horizon")
# What stateful training and carry_state call on the network, besides forward.
STATE_METHODS = ("forward_with_state", "head")


class BuildError(SettingError):
    """A config section cannot build what its `_target_` names; `key` is the key at fault."""


def target_of(model: dict) -> str:
    return model.get("_target_") or DEFAULT_TARGET


def network_kwargs(network: dict) -> dict[str, Any]:
    """The network section's constructor arguments: all its keys but `_target_`."""
    return {k: v for k, v in network.items() if k != "_target_"}


def network_class(target: str) -> type:
    module, _, name = target.rpartition(".")
    try:
        found = getattr(importlib.import_module(module), name, None) if module else None
    except ImportError as error:
        raise BuildError(
            "model._target_", f"cannot import '{target}' ({error}; is its folder on PYTHONPATH?)"
        ) from None
    if not isinstance(found, type):
        raise BuildError("model._target_", f"'{target}' is not a class")
    return found


def check_arguments(key: str, target: str, function, given, filled=()) -> None:
    """`function` (a class or a function) takes every key `given` to it under config section
    `key`, and needs no key that neither `given` nor `filled` (set by lstm-lab) provides."""
    try:
        params = inspect.signature(function).parameters
    except (TypeError, ValueError):  # no signature to read (some builtins): the call will tell
        return
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        for name in given:
            if name not in params:
                taken = ", ".join(p for p in params if p not in filled) or "nothing"
                raise BuildError(f"{key}.{name}", f"{target} takes no '{name}' (it takes: {taken})")
    for name, p in params.items():
        required = p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        if required and name not in filled and name not in given:
            raise BuildError(f"{key}.{name}", f"{target} needs it; add {key}.{name}=...")
        note = p.annotation
        kind = PLAIN_TYPES.get(note if isinstance(note, str) else getattr(note, "__name__", ""))
        value = given.get(name)
        if kind and value is not None and not _is_a(value, kind[0]):
            raise BuildError(f"{key}.{name}", f"got {value!r}; {target} takes {kind[1]}")


# Parameter annotations a config value is checked against (`width: int`), by name: a module
# with `from __future__ import annotations` has them as strings.
PLAIN_TYPES = {
    "int": (int, "an integer"),
    "float": (float, "a number"),
    "bool": (bool, "true or false"),
    "str": (str, "a string"),
}


def _is_a(value: Any, kind: type) -> bool:
    if isinstance(value, bool) or kind is bool:  # True is an int to Python, never to a user
        return isinstance(value, bool) and kind is bool
    return isinstance(value, (int, float) if kind is float else kind)


def check_signature(target: str, kwargs: dict[str, Any]) -> None:
    """The class takes input_size, horizon and every given key, and needs no key not given."""
    cls = network_class(target)
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        lacking = [k for k in FILLED_IN if k not in params]
        if lacking:
            raise BuildError(
                "model._target_",
                f"{target} takes no {' or '.join(lacking)}; its constructor must accept "
                "input_size and horizon (filled in from the data)",
            )
    check_arguments("model", target, cls, kwargs, FILLED_IN)


def build_network(
    network: dict, input_size: int, horizon: int, transform: str = "none", transform_scale=1.0
):
    """The network its section (`_target_` and the constructor's keys) names, for `input_size`
    inputs and `horizon` outputs; a `transform` other than none (data.transform) is given to it
    with its scale, and needs a class that takes them (see models.lstm.TargetTransform)."""
    target = target_of(network)
    kwargs = network_kwargs(network)
    check_signature(target, kwargs)
    cls = network_class(target)
    if transform != "none":
        params = inspect.signature(cls).parameters
        if "transform" not in params or "transform_scale" not in params:
            raise BuildError(
                "data.transform",
                f"got {transform}, and {target} takes no transform (see "
                "lstm_lab.models.lstm.TargetTransform); set data.transform=none",
            )
        kwargs = {**kwargs, "transform": transform, "transform_scale": transform_scale}
    return cls(input_size=input_size, horizon=horizon, **kwargs)


def check_network(net, model: dict, window: int, input_size: int, horizon: int) -> None:
    """Refuse, before any training, a network that cannot be trained the configured way:
    one that is not an nn.Module, has no parameters, maps a dummy batch to the wrong shape,
    or (stateful mode, carry_state) lacks forward_with_state and head."""
    import torch

    target = target_of(model)
    if not isinstance(net, torch.nn.Module):
        raise BuildError("model._target_", f"{target} is not a torch.nn.Module")
    if not any(p.requires_grad for p in net.parameters()):
        raise BuildError("model._target_", f"{target} has no parameters to train")
    needs_state = "stateful" if model.get("stateful") else "carry_state"
    if model.get("stateful") or model.get("carry_state"):
        lacking = [m for m in STATE_METHODS if not hasattr(net, m)]
        if lacking:
            raise BuildError(
                f"model.{needs_state}",
                f"{target} has no {' or '.join(lacking)}, which model.{needs_state}=true "
                "needs (see LSTMRegressor); set it to false",
            )
    param = next(net.parameters())
    batch = torch.zeros(2, window, input_size, dtype=param.dtype, device=param.device)
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            out = net(batch)
    except Exception as error:  # the user's forward: any failure is the class's
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise BuildError(
            "model._target_",
            f"{target} failed on a (batch, window, features) = {tuple(batch.shape)} input: "
            f"{type(error).__name__}: {first}",
        ) from None
    finally:
        net.train(was_training)
    shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
    if shape != (2, horizon):
        raise BuildError(
            "model._target_",
            f"{target} maps a {tuple(batch.shape)} input to {shape}; it must return "
            f"(batch, horizon) = (2, {horizon})",
        )
