"""The config schema: every user-facing key with its type and valid range, checked in one pass.

Hydra's struct mode already refuses keys the YAML files do not define; this module adds the
types and ranges, and refuses keys smuggled in with `+key=...` in the groups it owns. It imports
neither torch nor Lightning, so a bad config is answered in about a second.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf


class ConfigError(ValueError):
    """A bad config value: `key` is the dotted path, the message says what would be valid."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


@dataclass(frozen=True)
class Rule:
    kind: type | tuple[type, ...]
    valid: str  # what a valid value is, for the message: "an integer >= 1"
    check: Callable[[Any], bool] = lambda v: True
    optional: bool = False  # null allowed


def _int(valid: str = "an integer", check=lambda v: True, optional: bool = False) -> Rule:
    return Rule(int, valid, check, optional)


def _num(valid: str = "a number", check=lambda v: True) -> Rule:
    return Rule(float, valid, check)


POSITIVE_INT = _int("an integer >= 1", lambda v: v >= 1)
NON_NEGATIVE = _num("a number >= 0", lambda v: v >= 0)
FRACTION = _num("a number in [0, 1]", lambda v: 0 <= v <= 1)

# Sections whose every key is listed here; an extra key in them is an error.
CLOSED_SECTIONS: dict[str, dict[str, Rule]] = {
    "model": {
        "hidden_size": POSITIVE_INT,
        "num_layers": POSITIVE_INT,
        "dropout": _num("a number in [0, 1)", lambda v: 0 <= v < 1),
        "carry_state": Rule(bool, "true or false"),
        "stateful": Rule(bool, "true or false"),
        "bptt": POSITIVE_INT,
        "streams": POSITIVE_INT,
        "steps_per_call": POSITIVE_INT,
    },
    "data": {
        "_target_": Rule(str, "a dotted import path"),
        "series": Rule(dict, "a mapping"),
        "window": POSITIVE_INT,
        "horizon": POSITIVE_INT,
        "split": Rule(dict, "a mapping of train and val fractions"),
        "batch_size": _int("an integer >= 1, or null for the whole split", lambda v: v >= 1, True),
        "eval_batch_size": POSITIVE_INT,
        "shuffle": Rule(bool, "true or false"),
    },
    "data.split": {"train": FRACTION, "val": FRACTION},
    "evaluation": {
        "rollout_steps": _int(
            "an integer >= 0 (0: no rollout), or null for the whole test split",
            lambda v: v >= 0,
            True,
        ),
        "period": _int(
            "an integer >= 1, or null to estimate it from the training split",
            lambda v: v >= 1,
            True,
        ),
        "max_origins": POSITIVE_INT,
    },
}

# Keys of open sections (free-form `_target_` nodes) that still have to make sense.
KEYS: dict[str, Rule] = {
    "seed": _int(),
    "threads": _int("an integer >= 1, or null for torch's default", lambda v: v >= 1, True),
    "trainer.max_epochs": POSITIVE_INT,
    "logger.log_every_n_steps": _int("an integer >= 1, or null", lambda v: v >= 1, True),
    "optimizer.lr": _num("a number > 0", lambda v: v > 0),
    "optimizer.weight_decay": NON_NEGATIVE,
    "resume": Rule(str, "a run directory (outputs/runs/<run>), or null", optional=True),
    "ckpt_path": Rule(str, "a .ckpt file, or null", optional=True),
}

# Series sources, by their `_target_`, with the keys each takes.
SERIES: dict[str, dict[str, Rule]] = {
    "lstm_lab.data.series.sine_series": {
        "n_points": _int("an integer >= 2", lambda v: v >= 2),
        "t_start": _num(),
        "t_end": _num(),
        "waves": Rule(list, "a list of {frequency, amplitude, phase}"),
        "noise": NON_NEGATIVE,
        "seed": _int(),
    },
    "lstm_lab.data.csv_file.csv_series": {
        "path": Rule(str, "the path of a CSV file"),
        "target": Rule(str, "a column name"),
        "features": Rule(
            list, "a list of column names", lambda v: all(isinstance(c, str) for c in v)
        ),
        "time": Rule(str, "a column name, or null", optional=True),
        "missing": Rule(
            str, "one of fail, drop, interpolate", lambda v: v in ("fail", "drop", "interpolate")
        ),
    },
}
WAVE: dict[str, Rule] = {"frequency": _num(), "amplitude": _num(), "phase": _num()}


