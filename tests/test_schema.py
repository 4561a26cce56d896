"""The schema (src/lstm_lab/config/schema.py) is the one statement of every key: the composed
config, the checks, --help and the README follow from it. Expectations here are derived from it, so
a key added there is tested here without another edit."""

from __future__ import annotations

import copy
import functools
import re
import typing
from dataclasses import dataclass
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from lstm_lab import CONFIG_DIR
from lstm_lab.config import ConfigError, validate, validate_tool
from lstm_lab.config.keyspec import (
    Open,
    as_node,
    at_least,
    check_sections,
    describe_keys,
    is_section,
    key,
    specs,
    split_optional,
    valid_text,
    variants,
)
from lstm_lab.config.schema import (
    COMMAND_KEYS,
    COMMAND_SECTIONS,
    GRU,
    NETWORKS,
    OPTIONS,
    SECTIONS,
    CsvSeries,
    help_template,
)

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


# The overrides that choose a section variant other than the default one.
SELECTS = {CsvSeries: ("data=csv",), GRU: ("model=gru",)}


def keys_of(prefix: str, kind, extra: tuple[str, ...] = ()):
    """(dotted key, field, type, overrides that select its section) of every key, recursively."""
    for cls in variants(kind) or [kind]:
        select = extra + SELECTS.get(cls, ())
        for field, ftype in specs(cls):
            name = f"{prefix}.{field.name}" if prefix else field.name
            base, _ = split_optional(ftype)
            if is_section(base) or variants(base):
                yield from keys_of(name, base, select)
            else:
                yield name, field, ftype, select


@functools.cache
def composed(*select: str) -> dict:
    """lstm-train's config with these overrides, composed once (as a plain dict)."""
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("train", overrides=["paths.run_dir=/tmp/unused", *select])
    return OmegaConf.to_container(cfg, resolve=True)


def concrete(prefix: str) -> str:
    """A prefix with `*` (every entry of an open group, callbacks.*) at its first entry."""
    node, parts = composed(), []
    for part in prefix.split(".") if prefix else []:
        part = next(iter(node)) if part == "*" else part
        node, parts = node[part], [*parts, part]
    return ".".join(parts)


TRAIN_KEYS = [k for p, section in SECTIONS.items() for k in keys_of(concrete(p), section)]
TRAIN_KEYS += list(keys_of("model", NETWORKS))  # the built-in networks' own keys


def with_value(select: tuple[str, ...], dotted: str, value) -> dict:
    """The composed config with one key set, as `key=value` on the command line would."""
    plain = copy.deepcopy(composed(*select))
    *parents, last = dotted.split(".")
    node = plain
    for part in parents:
        node = node[part]
    node[last] = value
    return plain


def test_every_key_has_a_doc():
    for command, sections in COMMAND_SECTIONS.items():
        for prefix, section in sections.items():
            for name, _default, _valid, doc in describe_keys(prefix, section):
                assert doc.strip(), f"{command}: {name} has no doc"


def test_help_lists_every_key_once():
    """lstm-train --help: every key of its sections and of the built-in networks
    (model.hidden_size, ...), none twice (the model's training keys are in two sections)."""
    text = help_template("train").split("== Keys")[1].split("== Config")[0]
    lines = [line for line in text.splitlines()[1:] if line.strip()]
    assert len(lines) == len(set(lines)), "a key listed twice"
    listed = {re.match(r"[^=\s]+", line).group() for line in lines}
    sections = [*SECTIONS.items(), ("model", NETWORKS)]
    assert listed == {row[0] for prefix, kind in sections for row in describe_keys(prefix, kind)}


@pytest.mark.parametrize("group,option", [(g, o) for g in OPTIONS for o in OPTIONS[g]])
def test_the_options_compose_to_the_schema_defaults(group, option):
    plain = validate(composed(f"{group}={option}"))
    # the option on top of what the top level states of its section (the model's training keys)
    below = as_node(COMMAND_KEYS["train_keys"]).get(group, {})
    assert plain[group] == {**below, **as_node(OPTIONS[group][option])}


def test_the_top_level_defaults_come_from_the_schema():
    plain = validate(composed())
    for name, value in as_node(COMMAND_KEYS["train_keys"]).items():
        if isinstance(value, dict):  # a section the group options add to (model)
            assert {k: plain[name][k] for k in value} == value, name
        else:
            assert plain[name] == value, name


def bad_value(field, kind):
    """A value of the right type that the key's range check refuses."""
    check = field.metadata["check"]
    base, _ = split_optional(kind)
    kinds = typing.get_args(base) or (base,)  # int | str keys (threads) take either
    for candidate in ("nope", -1, 0, 1, 2, 1.5, -0.1):
        fits = type(candidate) in kinds or (float in kinds and isinstance(candidate, int))
        try:
            refused = not check.test(candidate)
        except TypeError:  # a check comparing a value of another type refuses it
            refused = True
        if fits and refused:
            return candidate
    raise AssertionError(f"no bad value found for {field.name}")


RANGED = [(n, f, t, s) for n, f, t, s in TRAIN_KEYS if f.metadata["check"] is not None]


@pytest.mark.parametrize("name,field,kind,select", RANGED, ids=[r[0] for r in RANGED])
def test_a_value_out_of_range_is_refused_naming_the_key(name, field, kind, select):
    value = bad_value(field, kind)
    with pytest.raises(ConfigError) as info:
        validate(with_value(select, name, value))
    assert info.value.key == name
    assert str(info.value) == f"{name}: got {value!r}; must be {valid_text(field, kind)}"


