"""lstm-train's work on a composed config, before and around the run itself: the saved config
of a resumed run, validation, the series and every check that needs it (evaluation settings,
targets, memory), the checkpoint training starts from, then `train_and_test`.

Only Hydra and numpy are imported until the config has passed validation, so config errors
answer in about a second; torch and Lightning come with training/run.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from lstm_lab.config import ConfigError, check_evaluation, check_targets, validate
from lstm_lab.records import sweep
from lstm_lab.records.rundirs import is_run_dir
from lstm_lab.training.debug import check_debug
from lstm_lab.training.strategies import check_accelerator, check_strategy


def train_from_config(cfg: DictConfig) -> dict[str, Any]:
    """Validate -> series -> checks -> memory -> checkpoint -> train and test: the run's
    metrics. Runs inside a Hydra job (HydraConfig set: the overrides, the run directory)."""
    from lstm_lab.pipeline import build_series

    cfg = resumed_config(cfg)
    plain = validate(cfg)
    check_strategy(plain, sweep.in_multirun(), _launcher())
    check_debug(plain)
    series = build_series(plain)
    check_evaluation(plain, *series.shape)
    check_targets(plain)
    check_accelerator(plain)
    from lstm_lab.training.memory import check_fits

    check_fits(plain, *series.shape)
    ckpt_path = start_checkpoint(plain, series.shape[1])
    from lstm_lab.records import runlog  # the run's train.log
    from lstm_lab.training.run import train_and_test  # torch and Lightning from here on
    from lstm_lab.training.stopped import RunStopped

    runlog.started(plain)
    try:
        metrics = train_and_test(cfg, plain, series, ckpt_path=ckpt_path)
    except RunStopped as stop:
        runlog.stopped(str(stop))
        raise
    runlog.finished(metrics)
    return metrics


def resumed_config(cfg: DictConfig) -> DictConfig:
    """With `resume=<run dir>`: that run's saved config, which a resume must not change."""
    resume = cfg.get("resume")
    if not resume:
        return cfg
    if not isinstance(resume, str) or not is_run_dir(resume):
        raise ConfigError(
            "resume", f"{resume} is not a run directory (it has no .hydra/config.yaml)"
        )
    from hydra.core.hydra_config import HydraConfig

    others = [o for o in HydraConfig.get().overrides.task if not o.startswith("resume=")]
    if others:
        raise ConfigError(
            "resume", f"a resumed run keeps its saved config; drop {' '.join(others)}"
        )
    if cfg.get("ckpt_path"):
        raise ConfigError("ckpt_path", "give either resume or ckpt_path, not both")
    saved = OmegaConf.load(Path(resume) / ".hydra" / "config.yaml")
    status = _status(Path(resume))
    if status == "completed":
        raise ConfigError("resume", f"{resume} has already completed (see its metrics.json)")
    with open_dict(saved):
        saved.resume = resume
        saved.ckpt_path = None
    return saved


def _launcher() -> str | None:
    """The Hydra launcher's config name (basic, joblib, submitit_slurm, ...)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None
    return HydraConfig.get().runtime.choices.get("hydra/launcher")


def _status(run_dir: Path) -> str | None:
    try:
        return json.loads((run_dir / "metrics.json").read_text()).get("status")
    except (OSError, ValueError):
        return None


def start_checkpoint(plain: dict, n_features: int | None = None) -> str | None:
    """The checkpoint training continues from (resume: the run's last.ckpt), checked safely."""
    from lstm_lab.records.checkpoints import check_training_checkpoint
    from lstm_lab.records.rundirs import checkpoint_dir
    from lstm_lab.training.strategies import steps_per_call

    if plain.get("resume"):
        last = checkpoint_dir(plain) / "last.ckpt"
        if not last.is_file():
            raise ConfigError(
                "resume",
                f"{plain['resume']} has no {last.name} to continue from (it stopped before its "
                "first epoch ended); start it again instead",
            )
        check_training_checkpoint(last, "resume", steps_per_call(plain), plain, n_features)
        return str(last)
    if plain.get("ckpt_path"):
        check_training_checkpoint(
            plain["ckpt_path"], "ckpt_path", steps_per_call(plain), plain, n_features
        )
        return plain["ckpt_path"]
    return None
