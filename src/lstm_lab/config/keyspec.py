"""The machinery behind src/lstm_lab/config/schema.py: a config key declared as a dataclass field,
the walk that checks a config against those fields, and the plain dict Hydra gets as defaults.

A section is a dataclass; each field is one key, declared with `key(default, doc, check)`; its
annotation is the type (`int | None`: null allowed). A field typed with another dataclass is a
closed sub-section, `list[Dataclass]` a list of them, and a union of dataclasses a section whose
keys depend on its `_target_` (each class's `_target_` default names it). A subclass of `Open`
is a section with free keys (a `_target_`'s keyword arguments): only the fields it names are
checked. Imports only the standard library, so config errors stay fast.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import operator
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

from lstm_lab.setting_error import SettingError


class ConfigError(SettingError):
    """A bad config value: `key` is the dotted path, the message says what would be valid."""


class Open:
    """Marks a section whose other keys are free; only its declared fields are checked."""


@dataclasses.dataclass(frozen=True)
class Check:
    test: Callable[[Any], bool]
    says: str  # follows the type in the message: "an integer" + " >= 1"


def at_least(low: float) -> Check:
    return Check(lambda v: v >= low, f">= {low}")


def above(low: float) -> Check:
    return Check(lambda v: v > low, f"> {low}")


def between(low: float, high: float, high_open: bool = False) -> Check:
    if high_open:
        return Check(lambda v: low <= v < high, f"in [{low}, {high})")
    return Check(lambda v: low <= v <= high, f"in [{low}, {high}]")


def one_of(*choices: Any) -> Check:
    return Check(lambda v: v in choices, "one of " + ", ".join(map(str, choices)))


def key(
    default: Any = dataclasses.MISSING,
    doc: str = "",
    check: Check | None = None,
    *,
    valid: str | None = None,
    null: str | None = None,
) -> Any:
    """One config key: its default, one-line doc and range check. Default `MISSING` ("???"):
    the user must set it; none at all: the chosen option sets it (keys of `Open` sections).

    The error message's "what is valid" is built from the type and the check ("an integer
    >= 1"); `valid` replaces that wording, `null` says what null means ("for torch's default").
    """
    meta = {"doc": doc, "check": check, "valid": valid, "null": null}
    if default is dataclasses.MISSING:
        return dataclasses.field(metadata=meta)
    if isinstance(default, list) or dataclasses.is_dataclass(default):
        return dataclasses.field(default_factory=lambda: _copy(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _copy(value: Any) -> Any:
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return dataclasses.replace(value) if dataclasses.is_dataclass(value) else value


def as_node(section: Any) -> dict:
    """The plain dict Hydra gets for a section instance: untyped on purpose, so a bad value
    reaches `check_section` and its one-line message, instead of OmegaConf's conversion error."""
    return dataclasses.asdict(section)


def specs(cls: type) -> list[tuple[dataclasses.Field, Any]]:
    """(field, resolved type) of each key of a section, in order."""
    hints = typing.get_type_hints(cls)
    return [(f, hints[f.name]) for f in dataclasses.fields(cls)]