WRONG_TYPE = {int: "abc", float: "abc", bool: "maybe", str: 5}
TYPED = [
    (n, f, t, s)
    for n, f, t, s in TRAIN_KEYS
    if split_optional(t)[0] in WRONG_TYPE and not n.endswith("_target_")
]


@pytest.mark.parametrize("name,field,kind,select", TYPED, ids=[r[0] for r in TYPED])
def test_a_value_of_the_wrong_type_is_refused_naming_the_key(name, field, kind, select):
    value = WRONG_TYPE[split_optional(kind)[0]]
    with pytest.raises(ConfigError) as info:
        validate(with_value(select, name, value))
    assert str(info.value) == f"{name}: got {value!r}; must be {valid_text(field, kind)}"


def test_each_wave_is_checked_as_a_section():
    wave = {"frequency": "abc", "amplitude": 1, "phase": 0}
    with pytest.raises(ConfigError) as info:
        validate(with_value((), "data.series.waves", [wave]))
    assert str(info.value) == "data.series.waves[0].frequency: got 'abc'; must be a number"
    with pytest.raises(ConfigError, match="unknown key") as info:
        validate(with_value((), "data.series.waves", [{**wave, "frequency": 1, "phasee": 0}]))
    assert info.value.key == "data.series.waves[0].phasee"


SECTION_NAMES = {n.rsplit(".", 1)[0] for n, *_ in TRAIN_KEYS if "." in n}
BY_NAME = {concrete(prefix): section for prefix, section in SECTIONS.items()}
CLOSED = sorted(s for s in SECTION_NAMES if not issubclass(BY_NAME.get(s, object), Open))


@pytest.mark.parametrize("section", CLOSED)
def test_a_key_smuggled_into_a_closed_section_is_refused(section):
    select = ("data=csv",) if section == "data.series" else ()
    with pytest.raises(ConfigError, match="unknown key") as info:
        validate(with_value(select, f"{section}.nope", 1))
    assert info.value.key == f"{section}.nope"


def test_the_tools_keys_are_checked():
    from omegaconf import OmegaConf

    with pytest.raises(ConfigError) as info:
        validate_tool(OmegaConf.create({"steps": 0}), "predict")
    assert str(info.value) == "steps: got 0; must be an integer >= 1"
    with pytest.raises(ConfigError, match="evaluation.max_origins: got 0"):
        validate_tool(OmegaConf.create({"evaluation": {"max_origins": 0}}))


def test_the_readme_tables_name_only_existing_keys():
    known = {n for n, *_ in TRAIN_KEYS} | {n.rsplit(".", 1)[0] for n, *_ in TRAIN_KEYS}
    rows = re.findall(r"^\| `(data|model|evaluation)` \| [^|]+ \| (.+) \|$", README, flags=re.M)
    assert len(rows) == 3, rows
    for section, says in rows:
        for name in re.findall(r"`(\w+)`", says):
            assert f"{section}.{name}" in known, f"README names {section}.{name}"
    csv_rows = re.findall(r"^\| `(data\.[\w.]+)` \|", README, flags=re.M)
    assert csv_rows
    for name in csv_rows:
        assert name in known, f"README names {name}"


@dataclass
class Known:
    _target_: str = key("pkg.Known", "a known class", valid="a dotted import path")
    size: int = key(1, "its size", at_least(1))


@dataclass
class AnyClass(Open):
    _target_: str = key(doc="any other class", valid="a dotted import path")


@dataclass
class Entry(Open):
    every: int = key(doc="an interval", check=at_least(1))


TOY = {"m": Known | AnyClass, "log.*": Entry}


@pytest.mark.parametrize(
    "plain,error",
    [
        ({"m": {"_target_": "pkg.Known", "size": 2}, "log": {"tb": {"every": 1, "x": 0}}}, None),
        ({"m": {"_target_": "user.Net", "width": 3}}, None),  # any other class, its own keys
        ({"m": {"size": 0}}, "m.size: got 0; must be an integer >= 1"),  # saved before _target_
        ({"m": {"_target_": "pkg.Known", "width": 3}}, "m.width: unknown key"),
        ({"log": {"tb": {"every": 1}, "csv": {"every": 0}}}, "log.csv.every: got 0; must be"),
    ],
)
def test_sections_chosen_by_target_and_mappings_of_sections(plain, error):
    """The room the schema leaves: a model section keyed by `_target_` with a catch-all for
    user classes, and a check on every entry of a mapping (`logger.*.log_every_n_steps`)."""
    if error is None:
        check_sections(plain, TOY)
    else:
        with pytest.raises(ConfigError, match=re.escape(error)):
            check_sections(plain, TOY)


@pytest.mark.parametrize("network", variants(NETWORKS), ids=lambda n: n.__name__)
def test_a_built_in_networks_keys_and_defaults_are_its_constructors(network):
    """The schema states a built-in network's keys once for the config; its constructor takes
    exactly those (plus what lstm-lab fills in) with the same defaults."""
    import importlib
    import inspect

    module, _, name = network._target_.rpartition(".")
    params = inspect.signature(getattr(importlib.import_module(module), name)).parameters
    filled = ("input_size", "horizon", "transform", "transform_scale")
    constructor = {k: p.default for k, p in params.items() if k not in filled}
    stated = network()
    schema_keys = {
        f.name: getattr(stated, f.name) for f, _ in specs(network) if f.name != "_target_"
    }
    assert constructor == schema_keys
