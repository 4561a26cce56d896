"""The TensorBoard curves: train/loss every `logger.log_every_n_steps` optimizer steps and per
epoch, val/loss per epoch, log10 of each loss, and the test metrics, all at the true optimizer
step, whatever `model.steps_per_call`."""

from __future__ import annotations

import math

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from helpers import fit_objects
from lstm_lab.config import ConfigError, validate

# 300 points -> 195 training windows -> 13 batches of 16 per epoch; 2 epochs: 26 steps.
TINY = [
    "data.series.n_points=300",
    "data.series.t_end=30",
    "trainer.max_epochs=2",
    "~callbacks.progress_bar",
    "logger.log_every_n_steps=4",
]


def curves(compose_train, run_dir, *overrides: str) -> dict[str, list[tuple[int, float]]]:
    """Fit and test in this process; every scalar tag of its TensorBoard events as
    [(step, value)]."""
    cfg = compose_train(*TINY, f"paths.run_dir={run_dir}", *overrides)
    datamodule, module, trainer = fit_objects(cfg)
    trainer.fit(module, datamodule=datamodule)
    trainer.test(module, datamodule=datamodule, verbose=False)
    for logger in trainer.loggers:
        logger.finalize("success")
    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})  # events in the run dir
    events.Reload()
    return {t: [(e.step, e.value) for e in events.Scalars(t)] for t in events.Tags()["scalars"]}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from hydra import compose, initialize_config_dir

    from lstm_lab import CONFIG_DIR

    def compose_train(*overrides):
        with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
            return compose("train", overrides=list(overrides))

    root = tmp_path_factory.mktemp("curves")
    return {n: curves(compose_train, root / str(n), f"model.steps_per_call={n}") for n in (1, 16)}


@pytest.mark.parametrize("steps_per_call", [1, 16])
def test_curves_are_at_the_true_optimizer_step(runs, steps_per_call):
    got = runs[steps_per_call]
    steps = lambda tag: [step for step, _ in got[tag]]  # noqa: E731
    assert steps("train/loss_step") == [4, 8, 12, 16, 20, 24]
    assert steps("train/loss") == steps("val/loss") == [13, 26]  # after each epoch's steps
    assert steps("lr-Adam") == [0, 13]  # the lr each epoch starts with
    assert got["epoch"] == [(13, 0), (26, 1)]  # one point per epoch
    assert steps("test/mse") == [26]  # at the step trained to, not Lightning's batch count
    for tag in ("train/loss_step", "train/loss", "val/loss"):
        log_tag = tag.replace("/", "/log10_", 1)
        assert steps(log_tag) == steps(tag)
        for (_, value), (_, log_value) in zip(got[tag], got[log_tag], strict=True):
            assert log_value == pytest.approx(math.log10(value), abs=1e-5)


def test_grouped_steps_draw_the_same_curves_as_one_step_per_batch(runs):
    one, grouped = runs[1], runs[16]
    assert one.keys() == grouped.keys()
    for tag in one:
        assert grouped[tag] == one[tag], tag


def test_a_validation_within_an_epoch_has_its_epoch_point(compose_train, tmp_path):
    half = ["+trainer.val_check_interval=0.5", "model.steps_per_call=1"]
    got = curves(compose_train, tmp_path, *half)
    assert [step for step, _ in got["val/loss"]] == [6, 12, 19, 25]  # 13 batches an epoch
    # a point at each validation and at each epoch's end, none twice
    assert got["epoch"] == [(6, 0), (12, 0), (13, 0), (19, 1), (25, 1), (26, 1)]


def test_log_every_n_steps_must_be_positive(compose_train):
    with pytest.raises(ConfigError, match=r"logger.log_every_n_steps: got 0; must be"):
        validate(compose_train("logger.log_every_n_steps=0"))
