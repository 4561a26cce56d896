"""Lightning callbacks of lstm-lab's own."""

from __future__ import annotations

import math

import lightning as L

from lstm_lab.cli import RunError


class FiniteLossCheck(L.Callback):
    """Stop a run as soon as its loss is nan or inf, with one line saying where.

    Left alone, such a run trains on to the end and reports nan; in a sweep that job is then
    marked failed (with this reason) while the other jobs carry on.
    """

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if loss is not None:
            self._check("train/loss", float(loss), trainer)

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        value = trainer.callback_metrics.get("val/loss")
        if value is not None and not trainer.sanity_checking:
            self._check("val/loss", float(value), trainer)

    @staticmethod
    def _check(name: str, value: float, trainer: L.Trainer) -> None:
        if not math.isfinite(value):
            raise RunError(
                f"{name} is {value} at epoch {trainer.current_epoch}, step {trainer.global_step}; "
                "try a lower optimizer.lr"
            )
