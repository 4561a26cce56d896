"""The progress bar of a run: Lightning's progress-bar callback (`ProgressBar`), drawn with rich.

Lightning's `RichProgressBar` draws from a thread of its own that wakes 100 times a second
and takes the interpreter lock from the training thread each time, and it rebuilds the
metrics on every batch; at the end of each stage the training thread waits for that thread's
last sleep. For a small LSTM that is about 5 % of training (docs/benchmarks.md). `RichBar`
draws the rows that matter (epoch, batches, elapsed time, the progress-bar metrics) on the
training thread, at most `refresh_per_second` times a second, plus once at the end of each
stage, so the last state is always shown. `callbacks.progress_bar._target_=
lightning.pytorch.callbacks.RichProgressBar` brings Lightning's back.
"""

from __future__ import annotations

import math
import time
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import ProgressBar
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

PURPLE = "#6206E0"  # Lightning's RichProgressBar colours its bars so


def metrics_text(metrics: dict[str, Any]) -> str:
    """`name: value` pairs, four significant digits (a regression's losses are often < 1e-3)."""
    parts = []
    for name, value in metrics.items():
        value = value.item() if hasattr(value, "item") else value
        parts.append(f"{name}: {value:.4g}" if isinstance(value, float) else f"{name}: {value}")
    return " ".join(parts)


class ThrottledProgress(Progress):
    """rich's Progress drawing at most once every `every` seconds, whoever asks (rich's own
    add_task and reset ask too); `draw_now` draws whatever the time."""

    def __init__(self, *columns: Any, every: float, **kwargs: Any) -> None:
        super().__init__(*columns, auto_refresh=False, **kwargs)
        self.every = every
        self.drawn = -math.inf

    def refresh(self) -> None:
        if time.monotonic() - self.drawn >= self.every:
            self.draw_now()

    def draw_now(self) -> None:
        self.drawn = time.monotonic()
        super().refresh()


class RichBar(ProgressBar):
    """One row for training (`Epoch e/last`) and one for the running validation, test or
    prediction, with the metrics shown in the progress bar; drawn on the training thread."""

    def __init__(self, refresh_per_second: float = 10.0) -> None:
        super().__init__()
        if not refresh_per_second > 0:
            raise ValueError(f"refresh_per_second must be > 0, got {refresh_per_second}")
        self.every = 1.0 / refresh_per_second
        self.enabled = True
        self.progress: ThrottledProgress | None = None
        self.rows: dict[str, Any] = {}
        # None: a console of its own for each stage, which finds the terminal as it is then
        # (a warm server's forked run gets the command's terminal), as the report's tables do
        self.console: Console | None = None

    def __getstate__(self) -> dict:
        # a spawned DDP process gets the callback without the live display (locks, a console)
        return {**self.__dict__, "progress": None, "rows": {}, "console": None}

    @property
    def is_enabled(self) -> bool:  # LightningModule.print asks
        return self.enabled

    @property
    def is_disabled(self) -> bool:
        return not self.enabled

    def disable(self) -> None:
        self.enabled = False

    def enable(self) -> None:
        self.enabled = True

    # ---------------------------------------------------------------- drawing
    def start(self) -> ThrottledProgress | None:
        if not self.enabled:
            return None
        if self.progress is None:
            self.progress = ThrottledProgress(
                TextColumn("{task.description}"),
                BarColumn(complete_style=PURPLE, finished_style=PURPLE, pulse_style=PURPLE),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.fields[metrics]}"),
                console=self.console or Console(),
                every=self.every,
            )
            self.progress.start()
            self.rows = {}
        return self.progress

    def row(self, name: str, description: str, total: float) -> None:
        """Show row `name` from 0 of `total` (inf or 0: no total known), no metrics yet."""
        progress = self.start()
        if progress is None:
            return
        total = None if total in (0, float("inf")) else int(total)
        if name in self.rows:
            progress.reset(
                self.rows[name], total=total, description=description, visible=True, metrics=""
            )
        else:
            self.rows[name] = progress.add_task(description, total=total, metrics="")

    def advance(self, name: str, done: int) -> None:
        if self.progress is not None and name in self.rows:
            self.progress.update(self.rows[name], completed=done)
            self.progress.refresh()

    def hide(self, name: str) -> None:
        if self.progress is not None and name in self.rows:
            self.progress.update(self.rows[name], visible=False)

    def show_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.progress is not None and "train" in self.rows:
            text = metrics_text(self.get_metrics(trainer, pl_module))
            self.progress.update(self.rows["train"], metrics=text)
            self.progress.refresh()

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.draw_now()  # the last state, whenever the last frame was
            self.progress.stop()
            self.progress = None
            self.rows = {}

    # ---------------------------------------------------------------- training
    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # the metrics of the epoch before: the module logs an epoch's train/loss after the
        # progress bar's on_train_epoch_end (Lightning calls the callbacks' hook first)
        last = trainer.max_epochs - 1 if trainer.max_epochs not in (None, -1) else "?"
        self.row("train", f"Epoch {trainer.current_epoch}/{last}", self.total_train_batches)
        self.show_metrics(trainer, pl_module)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if "train" not in self.rows:  # resumed in the middle of an epoch
            self.on_train_epoch_start(trainer, pl_module)
        self.advance("train", batch_idx + 1)

    # ---------------------------------------------------------------- evaluation
    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        sanity = trainer.sanity_checking
        description = self.sanity_check_description if sanity else self.validation_description
        self.row("eval", description, self.total_val_batches)

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, *args) -> None:
        self.advance("eval", batch_idx + 1)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.hide("eval")
        if trainer.state.fn == "fit":
            self.show_metrics(trainer, pl_module)
        else:
            self.stop()

    def on_test_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.row("eval", self.test_description, sum(trainer.num_test_batches))

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, *args) -> None:
        self.advance("eval", batch_idx + 1)

    def on_predict_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.row("eval", self.predict_description, sum(trainer.num_predict_batches))

    def on_predict_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, *args) -> None:
        self.advance("eval", batch_idx + 1)

    # ---------------------------------------------------------------- the end of a stage
    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.show_metrics(trainer, pl_module)  # the last epoch's train/loss, logged by now
        self.stop()

    def on_exception(self, trainer: L.Trainer, pl_module, exception: BaseException) -> None:
        self.stop()
