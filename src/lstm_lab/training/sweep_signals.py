"""A parallel sweep stopped by SIGTERM or Ctrl-C: every running job stops as a single run does.

`launcher=joblib` runs the jobs in loky worker processes; the sweep's own process only waits.
A SIGTERM sent to it (by a scheduler, `kill`, `timeout`) ended it at once and left the workers
training on, unrecorded. `StopJobsOnSignal` leaves a `.stopping` mark in the sweep directory
instead, which every job's CheckpointOnInterrupt looks for before each training batch: a job
in training stops after its current batch, saves `last.ckpt` and marks its metrics.json
`interrupted` (training/safeguards.py), as on a signal of its own; a job already testing
finishes; one that a worker starts after the mark stops at its first batch the same way.
(Signals are not passed on to the workers: one that arrives outside training, in a test
or between jobs, would end the worker, and the job with it, unrecorded.) Once every started
job has recorded how it ended (or after `WAIT_S`), the sweep ends with exit status 128 + the
signal. Finished jobs keep their results; each stopped one continues with
`lstm-train resume=<its directory>`.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from lstm_lab.files import written_whole
from lstm_lab.records.sweep import in_multirun, job_dirs
from lstm_lab.training.finishing import signal_name

# The signals that stop a run (and a sweep) with a checkpoint; training/safeguards.py too.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
STOPPING = ".stopping"  # in the sweep directory, while a signalled sweep's jobs stop
WAIT_S = 60.0  # the longest the sweep waits for its jobs to stop


def stop_mark() -> Path | None:
    """Where this job's sweep announces a stop (a job of a parallel sweep), else None."""
    if not in_multirun():
        return None
    return Path(HydraConfig.get().sweep.dir) / STOPPING


def unfinished(sweep_dir: Path) -> list[Path]:
    """Jobs that started and have not yet written their metrics.json."""
    return [job for job in job_dirs(sweep_dir) if not (job / "metrics.json").exists()]


class StopJobsOnSignal(Callback):
    """Hydra callback: from the sweep's start to its end, SIGTERM and SIGINT that reach the
    sweep's process mark the sweep stopping, and the sweep waits for its jobs to stop."""

    def __init__(self, prog: str = "lstm-train") -> None:
        self.prog = prog
        self.sweep_dir: Path | None = None
        self.previous: dict[int, Any] = {}

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.sweep_dir = Path(str(config.hydra.sweep.dir))
        for signum in STOP_SIGNALS:
            self.previous[signum] = signal.signal(signum, self.on_signal)

    def on_signal(self, signum: int, frame) -> None:
        # while the jobs stop: a second Ctrl-C aborts, as a single run's does; SIGTERM again
        # (a scheduler's, or each job's) changes nothing
        signal.signal(signal.SIGINT, self.previous.get(signal.SIGINT, signal.default_int_handler))
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if self.sweep_dir is not None and self.sweep_dir.is_dir():
            mark = self.sweep_dir / STOPPING
            with written_whole(mark) as tmp:  # the jobs read it while they run
                tmp.write_text(str(signum))
            deadline = time.monotonic() + WAIT_S
            while unfinished(self.sweep_dir) and time.monotonic() < deadline:
                time.sleep(0.2)
            mark.unlink(missing_ok=True)
            left = len(unfinished(self.sweep_dir))
            print(
                f"{self.prog}: error: sweep stopped by {signal_name(signum)}; continue each "
                "interrupted job with lstm-train resume=<its directory>"
                + (f"; {left} job(s) did not stop in {WAIT_S:.0f} s" if left else ""),
                file=sys.stderr,
            )
        raise SystemExit(128 + signum)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        self.previous = {}
