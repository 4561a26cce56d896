"""Config composition (every option of every group, every experiment) and validation."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from lstm_lab import CONFIG_DIR
from lstm_lab.config import ConfigError, check_evaluation, check_targets, validate
from lstm_lab.config.keyspec import as_node
from lstm_lab.config.schema import LSTM, OPTIONS, ModelKeys


def options(group: str) -> list[str]:
    """A group's options: its YAML files, and those whose defaults the schema states."""
    files = {p.stem for p in (CONFIG_DIR / group).glob("*.yaml")}
    return sorted(files | set(OPTIONS.get(group, {})))


GROUPS = [
    "data",
    "model",
    "optimizer",
    "scheduler",
    "trainer",
    "logger",
    "callbacks",
    "paths",
    "evaluation",
    "debug",
]


@pytest.mark.parametrize(
    "override",
    [f"{g}={o}" for g in GROUPS for o in options(g)]
    + [f"experiment={o}" for o in options("experiment")],
)
def test_every_option_composes_and_validates(compose_train, override):
    cfg = compose_train(override)
    plain = validate(cfg)
    check_targets(plain)
    group, name = override.split("=")
    if group in ("trainer", "logger", "callbacks"):
        nodes = [plain[group]] if group == "trainer" else plain[group].values()
        for node in nodes:
            assert not isinstance(node, dict) or "_target_" in node


def test_every_group_has_options():
    for group in [*GROUPS, "experiment", "hydra"]:
        assert options(group), group


def test_seed_tutorial_is_the_classic_setting(compose_train):
    cfg = validate(compose_train("experiment=seed_tutorial"))
    assert cfg["data"]["series"]["n_points"] == 1000
    assert (cfg["data"]["series"]["t_start"], cfg["data"]["series"]["t_end"]) == (0.0, 100.0)
    assert cfg["data"]["series"]["waves"] == [{"frequency": 1.0, "amplitude": 1.0, "phase": 0.0}]
    assert (cfg["data"]["window"], cfg["data"]["horizon"], cfg["data"]["batch_size"]) == (
        10,
        1,
        None,
    )
    assert cfg["data"]["shuffle"] is False
    # the schema's network and training keys, but for the tutorial's size and its carried state
    expected = {**as_node(ModelKeys()), **as_node(LSTM()), "hidden_size": 100, "carry_state": True}
    assert cfg["model"] == expected
    assert cfg["model"]["num_layers"] == 1 and cfg["model"]["stateful"] is False
    assert cfg["optimizer"]["_target_"] == "torch.optim.Adam" and cfg["optimizer"]["lr"] == 0.01
    assert not cfg["scheduler"]
    assert cfg["trainer"]["max_epochs"] == 100


def test_default_data_is_the_seed_tutorial_series(compose_train):
    default, tutorial = (
        validate(compose_train()),
        validate(compose_train("experiment=seed_tutorial")),
    )
    assert default["data"]["series"] == tutorial["data"]["series"]
    assert default["data"]["split"] == tutorial["data"]["split"]
    assert default["data"]["window"] == tutorial["data"]["window"]
    assert default["model"]["carry_state"] is False


def test_command_line_overrides_reach_the_config(compose_train):
    cfg = validate(
        compose_train("model.hidden_size=64", "model.num_layers=2", "trainer.max_epochs=3")
    )
    assert (
        cfg["model"]["hidden_size"],
        cfg["model"]["num_layers"],
        cfg["trainer"]["max_epochs"],
    ) == (64, 2, 3)


BAD_VALUES = [
    ("model.hidden_size=0", "model.hidden_size"),
    ("model.hidden_size=abc", "model.hidden_size"),
    ("model.num_layers=0", "model.num_layers"),
    ("model.dropout=1.0", "model.dropout"),
    ("model.dropout=-0.1", "model.dropout"),
    ("model.carry_state=maybe", "model.carry_state"),
    ("data.batch_size=0", "data.batch_size"),
    ("data.window=0", "data.window"),
    ("data.horizon=0", "data.horizon"),
    ("data.split.train=-0.1", "data.split.train"),
    ("data.split.train=0.9", "data.split"),
    ("data.series.noise=-1", "data.series.noise"),
    ("data.series.n_points=1", "data.series.n_points"),
    ("data.series.t_end=-5", "data.series.t_end"),
    ("trainer.max_epochs=0", "trainer.max_epochs"),
    ("optimizer.lr=0", "optimizer.lr"),
    ("optimizer.lr=-0.01", "optimizer.lr"),
    ("seed=1.5", "seed"),
    ("threads=0", "threads"),
    ("+model.foo=1", "model.foo"),
    ("+data.series.foo=1", "data.series.foo"),
    ("evaluation.rollout_steps=-1", "evaluation.rollout_steps"),
    ("evaluation.period=0", "evaluation.period"),
    ("evaluation.max_origins=0", "evaluation.max_origins"),
    ("+evaluation.foo=1", "evaluation.foo"),
    # entries that instantiate_all skipped without a word: not a mapping, or no _target_
    ("+callbacks.foo=1", "callbacks.foo"),
    ("+callbacks.foo.patience=3", "callbacks.foo"),
    ("+logger.foo=1", "logger.foo"),
]


@pytest.mark.parametrize("override,key", BAD_VALUES)
def test_bad_values_name_their_key(compose_train, override, key):
    with pytest.raises(ConfigError) as info:
        validate(compose_train(override))
    assert info.value.key == key
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "override,key",
    [
        ("optimizer._target_=torch.optim.Nope", "optimizer._target_"),
        ("scheduler._target_=nope", "scheduler._target_"),
    ],
)
def test_unknown_targets_are_refused(compose_train, override, key):
    with pytest.raises(ConfigError) as info:
        check_targets(validate(compose_train(override)))
    assert info.value.key == key


def test_unknown_key_suggests_the_close_one(compose_train):
    cfg = compose_train()
    OmegaConf.set_struct(cfg, False)
    cfg.model.hidden_sise = 3
    with pytest.raises(ConfigError, match="did you mean 'hidden_size'"):
        validate(cfg)


@pytest.mark.parametrize(
    "override,n_features,message",
    [
        ("evaluation.rollout_steps=151", 1, "got 151; the test split has 150 steps"),
        ("evaluation.rollout_steps=5", 2, "needs one input feature, and this data has 2"),
        ("evaluation.period=851", 1, "must be at most 850, the steps before the test split"),
    ],
)
def test_evaluation_settings_must_fit_the_series(compose_train, override, n_features, message):
    plain = validate(compose_train(override))
    with pytest.raises(ConfigError, match=message) as info:
        check_evaluation(plain, 1000, n_features)
    assert info.value.key == override.split("=")[0]
    check_evaluation(validate(compose_train()), 1000, 2)  # the default skips the rollout there
