"""What the main process needs back from a DDP run whose processes it spawned.

Under `ddp_spawn` or `ddp_fork` training and testing run in child processes; Lightning hands
the main process only the last weights, the best checkpoint's path and
`trainer.callback_metrics`. `SpawnedProcesses` adds the run's progress to those metrics, so the
main process can write metrics.json and the report as a single process would.
"""

from __future__ import annotations

import lightning as L
import torch
from lightning.pytorch.strategies.launchers.multiprocessing import _MultiProcessingLauncher

PROGRESS = ("run/epochs", "run/global_step", "run/time_to_first_step_s")


def spawns_processes(trainer: L.Trainer) -> bool:
    """Whether fit and test run in child processes (ddp_spawn, ddp_fork), not in this one."""
    return isinstance(trainer.strategy.launcher, _MultiProcessingLauncher)


class SpawnedProcesses(L.Callback):
    """Per process: torch threads (a spawned child starts with torch's default); at the end of
    fit: epochs, steps and the time to the first step, into the metrics that reach the main
    process."""

    def __init__(self, threads: int | None = None) -> None:
        self.threads = threads

    def setup(self, trainer: L.Trainer, pl_module, stage: str) -> None:
        if isinstance(self.threads, int):  # an explicit or chosen count, not "auto"
            torch.set_num_threads(self.threads)

    def on_train_end(self, trainer: L.Trainer, pl_module) -> None:
        first_step = pl_module.time_to_first_step_s
        trainer.callback_metrics.update(
            {
                "run/epochs": torch.tensor(trainer.current_epoch),
                "run/global_step": torch.tensor(trainer.global_step),
                "run/time_to_first_step_s": torch.tensor(
                    float("nan") if first_step is None else first_step, dtype=torch.float64
                ),
            }
        )


def progress(trainer: L.Trainer, module) -> dict:
    """epochs, global_step, best_val_loss and time_to_first_step_s of the fit just done."""
    if not spawns_processes(trainer):
        return {
            "epochs": trainer.current_epoch,
            "global_step": trainer.global_step,
            "best_val_loss": module.best_val_loss,
            "time_to_first_step_s": module.time_to_first_step_s,
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
    if spawns_processes(trainer) and checkpoint:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)["state_dict"]
        module.load_state_dict(state)
