"""LightningModule around the network (LSTMRegressor, or any model._target_): MSE loss,
configurable optimizer and scheduler."""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable

import lightning as L
import torch
import torch.nn.functional as F
from torchmetrics import MeanAbsoluteError, MeanSquaredError, MetricCollection

from lstm_lab.models.lstm import State
from lstm_lab.models.nonfinite import check_finite_loss

# Scheduler arguments that mean "the length of the run"; filled in when the config leaves them out.
_RUN_LENGTH_ARGS = ("total_steps", "T_max")


class ScheduleMismatch(ValueError):
    """A checkpoint's learning-rate schedule spans another run length than this run's."""


def run_length_kwargs(factory: Callable, length: int) -> dict[str, int]:
    """OneCycleLR total_steps, CosineAnnealingLR T_max: the run's length, where not configured."""
    partial = isinstance(factory, functools.partial)
    given = factory.keywords if partial else {}
    params = inspect.signature(factory.func if partial else factory).parameters
    return {k: length for k in _RUN_LENGTH_ARGS if k in params and given.get(k) is None}


class RegressionModule(L.LightningModule):
    """Trains on scaled data; reports test metrics in the series' original units.

    `carry_state` reproduces a habit of the classic tutorial: the detached (h, c) left by one
    training batch is the initial state of the next batch of the same shape (with full-batch
    training, of the next epoch). Evaluation always starts from zero state.

    `steps_per_call` > 1: each training batch Lightning hands over is a list of that many
    minibatches (see data.datamodule.BatchGroups), and the module makes one optimizer step per
    minibatch itself, through manual optimization's public calls. Lightning's per-batch
    machinery (closure, progress bar, loop bookkeeping) then runs once per group instead of
    once per step, which for a small LSTM costs more than the step. The steps, their order and
    the arithmetic are those of `steps_per_call=1`, and `global_step` counts optimizer steps.

    Curves: Lightning would log at its count of batches (groups, here), so the module writes
    its scalars to the loggers itself, at `global_step`: every `log_every_n_steps` steps (None:
    never) train/loss_step, the mean over those steps; per epoch the learning rate it starts
    with, train/loss and val/loss; each loss also as log10 (train/log10_loss, ...).
    `self.log` (logger=False) still feeds the progress bar, checkpoints and early stopping.
    """

    def __init__(
        self,
        net: torch.nn.Module,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., object] | None = None,
        scheduler_options: dict | None = None,
        carry_state: bool = False,
        target_mean: float = 0.0,
        target_std: float = 1.0,
        steps_per_call: int = 1,
        horizon: int | None = None,
        log_every_n_steps: int | None = None,
    ) -> None:
        super().__init__()
        self.steps_per_call = steps_per_call
        self.log_every_n_steps = log_every_n_steps
        self.automatic_optimization = steps_per_call == 1
        self.net = net
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        # Lightning's lr_scheduler keys: interval ("step" or "epoch"), monitor, frequency.
        self.scheduler_options = {"interval": "epoch", **(scheduler_options or {})}
        self.carry_state = carry_state
        self._state: State | None = None
        # Training loss times samples, summed on the device: [this epoch, since the last point
        # of the step curve]; the sample counts beside them.
        self._loss_sums = torch.zeros(2)
        self._epoch_count = self._window_count = 0
        self._restored_schedulers: list[dict] = []  # their state in the checkpoint fit starts from
        # each logger's (tag, step) of the curve points the run directory holds already, set by
        # a resumed run: a killed run wrote some after its last.ckpt, which it would write again
        self.written_points: dict[object, set[tuple[str, int]]] = {}
        self.best_val_loss = float("inf")
        # the fit's global_step, set before the test: a test in a process of its own
        # (ddp_spawn, ddp_fork) has a Trainer that counted no steps
        self.fitted_steps: int | None = None
        # Buffers, so checkpoints carry the scaling needed to report in original units.
        self.register_buffer("target_mean", torch.tensor(float(target_mean)))
        self.register_buffer("target_std", torch.tensor(float(target_std)))
        self.test_metrics = MetricCollection(
            {
                "mse": MeanSquaredError(),
                "rmse": MeanSquaredError(squared=False),
                "mae": MeanAbsoluteError(),
            },
            prefix="test/",
        )
        # With several horizon steps, the same metrics for each step (test/mse_step1, ...).
        horizon = horizon or net.head.out_features  # any network: the run gives the horizon
        self.step_metrics = (
            MetricCollection(
                {
                    "mse": MeanSquaredError(num_outputs=horizon),
                    "rmse": MeanSquaredError(squared=False, num_outputs=horizon),
                    "mae": MeanAbsoluteError(num_outputs=horizon),
                }
            )
            if horizon > 1
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def to_original_units(self, scaled: torch.Tensor) -> torch.Tensor:
        return scaled * self.target_std + self.target_mean

    def check_restored_schedule(self, scheduler: object, run_length: dict[str, int]) -> None:
        """A run started from another run's checkpoint (ckpt_path) gets that run's scheduler
        state back, sized for that run's length: refuse (ScheduleMismatch, before anything is
        written) a length other than this run's (`run_length`: the scheduler's run-length
        arguments), which the scheduler would fail on or cut short.
        """
        for state in self._restored_schedulers:
            for arg, wanted in run_length.items():
                restored = state.get(arg, wanted)
                if restored != wanted:
                    unit = "optimizer steps" if arg == "total_steps" else "epochs"
                    raise ScheduleMismatch(
                        f"the checkpoint's {type(scheduler).__name__} spans {restored} "
                        f"{unit} and this run's would span {wanted}; continue it to the same "
                        "end (trainer.max_epochs), or use scheduler=none",
                    )

    def training_step(self, batch, batch_idx: int) -> torch.Tensor | None:
        if self.automatic_optimization:
            return self.window_loss(*batch)
        self.optimizer_steps(batch)
        return None

    def window_loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        state = (
            self._state if self._state is not None and self._state[0].shape[1] == len(x) else None
        )
        if self.carry_state:  # forward_with_state: the network's state contract (models/lstm.py)
            pred, _, carried = self.net.forward_with_state(x, state)
            self._state = tuple(s.detach() for s in carried)
        else:
            pred = self.net(x)
        loss = F.mse_loss(pred, y)
        self.add_train_loss(loss, len(x))
        return loss

    def optimizer_steps(self, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        """One optimizer step per minibatch, in the order of Lightning's automatic optimization:
        loss, non-finite check, zero_grad, backward, step (the LightningOptimizer's, which
        counts `global_step`; `max_steps` may stop inside a group), the per-step schedulers.

        `loss.backward()`, not `manual_backward`: the same arithmetic where steps_per_call
        applies (no gradient scaler, one process), without two sweeps of backward hooks per
        step; the only one that matters, the non-finite loss check, runs here. The step
        itself goes through the LightningOptimizer, which counts `global_step` publicly; for a
        32-bit run its precision plugin (training/step.py) calls the step's hooks and the
        optimizer directly. Zeroing the gradients directly skips torch's zero_grad profiler
        record.
        """
        trainer = self.trainer
        optimizer = self.optimizers()
        params = [p for group in optimizer.param_groups for p in group["params"]]
        step, max_steps = trainer.global_step, trainer.max_steps
        every = self.log_every_n_steps
        for x, y in batches:
            if 0 <= max_steps <= step:
                break
            loss = self.window_loss(x, y)
            check_finite_loss(trainer, loss)
            for p in params:  # zero_grad(set_to_none=True), without its profiler record
                p.grad = None
            loss.backward()
            optimizer.step()
            step += 1
            if every and step % every == 0:
                self.log_step_curve(step)
            self.step_schedulers("step", step)

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        # Automatic optimization: this step's loss is summed, global_step not yet counted.
        every = self.log_every_n_steps
        if every and self.automatic_optimization:
            step = self.trainer.global_step + 1
            if step % every == 0:
                self.log_step_curve(step)

    def step_schedulers(self, interval: str, count: int) -> None:
        """What Lightning does for automatic optimization: step each scheduler of `interval`
        every `frequency` steps or epochs (`count`: steps or epochs done); plateau schedulers
        get their monitored metric."""
        trainer = self.trainer
        for config in trainer.lr_scheduler_configs:
            if config.interval != interval or count % config.frequency:
                continue
            if isinstance(config.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                monitor = self.scheduler_options.get("monitor")
                metric = trainer.callback_metrics.get(monitor)
                if metric is None:
                    raise RuntimeError(
                        f"the scheduler monitors {monitor!r}, which was not logged; "
                        f"logged: {sorted(trainer.callback_metrics)}"
                    )
                config.scheduler.step(metric)
            else:
                config.scheduler.step()

    def add_train_loss(self, loss: torch.Tensor, n: int) -> None:
        """Accumulate the training loss for the epoch's mean and the step curve.

        `self.log` costs Lightning a pass over all logged results on every call, as much as
        a small LSTM's whole step; a running sum on the device costs one small kernel (both
        sums at once) and no synchronisation.
        """
        self._loss_sums.add_(loss.detach(), alpha=n)
        self._epoch_count += n
        self._window_count += n

    def log_step_curve(self, step: int) -> None:
        """train/loss_step: the mean training loss since the last point (two scalars: each costs
        the logger about 30 us, so a point every 10 steps stays well under 1 % of a step)."""
        if self._window_count and self.loggers:
            mean = float(self._loss_sums[1]) / self._window_count
            self.log_curves(with_log10("train/loss_step", mean), step, save=False)
        self._loss_sums[1] = 0.0
        self._window_count = 0

    def log_curves(self, metrics: dict[str, float], step: int, save: bool = True) -> None:
        """Scalars to every logger at `step` (optimizer steps done), through its public API;
        `save`: flush to disk now (as Lightning does after each log), else with the next one."""
        for logger in self.loggers:
            written = self.written_points.get(logger, ())
            logger.log_metrics({k: v for k, v in metrics.items() if (k, step) not in written}, step)
            if save:
                logger.save()

    def on_train_epoch_start(self) -> None:
        if self._loss_sums.device != self.device:
            self._loss_sums = self._loss_sums.to(self.device)
        self._loss_sums[0] = 0.0
        self._epoch_count = 0
        # the learning rate this epoch starts with (all schedulers have stepped by now)
        optimizer = self.trainer.optimizers[0]
        lr = float(optimizer.param_groups[0]["lr"])
        self.log_curves({f"lr-{type(optimizer).__name__}": lr}, self.trainer.global_step, False)

    def on_train_epoch_end(self) -> None:
        if self._epoch_count:
            mean = self._loss_sums[0] / self._epoch_count
            self.log("train/loss", mean, prog_bar=True, sync_dist=True, logger=False)
            synced = float(self.trainer.callback_metrics["train/loss"])
            metrics = {**with_log10("train/loss", synced), "epoch": self.current_epoch}
            self.log_curves(metrics, self.trainer.global_step)
        if not self.automatic_optimization:
            # after validation, before the epoch's checkpoints, as Lightning steps them
            self.step_schedulers("epoch", self.trainer.current_epoch + 1)

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        self.log_val_loss(F.mse_loss(self.net(x), y), len(x))

    def log_val_loss(self, loss: torch.Tensor, n: int) -> None:
        """val/loss, averaged over the epoch by Lightning; written to the loggers at its end."""
        self.log("val/loss", loss, prog_bar=True, batch_size=n, sync_dist=True, logger=False)

    def on_validation_epoch_end(self) -> None:
        if not self.trainer.sanity_checking and "val/loss" in self.trainer.callback_metrics:
            loss = float(self.trainer.callback_metrics["val/loss"])
            # equal on every rank; it reaches a spawned run's main process through RunProgress
            # (each self.log costs Lightning about as much as a small LSTM's optimizer step)
            self.best_val_loss = min(self.best_val_loss, loss)
            metrics = {**with_log10("val/loss", loss), "val/loss_best": self.best_val_loss}
            # written to disk with the epoch's train/loss, which follows in on_train_epoch_end
            # (each flush waits for TensorBoard's writer thread) with the epoch's "epoch" point
            # when this validation ends the epoch; a validation of its own, outside fit, is
            # written when the logger is finalized
            in_fit = self.trainer.state.fn == "fit"
            if not (in_fit and self.trainer.is_last_batch):
                metrics["epoch"] = self.current_epoch
            self.log_curves(metrics, self.trainer.global_step, save=not in_fit)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["best_val_loss"] = self.best_val_loss
        checkpoint["steps_per_call"] = self.steps_per_call  # how its loop state counts
        checkpoint["carried_state"] = self._state  # carry_state: a resumed run needs it too
        # a run resumed mid-epoch logs the same curves as one left alone
        epoch_sum, window_sum = self._loss_sums.cpu()
        checkpoint["train_loss_sum"] = (epoch_sum, self._epoch_count)
        checkpoint["train_loss_window"] = (window_sum, self._window_count)

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        # Lightning restores these after configure_optimizers, which checks them first.
        self._restored_schedulers = list(checkpoint.get("lr_schedulers", []))
        self.best_val_loss = checkpoint.get("best_val_loss", float("inf"))
        epoch_sum, self._epoch_count = checkpoint.get("train_loss_sum", (torch.zeros(()), 0))
        window_sum, self._window_count = checkpoint.get("train_loss_window", (torch.zeros(()), 0))
        self._loss_sums = torch.stack([epoch_sum, window_sum]).float().to(self.device)
        state = checkpoint.get("carried_state")
        self._state = None if state is None else tuple(s.to(self.device) for s in state)

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        self.score(self.net(x), y)

    def score(self, pred: torch.Tensor, y: torch.Tensor) -> None:
        """Test metrics of predictions `pred` for targets `y` (n, horizon), both scaled: in
        original units, overall and (horizon > 1) per step ahead."""
        pred, true = self.to_original_units(pred), self.to_original_units(y)
        self.test_metrics.update(pred, true)
        self.log_dict(self.test_metrics, batch_size=len(true))
        if self.step_metrics is not None:
            self.step_metrics.update(pred, true)

    def on_test_epoch_end(self) -> None:
        # test/* at the optimizer step, as every curve: Lightning writes a logged "step" as the
        # x value, where it would otherwise take the count of training batches (a group of
        # steps_per_call steps counts once, and a resumed epoch's groups anew) and add "epoch"
        step = self.trainer.global_step if self.fitted_steps is None else self.fitted_steps
        self.log("step", float(step), sync_dist=True)
        if self.step_metrics is None:
            return
        for name, values in self.step_metrics.compute().items():
            for step, value in enumerate(values.tolist(), start=1):
                self.log(f"test/{name}_step{step}", value)
        self.step_metrics.reset()

    def planned_optimizer_steps(self) -> int:
        """The optimizer steps this fit will make (OneCycleLR's total_steps, for instance)."""
        trainer = self.trainer
        batches = trainer.estimated_stepping_batches  # sets the training data up if need be
        if self.automatic_optimization:
            return int(batches)
        loader = trainer.train_dataloader
        per_epoch = min(trainer.num_training_batches * self.steps_per_call, loader.steps)
        total = per_epoch * trainer.max_epochs
        return min(total, trainer.max_steps) if trainer.max_steps >= 0 else total

    def configure_optimizers(self):
        optimizer = self.optimizer_factory(self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        interval = self.scheduler_options["interval"]
        length = self.planned_optimizer_steps() if interval == "step" else self.trainer.max_epochs
        run_length = run_length_kwargs(self.scheduler_factory, int(length))
        scheduler = self.scheduler_factory(optimizer, **run_length)
        self.check_restored_schedule(scheduler, run_length)
        options = self.scheduler_options
        if not self.automatic_optimization:  # step_schedulers reads the monitor itself
            options = {k: v for k, v in options.items() if k != "monitor"}
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, **options}}


def with_log10(name: str, value: float) -> dict[str, float]:
    """{"val/loss": v, "val/log10_loss": log10(v)}: small losses keep a readable curve."""
    group, _, metric = name.partition("/")
    return {name: value, f"{group}/log10_{metric}": math.log10(value) if value > 0 else -math.inf}
