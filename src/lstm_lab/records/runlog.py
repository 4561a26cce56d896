"""A run's own log, `train.log` in its directory (Hydra's job log file): what a run was asked,
where it went and how it ended, kept after the terminal is gone. The console shows the same
run as rich tables; the `lstm_lab.run` logger writes to the log file alone (configs/hydra/
default.yaml: its file handler, `propagate: false`), so nothing is printed twice. Rank 0 alone
writes (DDP's other processes share the directory). Imports neither torch nor Lightning."""

from __future__ import annotations

import logging
import os
from typing import Any

log = logging.getLogger("lstm_lab.run")


def _rank_zero() -> bool:
    return os.environ.get("RANK", "0") == "0" and os.environ.get("LOCAL_RANK", "0") == "0"


def started(plain: dict) -> None:
    """The command's overrides and the run's directory, once its config passed every check."""
    if not _rank_zero():
        return
    from hydra.core.hydra_config import HydraConfig

    typed = list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []
    log.info("lstm-train %s", " ".join(typed) if typed else "(the default config)")
    log.info("run directory: %s", plain["paths"]["run_dir"])
    if plain.get("resume"):
        log.info("resumed from %s", plain["resume"])


def finished(metrics: dict[str, Any]) -> None:
    """How the run ended: its status, epochs and steps, time, best val/loss and test metrics."""
    if not _rank_zero():
        return
    test = "  ".join(f"{k} {v:.4g}" for k, v in (metrics.get("test") or {}).items()
                     if k in ("mse", "rmse", "mae"))  # fmt: skip
    log.info(
        "%s: %s epochs, %s optimizer steps, trained and tested in %.1f s; "
        "best val/loss (scaled) %.4g; test (original units): %s",
        metrics.get("status"),
        metrics.get("epochs"),
        metrics.get("global_step"),
        metrics.get("wall_time_s") or 0.0,
        metrics.get("best_val_loss", float("nan")),
        test or "none",
    )


def stopped(message: str) -> None:
    """A run that stopped before its end (a non-finite loss, a signal): the line it printed."""
    if _rank_zero():
        log.error("stopped: %s", message)
