"""What the main process needs back from a run, wherever Lightning ran it.

Under `ddp_spawn` or `ddp_fork` training and testing run in child processes; Lightning hands
the main process only the last weights, the best checkpoint's path and
`trainer.callback_metrics`. `RunProgress` adds the run's progress to those metrics, so the
main process can write metrics.json and the report as a single process would.
"""

from __future__ import annotations

import lightning as L
import torch

from lstm_lab.records.report import process_age_s
from lstm_lab.training.determinism import restore_uninitialized_fill, skip_uninitialized_fill

PROGRESS = ("run/epochs", "run/global_step", "run/time_to_first_step_s")


class RunProgress(L.Callback):
    """Per process: torch threads (a spawned child starts with torch's default), deterministic
    algorithms without torch's fill of new tensors while a stage runs (training/determinism.py;
    one callback for both: every callback costs every optimizer step a hook call) and the time
    from process start to the first training step (for the benchmark); at the end of fit:
    epochs, steps, that time and the best val/loss, into the metrics that reach the main
    process.

    `ran_here` holds the stages (fit, test) that ran in this process: a child process works
    on its own copy of the callback, so the main process's copy stays empty when they spawn.
    """

    def __init__(self, threads: int | None = None) -> None:
        self.threads = threads
        self.time_to_first_step_s: float | None = None
        self.ran_here: set[str] = set()
        self.fill_before: bool | None = None

    def setup(self, trainer: L.Trainer, pl_module, stage: str) -> None:
        self.ran_here.add(stage)
        if isinstance(self.threads, int):  # an explicit or chosen count, not "auto"
            torch.set_num_threads(self.threads)
        self.fill_before = skip_uninitialized_fill()

    def teardown(self, trainer: L.Trainer, pl_module, stage: str) -> None:
        restore_uninitialized_fill(self.fill_before)
        self.fill_before = None

    def on_exception(self, trainer: L.Trainer, pl_module, exception: BaseException) -> None:
        self.teardown(trainer, pl_module, "")  # Lightning skips teardown after an exception

    def on_train_batch_start(self, trainer: L.Trainer, pl_module, batch, batch_idx: int) -> None:
        if self.time_to_first_step_s is None:
            self.time_to_first_step_s = process_age_s()

    def on_train_end(self, trainer: L.Trainer, pl_module) -> None:
        first_step = self.time_to_first_step_s
        trainer.callback_metrics.update(
            {
                "run/epochs": torch.tensor(trainer.current_epoch),
                "run/global_step": torch.tensor(trainer.global_step),
                "run/time_to_first_step_s": torch.tensor(
                    float("nan") if first_step is None else first_step, dtype=torch.float64
                ),
                # the lowest val/loss (synced, so equal on every rank), as self.log would give
                # it: in the default dtype
                "val/loss_best": torch.tensor(pl_module.best_val_loss),
            }
        )


def run_progress(trainer: L.Trainer) -> RunProgress:
    return next(c for c in trainer.callbacks if isinstance(c, RunProgress))


def progress(trainer: L.Trainer, module) -> dict:
    """epochs, global_step, best_val_loss and time_to_first_step_s of the fit just done."""
    here = run_progress(trainer)
    if "fit" in here.ran_here:
        return {
            "epochs": trainer.current_epoch,
            "global_step": trainer.global_step,
            "best_val_loss": module.best_val_loss,
            "time_to_first_step_s": here.time_to_first_step_s,
        }
    got = trainer.callback_metrics
    first_step = float(got["run/time_to_first_step_s"]) if PROGRESS[2] in got else float("nan")
    best = float(got["val/loss_best"]) if "val/loss_best" in got else float("inf")
    module.best_val_loss = best
    return {
        "epochs": int(got["run/epochs"]) if PROGRESS[0] in got else None,
        "global_step": int(got["run/global_step"]) if PROGRESS[1] in got else None,
        "best_val_loss": best,
        "time_to_first_step_s": None if first_step != first_step else first_step,
    }


def load_tested_weights(trainer: L.Trainer, module, checkpoint: str | None) -> None:
    """After a spawned test: the main process's module takes the tested (best) weights, as a
    single process's module has them after `trainer.test(ckpt_path="best")`."""
    if "test" not in run_progress(trainer).ran_here and checkpoint:
        from lstm_lab.records.checkpoints import load_checkpoint

        module.load_state_dict(load_checkpoint(checkpoint)["state_dict"])
