"""Checking a composed config against the schema (src/lstm_lab/config/schema.py), in one pass.

Hydra's struct mode already refuses keys the defaults do not define; this module adds the
types and ranges stated in the schema, refuses keys smuggled in with `+key=...` into its closed
sections, and checks the rules that tie keys together. It imports neither torch nor Lightning,
so a bad config is answered in about a second.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig, OmegaConf

import lstm_lab.config.schema as schema
from lstm_lab.config.keyspec import (
    ConfigError,
    check_section,
    check_sections,
    specs,
    variants,
)

schema.register()  # the groups' defaults, for whoever composes a config after importing this


def check_target(key: str, node: Any) -> None:
    """`node._target_` must name an importable callable (optimizer, scheduler, callback, ...)."""
    target = node.get("_target_") if isinstance(node, Mapping) else None
    if not isinstance(target, str) or "." not in target:
        raise ConfigError(f"{key}._target_", f"got {target!r}; must be a dotted import path")
    module, _, name = target.rpartition(".")
    try:
        found = callable(getattr(importlib.import_module(module), name, None))
    except ImportError:
        found = False
    if not found:
        ours = target.startswith(("lstm_lab.", "torch."))
        hint = "" if ours else " (is its folder on PYTHONPATH?)"
        raise ConfigError(f"{key}._target_", f"cannot import '{target}'{hint}")


def validate(cfg: DictConfig | Mapping, *, every_data_key: bool = True) -> dict:
    """Check every key against the schema; return the config as a plain, resolved dict.
    `every_data_key=False` for a saved run's config, which may predate keys added since.
    Raises ConfigError."""
    plain = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else cfg
    if every_data_key:
        _require_data_keys(plain.get("data"))
    own_data = _check_user_classes(plain)
    check_sections({**plain, "data": own_data}, schema.SECTIONS)

    series = plain["data"]["series"]
    if "t_end" in series and series["t_end"] <= series["t_start"]:
        raise ConfigError("data.series.t_end", f"got {series['t_end']}; must be > t_start")

    _check_mode(plain["model"], plain["data"])
    _check_built_entries(plain)
    _check_progress_bar(plain)
    _check_scheduler(plain.get("scheduler"), plain.get("trainer") or {})

    split = plain["data"]["split"]
    if split["train"] <= 0 or split["train"] + split["val"] >= 1:
        raise ConfigError(
            "data.split",
            f"got train={split['train']}, val={split['val']}; need train > 0 and train + val < 1 "
            "(the rest is the test split)",
        )

    return plain


# Data keys the pipeline reads with their default when a data option leaves them out (both
# were added after users had written data options of their own); every other key is required.
_DATA_KEYS_WITH_DEFAULT = frozenset({"shuffle", "transform"})


def _require_data_keys(data: Any) -> None:
    """The data keys the pipeline reads without a default; a data option of one's own that
    leaves some out is refused here, naming them, rather than failing later on a KeyError."""
    if not isinstance(data, Mapping):
        raise ConfigError("data", f"got {data!r}; must be a mapping of the data keys")
    missing = [
        f"data.{field.name}"
        for field, _ in specs(schema.Data)
        if field.name not in data and field.name not in _DATA_KEYS_WITH_DEFAULT
    ]
    if missing:
        raise ConfigError(
            missing[0] if len(missing) == 1 else "data",
            f"missing{'' if len(missing) == 1 else ' ' + ', '.join(missing)}; a data option sets "
            "every data key but shuffle and transform: begin its file with "
            "'defaults: [sine, _self_]' (or csv) to take the bundled ones",
        )


def _check_built_entries(plain: dict) -> None:
    """Every entry of callbacks and logger (but the logger's own settings) is built from its
    `_target_` (training/run.py `instantiate_all`), or left out as null; any other entry
    (`+callbacks.foo=1`, a mapping without `_target_`) would be skipped without a word."""
    settings = {f.name for f, _ in specs(schema.Logger)}  # log_every_n_steps
    for group, kind in (("callbacks", "callback"), ("logger", "logger")):
        for name, node in (plain.get(group) or {}).items():
            if node is None or (group == "logger" and name in settings):
                continue
            if not isinstance(node, Mapping) or "_target_" not in node:
                got = f"got {node!r}" if not isinstance(node, Mapping) else "has no _target_"
                raise ConfigError(
                    f"{group}.{name}",
                    f"{got}; a {kind} is a mapping with a _target_ (its class) and its "
                    f"arguments, or null to leave it out",
                )


def _check_progress_bar(plain: dict) -> None:
    """Lightning refuses a progress-bar callback on a Trainer told to show none; say which
    key to change (configs/callbacks/default.yaml has one)."""
    trainer = plain.get("trainer") or {}
    if trainer.get("enable_progress_bar") is False and (plain.get("callbacks") or {}).get(
        "progress_bar"
    ):
        raise ConfigError(
            "trainer.enable_progress_bar",
            "got false with callbacks.progress_bar set, a bar for a Trainer that shows none; "
            "set callbacks.progress_bar=null too",
        )


def _check_scheduler(scheduler: Any, trainer: Mapping) -> None:
    """A scheduler that reads a metric (plateau) can only step once an epoch: the metrics it
    may monitor are logged at the end of each one, val/loss only in the epochs that validate."""
    if not isinstance(scheduler, Mapping) or not scheduler.get("monitor"):
        return
    if scheduler.get("interval") == "step":
        raise ConfigError(
            "scheduler.interval",
            f"got step with scheduler.monitor={scheduler['monitor']}, a metric logged once "
            "an epoch; set scheduler.interval=epoch",
        )
    every = trainer.get("check_val_every_n_epoch")
    frequency = scheduler.get("frequency") or 1
    validated = not isinstance(every, int) or isinstance(every, bool) or every <= 1
    if str(scheduler["monitor"]).startswith("val/") and not validated:
        if isinstance(frequency, int) and frequency % every == 0:
            return
        raise ConfigError(
            "trainer.check_val_every_n_epoch",
            f"got {every} with scheduler.monitor={scheduler['monitor']}, a metric logged only "
            f"in the epochs that validate; step the scheduler then with "
            f"scheduler.frequency={every}, or monitor train/loss",
        )


def _check_mode(model: dict, data: dict) -> None:
    """What stateful mode (no window) and window mode each cannot take."""
    if model.get("stateful") and model.get("carry_state"):
        raise ConfigError(
            "model.carry_state",
            "got true with model.stateful=true; stateful training carries the state itself, "
            "set model.carry_state=false",
        )
    transform = data.get("transform", "none")
    if model.get("stateful") and transform != "none":
        raise ConfigError(
            "data.transform",
            f"got {transform} with model.stateful=true; stateful mode reads one step at a "
            "time, with no window to take changes or a last value in, set data.transform=none",
        )
    skip = model.get("linear_skip") or 0
    if skip and model.get("stateful"):
        raise ConfigError(
            "model.linear_skip",
            f"got {skip} with model.stateful=true; stateful mode reads a stream, with no "
            "window for the linear skip to read, set model.linear_skip=0",
        )
    if skip and isinstance(data.get("window"), int) and skip > data["window"]:
        raise ConfigError(
            "model.linear_skip",
            f"got {skip} with data.window={data['window']}; the skip reads the window's last "
            f"steps, set model.linear_skip <= {data['window']}",
        )


def _names(section: type) -> set[str]:
    return {field.name for field, _ in specs(section)}


def _check_user_classes(plain: dict) -> dict:
    """The network's own keys (model section) by its class: a built-in one's from the schema,
    a class of the user's against its constructor's signature. A series function or DataModule
    of the user's takes the keys it declares. Returns the data section less a user
    DataModule's own keys, for the schema's check."""
    from lstm_lab.models.build import check_signature, target_of

    model = plain["model"]
    network = schema.network_section(model)
    builtin = {section._target_: section for section in variants(schema.NETWORKS)}
    target = target_of(model)
    if target in builtin:
        check_section("model", network, builtin[target])
    else:  # a class of the user's: imports it (and torch), only when one is named
        check_signature(target, {k: v for k, v in network.items() if k != "_target_"})

    data = plain["data"]
    series = data.get("series") or {}
    series_target = series.get("_target_")
    if series_target not in {getattr(s, "_target_", None) for s in variants(schema.SERIES)}:
        check_target("data.series", series)
        kwargs = {k: v for k, v in series.items() if k != "_target_"}
        _check_call("data.series", series_target, kwargs)
    own = {k: v for k, v in data.items() if k in _names(schema.Data)}
    extra = {k: v for k, v in data.items() if k not in own}
    if data.get("_target_") != schema.Data._target_:
        check_target("data", data)  # before Hydra's instantiate, whose error is not one line
    if extra and data.get("_target_") != schema.Data._target_:
        _check_call("data", data["_target_"], extra, filled=(*own, "seed", "steps_per_call"))
        return own
    return data


def _check_call(key: str, target: str, kwargs: Mapping, filled=()) -> None:
    """A user's function must take the keys its config gives, and need no other."""
    from lstm_lab.models.build import check_arguments

    module, _, name = target.rpartition(".")
    check_arguments(key, target, getattr(importlib.import_module(module), name), kwargs, filled)


def check_targets(plain: dict) -> None:
    """The optimizer, scheduler, trainer and every callback and logger must be importable
    (this imports torch and Lightning, so it comes last)."""
    check_target("optimizer", plain["optimizer"])
    if plain.get("scheduler"):
        check_target("scheduler", plain["scheduler"])
    if "_target_" in (plain.get("trainer") or {}):
        check_target("trainer", plain["trainer"])
    for group in ("callbacks", "logger"):
        for name, node in (plain.get(group) or {}).items():
            if isinstance(node, Mapping) and "_target_" in node:
                check_target(f"{group}.{name}", node)


def check_evaluation(plain: dict, n_points: int, n_features: int) -> None:
    """The evaluation settings must fit the series: rollout within the test split, a period
    that stays inside the data, and no rollout asked of multivariate input."""
    settings = plain.get("evaluation") or {}
    data = plain["data"]
    from lstm_lab.data.windows import split_bounds

    bounds = split_bounds(n_points, data["split"]["train"], data["split"]["val"])
    test_start, test_end = bounds["test"]
    steps = settings.get("rollout_steps")
    if steps and steps > test_end - test_start:
        raise ConfigError(
            "evaluation.rollout_steps",
            f"got {steps}; the test split has {test_end - test_start} steps "
            "(null rolls out across all of it)",
        )
    if steps and n_features > 1:
        raise ConfigError(
            "evaluation.rollout_steps",
            f"got {steps}; a rollout feeds predictions back as inputs, which needs one input "
            f"feature, and this data has {n_features}; set it to 0 or null",
        )
    period = settings.get("period")
    if period and period > test_start:
        raise ConfigError(
            "evaluation.period",
            f"got {period}; must be at most {test_start}, the steps before the test split",
        )


def validate_tool(cfg: DictConfig, command: str | None = None) -> dict:
    """lstm-eval's or lstm-predict's own keys (both when `command` is None), checked;
    `evaluation` is checked with the run's config."""
    plain = OmegaConf.to_container(cfg, resolve=True)
    for name in [command] if command else ["eval", "predict"]:
        check_sections(plain, schema.COMMAND_SECTIONS[name])
    return plain
