"""The curve points a resumed run finds in its directory, which it logs no second time; and the
metrics.csv rows a fit wrote in processes of its own, which the test's processes keep."""

from __future__ import annotations

import csv
from pathlib import Path

import lightning as L
from lightning.pytorch.loggers import CSVLogger
from tensorboard.backend.event_processing.event_accumulator import SCALARS, EventAccumulator


def written_points(trainer: L.Trainer, run_dir: Path) -> dict[object, set[tuple[str, int]]]:
    """Each logger's (tag, step) of the scalars its stopped process wrote (a run resumed there
    logs only the others: each point once, whether that process wrote it or not): a CSVLogger's
    rows, which it keeps (`keep_csv_rows`); the TensorBoard events of `run_dir` for the others."""
    events = EventAccumulator(str(run_dir), size_guidance={SCALARS: 0})
    events.Reload()
    points = {(tag, e.step) for tag in events.Tags()[SCALARS] for e in events.Scalars(tag)}
    return {
        logger: keep_csv_rows(logger) if isinstance(logger, CSVLogger) else points
        for logger in trainer.loggers
    }


def keep_csv_rows(logger) -> set[tuple[str, int]]:
    """A CSVLogger removes the metrics.csv it finds when it starts writing (Lightning's
    ExperimentWriter), which in a resumed run is its stopped process's: those rows, read
    first and logged again, so the file holds every row once; their (column, step) pairs."""
    path = Path(logger.log_dir) / "metrics.csv"
    if not path.is_file():
        return set()
    with path.open(newline="") as file:
        rows = [
            {k: v for k, v in row.items() if v not in ("", None)} for row in csv.DictReader(file)
        ]
    logger.experiment  # noqa: B018  the writer, started now: the old file goes
    points = set()
    for row in rows:
        step = int(row.pop("step"))
        logger.log_metrics({k: _csv_number(v) for k, v in row.items()}, step)
        points.update((k, step) for k in row)
    logger.save()
    return points


def keep_fitted_csv_rows(trainer: L.Trainer) -> None:
    """Before a test in processes of its own (ddp_fork, ddp_spawn: the fit's processes have
    ended): each CSVLogger's rows of the fit, read and logged again here, or the test's new
    writer would remove the metrics.csv the fit wrote and leave the test's rows alone."""
    for logger in trainer.loggers:
        if isinstance(logger, CSVLogger):
            keep_csv_rows(logger)


def _csv_number(text: str) -> float | int:
    try:
        return int(text)
    except ValueError:
        return float(text)
