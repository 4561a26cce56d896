"""A NaN or infinite training loss, stopped before it reaches the weights: the check the
LightningModule runs inline where it steps the optimizer itself, and the training callback
runs before every other backward pass."""

from __future__ import annotations

import math

import lightning as L
import torch


class NonFiniteLoss(RuntimeError):
    def __init__(self, value: float, epoch: int, step: int) -> None:
        super().__init__(f"loss became {value} at epoch {epoch}, step {step}")
        self.epoch, self.step = epoch, step


def check_finite_loss(trainer: L.Trainer, loss: torch.Tensor) -> None:
    """Raise NonFiniteLoss for a NaN or infinite loss; call it before the backward pass."""
    # Under DDP every process must stop together (one alone would leave the others waiting
    # in the gradient all-reduce), so a non-finite loss on any process stops them all.
    # A single value (the usual mean loss) is checked in Python: no extra kernels per step.
    bad = not math.isfinite(loss.item()) if loss.numel() == 1 else not torch.isfinite(loss).all()
    if trainer.strategy.reduce_boolean_decision(bool(bad), all=False):
        raise NonFiniteLoss(float(loss.detach()), trainer.current_epoch, trainer.global_step)