def split_optional(kind: Any) -> tuple[Any, bool]:
    """`X | None` -> (X, True); a union of several sections stays a union."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        optional = len(args) < len(typing.get_args(kind))
        return functools.reduce(operator.or_, args), optional
    return kind, False


def is_section(kind: Any) -> bool:
    return isinstance(kind, type) and dataclasses.is_dataclass(kind)


def variants(kind: Any) -> list[type]:
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        return [a for a in typing.get_args(kind) if is_section(a)]
    return []


TYPE_WORDS = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
PLURALS = {int: "integers", float: "numbers", bool: "true/false values", str: "strings"}


def valid_text(field: dataclasses.Field, kind: Any) -> str:
    """What a valid value of this key is, for the error message and `lstm-train --help`."""
    base, optional = split_optional(kind)
    meta = field.metadata
    text = meta.get("valid")
    if text is None:
        check = meta.get("check")
        if check is not None and check.says.startswith("one of"):
            text = check.says
        elif is_section(base) or variants(base):
            text = "a mapping"
        elif typing.get_origin(base) is list:
            (item,) = typing.get_args(base)
            if is_section(item):
                text = "a list of {" + ", ".join(f.name for f in dataclasses.fields(item)) + "}"
            else:
                text = f"a list of {PLURALS.get(item, 'values')}"
        else:
            text = TYPE_WORDS.get(base, "a value") + (f" {check.says}" if check else "")
    if optional and meta.get("null") is not None:
        text += f", or null {meta['null']}".rstrip()
    return text


def unknown_key_message(name: str, known: Any) -> str:
    close = difflib.get_close_matches(str(name), [str(k) for k in known], n=1)
    return "unknown key" + (f" (did you mean '{close[0]}'?)" if close else "")


def _matches(kind: Any, value: Any) -> bool:
    if typing.get_origin(kind) is list:
        (item,) = typing.get_args(kind)
        return isinstance(value, list) and (
            is_section(item) or all(_matches(item, v) for v in value)
        )
    if is_section(kind) or variants(kind):
        return isinstance(value, Mapping)
    if isinstance(value, bool):
        return kind is bool  # True is an int to Python, never to a user
    if kind is float:  # inf and nan are no setting's value: a rate, a size, a fraction
        return isinstance(value, (int, float)) and math.isfinite(value)
    return isinstance(value, kind)


def check_value(name: str, field: dataclasses.Field, kind: Any, value: Any) -> None:
    base, optional = split_optional(kind)
    check = field.metadata.get("check")
    if value is None:
        ok = optional
    else:
        try:
            ok = _matches(base, value) and (check is None or check.test(value))
        except TypeError:  # a check comparing a value of another type (int | str keys)
            ok = False
    if not ok:
        raise ConfigError(name, f"got {value!r}; must be {valid_text(field, kind)}")
    if value is None:
        return
    if is_section(base) or variants(base):
        check_section(name, value, base)
    elif typing.get_origin(base) is list and is_section(typing.get_args(base)[0]):
        item = typing.get_args(base)[0]
        for i, element in enumerate(value):
            if not isinstance(element, Mapping):
                names = "/".join(f.name for f in dataclasses.fields(item))
                raise ConfigError(f"{name}[{i}]", f"must be a mapping of {names}")
            check_section(f"{name}[{i}]", element, item)


def pick(prefix: str, node: Mapping, kind: Any) -> type:
    """The section class for this node: itself, or the variant its `_target_` names. A variant
    without a `_target_` default takes any other target; a node without `_target_` (a run saved
    before its section had variants) is the first variant's."""
    choices = variants(kind)
    if not choices:
        return kind
    by_target = {getattr(c, "_target_", None): c for c in choices}
    target = node.get("_target_", getattr(choices[0], "_target_", None))
    if target in by_target:
        return by_target[target]
    if None in by_target:
        return by_target[None]
    raise ConfigError(f"{prefix}._target_", f"got {target!r}; one of {sorted(by_target)}")


def check_section(prefix: str, node: Mapping, kind: Any) -> None:
    """Every key of `node` against its section's fields; unknown keys refused unless Open."""
    cls = pick(prefix, node, kind)
    fields = {f.name: (f, t) for f, t in specs(cls)}
    for name, value in node.items():
        full = f"{prefix}.{name}" if prefix else str(name)
        if name not in fields:
            if issubclass(cls, Open):
                continue
            raise ConfigError(full, unknown_key_message(name, fields))
        check_value(full, *fields[name], value)


def check_sections(plain: Mapping, sections: Mapping[str, Any]) -> None:
    """Each section of a config that is present: `sections` maps a dotted prefix ("": the top
    level; "logger.*": every entry of the logger mapping) to its section class."""
    for prefix, section in sections.items():
        for path, found in _nodes_at(plain, prefix.split(".") if prefix else [], ""):
            check_section(path, found, section)


def _nodes_at(node: Any, parts: list[str], path: str):
    if not isinstance(node, Mapping):
        return
    if not parts:
        yield path, node
        return
    head, rest = parts[0], parts[1:]
    for name in node if head == "*" else [head] if head in node else []:
        yield from _nodes_at(node[name], rest, f"{path}.{name}" if path else str(name))


def describe_keys(prefix: str, kind: Any) -> list[tuple[str, str, str, str]]:
    """(dotted key, default, what is valid, doc) of every key under a section, in order; a
    section chosen by `_target_` lists each variant's keys after its `_target_`."""
    rows = []
    for cls in variants(kind) or [kind]:
        for field, ftype in specs(cls):
            full = f"{prefix}.{field.name}" if prefix else field.name
            base, _ = split_optional(ftype)
            doc = field.metadata.get("doc", "")
            if is_section(base) or variants(base):
                rows += describe_keys(full, base)
                continue
            if field.default_factory is not dataclasses.MISSING:
                default = field.default_factory()
            else:
                default = field.default
            rows.append((full, _show(default), valid_text(field, ftype), doc))
    return rows


def _show(value: Any) -> str:
    """A default as YAML would write it."""
    if value is dataclasses.MISSING:
        return "-"
    if dataclasses.is_dataclass(value):
        value = dataclasses.asdict(value)
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_show(v)}" for k, v in value.items()) + "}"
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    return str(value)
