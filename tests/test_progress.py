"""The progress bar (training/progress.py): what it shows, how often it draws, where it cannot."""

from __future__ import annotations

import io
import pickle

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import RichProgressBar
from rich.console import Console

from helpers import QUICK, fit_objects, run
from lstm_lab.training.progress import RichBar, metrics_text

TINY = [*QUICK, "logger=csv", "model.hidden_size=8"]
LOSSES = ("train/loss", "val/loss")


class CountedBar(RichBar):
    """RichBar drawing into a string, counting the frames it draws."""

    def __init__(self, refresh_per_second: float) -> None:
        super().__init__(refresh_per_second)
        self.out = io.StringIO()
        self.console = Console(file=self.out, width=120, force_terminal=False)
        self.frames = 0

    def start(self):
        fresh = self.progress is None and self.enabled
        progress = super().start()
        if fresh:
            drawn = progress.draw_now

            def draw_now():
                self.frames += 1
                drawn()

            progress.draw_now = draw_now
        return progress


def fit_and_test(compose_train, tmp_path, bar: RichBar, *overrides: str):
    datamodule, module, trainer = fit_objects(
        compose_train(*TINY, f"paths.run_dir={tmp_path}", *overrides)
    )
    (at,) = [i for i, c in enumerate(trainer.callbacks) if isinstance(c, RichBar)]
    trainer.callbacks[at] = bar  # the configured bar's place
    trainer.fit(module, datamodule=datamodule)
    fit = {"frames": bar.frames, **{k: float(trainer.callback_metrics[k]) for k in LOSSES}}
    trainer.test(module, datamodule=datamodule, verbose=False)
    return trainer, fit


def test_the_bar_shows_the_last_epoch_its_metrics_and_the_test(compose_train, tmp_path):
    bar = CountedBar(refresh_per_second=10)
    trainer, fit = fit_and_test(compose_train, tmp_path, bar)
    shown = bar.out.getvalue()
    last = trainer.max_epochs - 1
    assert f"Epoch {last}/{last}" in shown
    final = shown[shown.rindex(f"Epoch {last}/{last}") :].splitlines()[0]
    for loss in LOSSES:  # the last epoch's, in the last frame of the fit
        assert f"{loss}: {fit[loss]:.4g}" in final
    assert "Testing" in shown
    assert bar.progress is None  # stopped at the end of each stage


def test_the_bar_draws_at_most_its_rate_and_once_at_each_stage_end(compose_train, tmp_path):
    # a rate of one frame a day: only the first frame and the forced one at each stage's end
    slow = CountedBar(refresh_per_second=1 / 86400)
    _, fit = fit_and_test(compose_train, tmp_path / "slow", slow)
    assert fit["frames"] == 2  # the first epoch's row, then the end of fit
    assert slow.frames == 4  # the same for the test
    # unthrottled, the same run draws at every batch and epoch
    fast = CountedBar(refresh_per_second=1e9)
    _, fit = fit_and_test(compose_train, tmp_path / "fast", fast)
    assert fit["frames"] > 4 * 2


class Says(L.Callback):
    def on_train_epoch_end(self, trainer, pl_module):
        pl_module.print(f"said at epoch {trainer.current_epoch}")


def test_the_module_prints_with_the_bar_on(compose_train, tmp_path, capsys):
    """LightningModule.print asks the progress bar (`is_enabled`), then prints (rich's live
    display puts a terminal's prints above the bar)."""
    bar = CountedBar(refresh_per_second=10)
    datamodule, module, trainer = fit_objects(compose_train(*TINY, f"paths.run_dir={tmp_path}"))
    (at,) = [i for i, c in enumerate(trainer.callbacks) if isinstance(c, RichBar)]
    trainer.callbacks[at : at + 1] = [bar, Says()]
    trainer.fit(module, datamodule=datamodule)
    printed = capsys.readouterr().out
    assert "said at epoch 0" in printed and "said at epoch 1" in printed


def test_a_disabled_bar_draws_nothing(compose_train, tmp_path):
    bar = CountedBar(refresh_per_second=10)
    bar.disable()
    fit_and_test(compose_train, tmp_path, bar)
    assert bar.frames == 0 and bar.out.getvalue() == ""


def test_the_bar_pickles_without_its_display():
    # a spawned DDP process receives the callbacks pickled
    bar = RichBar()
    bar.start()
    try:
        copy = pickle.loads(pickle.dumps(bar))
    finally:
        bar.stop()
    assert copy.progress is None and copy.rows == {} and copy.every == bar.every


def test_metrics_keep_four_significant_digits():
    assert metrics_text({"val/loss": torch.tensor(4.2423e-07), "v_num": 3}) == (
        "val/loss: 4.242e-07 v_num: 3"
    )


@pytest.mark.parametrize("rate", ["0", "-1"])
def test_a_bad_rate_is_refused_in_one_line_naming_the_key(tmp_path, rate):
    proc = run(*TINY, f"callbacks.progress_bar.refresh_per_second={rate}", cwd=tmp_path)
    assert proc.returncode != 0
    assert "callbacks.progress_bar" in proc.stderr and "refresh_per_second" in proc.stderr
    assert not list((tmp_path / "outputs").glob("runs/*")), "no run directory is left"


@pytest.mark.parametrize(
    ("overrides", "bar"),
    [
        ([], RichBar),
        (["callbacks.progress_bar=null"], RichProgressBar),  # Lightning's own (README)
        (["callbacks.progress_bar=null", "+trainer.enable_progress_bar=false"], type(None)),
    ],
)
def test_the_readme_bar_choices(compose_train, tmp_path, overrides, bar):
    _, _, trainer = fit_objects(compose_train(*TINY, f"paths.run_dir={tmp_path}", *overrides))
    assert type(trainer.progress_bar_callback) is bar
