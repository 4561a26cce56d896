"""A parallel sweep's workers, started warm: what every job imports is imported once, in the
sweep's own process, before the launcher starts its workers (`launcher=joblib`): on Linux
without a GPU, its loky workers are then forked from that process, and share what it imported.

Each job of a sweep spends more time importing torch and Lightning (and, through them,
torch._dynamo, torchmetrics, matplotlib) than training a small LSTM. A sequential sweep pays
that once; loky's workers, started afresh, paid it once each, on cores the jobs needed.
"""

from __future__ import annotations

import gc
import importlib
import sys
import warnings
from typing import Any

from hydra.core.utils import JobReturn
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

# What a job imports before its first training step and for its report, in that order.
MODULES = (
    "torch",
    "lightning",
    "lstm_lab.training.run",
    "lstm_lab.training.progress",  # the progress bar (configs/callbacks/default.yaml)
    "lstm_lab.evaluation.forecast",
    "lstm_lab.evaluation.run_figures",
    "lstm_lab.evaluation.suite",
    "lstm_lab.data.csv_file",
    "torch.utils.tensorboard",  # TensorBoardLogger's writer (tensorboardX is not installed)
)


class PreloadForWorkers(Callback):
    """Hydra callback: import `MODULES` when the sweep starts, before any worker exists."""

    def __init__(self, modules: tuple[str, ...] | list[str] = MODULES) -> None:
        self.modules = tuple(modules)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        if not can_fork():
            return  # loky's fresh workers import for themselves: nothing to do here
        for name in self.modules:
            importlib.import_module(name)
        # what was imported stays: the workers' collections skip it, and do not copy its pages
        gc.freeze()
        fork_workers()


class PlainJobReturns(Callback):
    """Hydra callback: a job's return leaves its worker with a plain copy of its Hydra config.

    A worker sends each job's JobReturn back to the sweep's process pickled (cloudpickle).
    Before each job Hydra re-runs its plugins' modules in the worker (`Singleton.set_state`
    scans them again), so the dataclasses typing the job's Hydra config (its launcher's and
    sweeper's) are no longer the ones their modules hold, and cloudpickle pickles them by
    value, searching all of the 3,000 modules a worker has imported for each of their
    methods: about 0.1 s a job on this machine, more than a tenth of a short job's training.
    The copy keeps every key and value; only those types go, which nothing in the sweep's
    process reads.
    """

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if job_return.hydra_cfg is not None:
            job_return.hydra_cfg = OmegaConf.create(OmegaConf.to_container(job_return.hydra_cfg))


def can_fork() -> bool:
    """Linux (fork is unsafe on macOS, absent on Windows), and no GPU: a CUDA driver set up in
    this process would not work in a forked one. torch counts GPUs through NVML where it can,
    without setting the driver up."""
    if not sys.platform.startswith("linux"):
        return False
    import torch

    return torch.cuda.device_count() == 0


def fork_workers() -> None:
    """loky (joblib's backend, which Hydra's joblib launcher always uses) starts its workers
    by fork: they share what this process imported. loky starts them from this thread
    before any thread of its own runs; it warns that fork is unsafe in general (a thread
    holding a lock while the process forks), which is not the case here."""
    from joblib.externals.loky.backend.context import set_start_method

    set_start_method("fork", force=True)
    warnings.filterwarnings("ignore", message="`fork` start method should not be used")
