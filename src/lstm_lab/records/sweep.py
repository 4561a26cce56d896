"""Sweeps (`lstm-train -m ...`): one failing job never stops the others, and the sweep ends
with a list of the failed jobs and a non-zero exit status.

A job that fails records `{"status": "failed", "reason": <one line>}` in its metrics.json, so
`lstm-compare` shows it, and returns +inf (the worst value to a minimizing sweeper such as
Optuna's, which would stop the whole search on an exception). `SweepSummary`, a Hydra callback
set in configs/hydra/default.yaml, reads every job's metrics.json when the sweep ends.
Imports neither torch nor Lightning.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig

log = logging.getLogger(__name__)

FAILED_VALUE = float("inf")

# The sweep directories this process started (SweepSummary.on_multirun_start), until they end.
STARTED: list[Path] = []


def in_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def job_name() -> str:
    """The job as its directory names it (runnames: the overrides that differ)."""
    return Path(HydraConfig.get().runtime.output_dir).name


def record_failure(error: BaseException, reason: str, extra: dict[str, Any] | None = None) -> Path:
    """Write the failed job's metrics.json (one-line reason) and log the reason.

    The traceback goes to the job's log file only (`--verbose` shows it on the console too).
    """
    from lstm_lab.records.report import write_json

    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(
        run_dir / "metrics.json",
        {
            "status": "failed",
            "reason": reason,
            "overrides": list(hydra_cfg.overrides.task),
            **(extra or {}),
        },
    )
    trace = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    with open(run_dir / f"{hydra_cfg.job.name}.log", "a") as log_file:
        log_file.write(trace)
    if os.environ.get("LSTM_LAB_VERBOSE") == "1":
        print(trace, file=sys.stderr)
    return run_dir


def job_dirs(sweep_dir: Path) -> list[Path]:
    """Every job directory of a sweep: those Hydra saved a .hydra/ config in."""
    return sorted(p.parent for p in sweep_dir.rglob(".hydra") if p.is_dir())


def failed_jobs(sweep_dir: Path) -> list[tuple[str, str]]:
    """(job directory name, reason) for every job that did not complete."""
    import json

    failed = []
    for job in job_dirs(sweep_dir):
        name = job.relative_to(sweep_dir).as_posix()
        metrics_file = job / "metrics.json"
        if not metrics_file.is_file():
            failed.append((name, "no metrics.json: the job stopped before it finished"))
            continue
        metrics = json.loads(metrics_file.read_text())
        if metrics.get("status") != "completed":
            failed.append((name, metrics.get("reason", f"status {metrics.get('status')!r}")))
    return failed


class SweepSummary(Callback):
    """At the start of a sweep: the keys it varies, for the jobs' names (records/runnames.py).
    At its end: where it is, how to compare it, which jobs failed (exit 1 if any)."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from lstm_lab.records.runnames import swept_keys, write_swept

        hydra_cfg = config.hydra
        params = hydra_cfg.sweeper.get("params")  # a grid config's, or Optuna's search space
        keys = swept_keys(hydra_cfg.overrides.task, list(params) if params else [])
        STARTED.append(Path(str(hydra_cfg.sweep.dir)))
        write_swept(STARTED[-1], keys)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from lstm_lab.records.report import has_tensorboard

        sweep_dir = Path(str(config.hydra.sweep.dir))
        STARTED.clear()
        jobs = job_dirs(sweep_dir)
        failed = failed_jobs(sweep_dir)
        print(f"Sweep: {len(jobs)} jobs, {len(jobs) - len(failed)} completed, {len(failed)} failed")
        print(f"Sweep directory: {sweep_dir}")
        print(f"Compare:         lstm-compare {sweep_dir}")
        if has_tensorboard(sweep_dir):
            print(f"TensorBoard:     tensorboard --logdir {sweep_dir}")
        if failed:
            from lstm_lab.user_errors import CommandExit

            sys.stdout.flush()
            lines = [f"{len(failed)} of {len(jobs)} jobs failed:"]
            lines += [f"  {name}: {reason}" for name, reason in failed]
            # A SystemExit passes through Hydra's callback guard (it catches Exception only);
            # the console script prints it as `prog: error: ...` and exits 1, lstm_lab.train
            # raises it as a CommandError.
            raise CommandExit(1, "\n".join(lines))


def remove_refused_sweeps() -> None:
    """A sweep refused before any job ran (a job's config that does not compose: a mistyped
    key, an option that does not exist) leaves only Hydra's multirun.yaml and swept.yaml in its
    directory, where a new sweep would be refused for them (config/files.py): both go, and the
    directory too when nothing else is in it."""
    while STARTED:
        folder = STARTED.pop()
        if not folder.is_dir() or any(p.is_dir() for p in folder.iterdir()):
            continue  # a job ran: its directory keeps the sweep's
        for name in ("multirun.yaml", "swept.yaml"):
            (folder / name).unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # a folder of the user's, with files of theirs
            folder.rmdir()
