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

build_trainer (training/run.py) uses it for `trainer.precision: 32-true` under the strategies
that take any precision plugin (auto, single_device, the ddp family) when the run sets no
`trainer.plugins` of its own; other precisions and strategies (fsdp and deepspeed want their
own plugin) keep Lightning's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightning as L
from lightning.pytorch.core.optimizer import do_nothing_closure
from lightning.pytorch.plugins import Precision
from lightning.pytorch.profilers import PassThroughProfiler

FULL_PRECISION = ("32", "32-true")


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


def step_arguments(trainer_cfg: Any, overrides: dict[str, Any]) -> dict[str, Any]:
    """The Trainer arguments that give a run DirectStep: for `precision` 32-true (Lightning's
    default) under auto, single_device or a ddp strategy, unless the config or the caller sets
    `plugins` (or the caller sets `precision` or `strategy`); else none."""
    if {"precision", "plugins", "strategy"} & overrides.keys():
        return {}
    if trainer_cfg.get("plugins") is not None:
        return {}
    precision = trainer_cfg.get("precision", "32-true")
    if precision is not None and str(precision) not in FULL_PRECISION:
        return {}
    strategy = trainer_cfg.get("strategy", "auto")
    if not isinstance(strategy, str) or not (
        strategy in ("auto", "single_device") or strategy.startswith("ddp")
    ):
        return {}
    return {"precision": None, "plugins": [DirectStep()]}