def _matches(rule: Rule, value: Any) -> bool:
    if value is None:
        return rule.optional
    kinds = rule.kind if isinstance(rule.kind, tuple) else (rule.kind,)
    if isinstance(value, bool) and bool not in kinds:
        return False  # True is an int to Python, never to a user
    if float in kinds and isinstance(value, int):
        return True
    return isinstance(value, kinds)


def _check(key: str, rule: Rule, value: Any) -> None:
    if not _matches(rule, value) or (value is not None and not rule.check(value)):
        raise ConfigError(key, f"got {value!r}; must be {rule.valid}")


def _check_closed(prefix: str, node: Mapping, rules: Mapping[str, Rule]) -> None:
    for key, value in node.items():
        full = f"{prefix}.{key}"
        if key not in rules:
            raise ConfigError(full, unknown_key_message(key, rules))
        _check(full, rules[key], value)


def unknown_key_message(key: str, known: Any) -> str:
    close = difflib.get_close_matches(str(key), [str(k) for k in known], n=1)
    return "unknown key" + (f" (did you mean '{close[0]}'?)" if close else "")


def _get(cfg: Mapping, dotted: str) -> tuple[bool, Any]:
    node: Any = cfg
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


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
        raise ConfigError(f"{key}._target_", f"cannot import '{target}'")


def validate(cfg: DictConfig | Mapping) -> dict:
    """Check every rule; return the config as a plain, resolved dict. Raises ConfigError."""
    plain = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else cfg
    for section, rules in CLOSED_SECTIONS.items():
        present, node = _get(plain, section)
        if present:
            _check_closed(section, node, rules)
    for key, rule in KEYS.items():
        present, value = _get(plain, key)
        if present:
            _check(key, rule, value)

    series = plain["data"]["series"]
    target = series.get("_target_")
    if target not in SERIES:
        raise ConfigError("data.series._target_", f"got {target!r}; one of {sorted(SERIES)}")
    _check_closed(
        "data.series", {k: v for k, v in series.items() if k != "_target_"}, SERIES[target]
    )
    for i, wave in enumerate(series.get("waves", [])):
        if not isinstance(wave, Mapping):
            raise ConfigError(
                f"data.series.waves[{i}]", "must be a mapping of frequency/amplitude/phase"
            )
        _check_closed(f"data.series.waves[{i}]", wave, WAVE)
    if "t_end" in series and series["t_end"] <= series["t_start"]:
        raise ConfigError("data.series.t_end", f"got {series['t_end']}; must be > t_start")

    model = plain["model"]
    if model.get("stateful") and model.get("carry_state"):
        raise ConfigError(
            "model.carry_state",
            "got true with model.stateful=true; stateful training carries the state itself, "
            "set model.carry_state=false",
        )

    split = plain["data"]["split"]
    if split["train"] <= 0 or split["train"] + split["val"] >= 1:
        raise ConfigError(
            "data.split",
            f"got train={split['train']}, val={split['val']}; need train > 0 and train + val < 1 "
            "(the rest is the test split)",
        )

    return plain


def check_targets(plain: dict) -> None:
    """The optimizer and scheduler must be importable (this imports torch, so it comes last)."""
    check_target("optimizer", plain["optimizer"])
    if plain.get("scheduler"):
        check_target("scheduler", plain["scheduler"])


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


# Keys of the commands that use a trained run (lstm-eval, lstm-predict).
TOOL_KEYS: dict[str, Rule] = {
    "run_dir": Rule(str, "a run directory made by lstm-train", optional=True),
    "ckpt_path": Rule(str, "a checkpoint file", optional=True),
    "threads": KEYS["threads"],
    "steps": POSITIVE_INT,
    "input": Rule(str, "a .csv or .npy file", optional=True),
    "output": Rule(str, "the path of a .csv file to write", optional=True),
}


def validate_tool(cfg: DictConfig) -> dict:
    """The command's own keys, checked; `evaluation` is checked with the run's config."""
    plain = OmegaConf.to_container(cfg, resolve=True)
    for key, value in plain.items():
        if key in TOOL_KEYS:
            _check(key, TOOL_KEYS[key], value)
    if "evaluation" in plain:
        _check_closed("evaluation", plain["evaluation"], CLOSED_SECTIONS["evaluation"])
    return plain
