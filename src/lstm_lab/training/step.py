"""The optimizer step of a 32-bit run, without Lightning's double closure.

RegressionModule's own loop (models/module.py, `optimizer_steps`) has already run the
backward pass when it calls the LightningOptimizer's `step()`, which counts `global_step`.
Lightning's 32-bit precision plugin then wraps the empty closure it is handed in a second
closure, hands that to the optimizer, which calls it under `torch.enable_grad()`, and sweeps
the callbacks' `on_before_optimizer_step` hooks through a profiler record per callback.
For a small LSTM that path costs about 7 % of training (docs/benchmarks.md).

DirectStep does the same work in the same order: the callbacks' hooks, then the module's,
then the optimizer's `step()`. It keeps Lightning's own path (the parent class's) wherever
that path does more:
- a step with a closure of its own (automatic optimization, stateful mode, an optimizer
  such as LBFGS that evaluates the closure itself);
- a run with a profiler (`debug=profiler`), whose report lists each hook's record.
Gradient clipping is not affected: Lightning clips in automatic optimization only, which
takes Lightning's path.

build_trainer (training/run.py) puts it in place of Lightning's own 32-bit plugin, exactly
that class (`trainer.precision: 32-true`, under any strategy that chose it); the plugins of
other precisions, of strategies with their own (FSDP, DeepSpeed, XLA) and a precision plugin
of a run's own (`trainer.plugins`) stay.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightning as L
from lightning.pytorch.core.optimizer import do_nothing_closure
from lightning.pytorch.plugins import Precision
from lightning.pytorch.profilers import PassThroughProfiler


class DirectStep(Precision):
    """Lightning's 32-bit precision (`Precision`), calling the optimizer step directly when
    the step has no closure to run (see the module's docstring)."""

    def optimizer_step(
        self, optimizer: Any, model: Any, closure: Callable[[], Any], **kwargs: Any
    ) -> Any:
        trainer = model.trainer if isinstance(model, L.LightningModule) else None
        if (
            closure is not do_nothing_closure
            or trainer is None
            or not isinstance(trainer.profiler, PassThroughProfiler)
        ):
            return super().optimizer_step(optimizer, model, closure, **kwargs)
        for callback in trainer.callbacks:
            callback.on_before_optimizer_step(trainer, model, optimizer)
        model.on_before_optimizer_step(optimizer)
        return optimizer.step(**kwargs)


def use_direct_step(trainer: L.Trainer) -> None:
    """DirectStep in place of the trainer's precision plugin when that is Lightning's own
    32-bit `Precision` (not a subclass), through the strategy's public setter."""
    if type(trainer.strategy.precision_plugin) is Precision:
        trainer.strategy.precision_plugin = DirectStep()
