"""lstm-train: compose the config, validate it, then train, test and report.

Only Hydra and numpy are imported until the config has passed validation, so `--help`,
`--cfg job` and config errors answer in about a second.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf, open_dict

from lstm_lab import CONFIG_DIR, sweep
from lstm_lab.api import make_callable
from lstm_lab.cli import run_cli, user_task
from lstm_lab.config import ConfigError, check_evaluation, check_targets, validate
from lstm_lab.rundirs import is_run_dir, register
from lstm_lab.strategies import check_strategy

register()  # the run-directory resolvers configs/hydra/default.yaml uses


def build_series(plain: dict):
    """The data's series (numpy), checked against the window and split lengths."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    from lstm_lab.data.csv_file import SeriesFileError
    from lstm_lab.data.windows import check_split_lengths, split_bounds

    data = plain["data"]
    for key, value in data["series"].items():
        if value == "???":
            raise ConfigError(
                f"data.series.{key}", f"not set; add data.series.{key}=... to the command"
            )
    try:
        series = instantiate(data["series"])
    except InstantiationException as error:
        if isinstance(error.__cause__, SeriesFileError):
            raise ConfigError(f"data.series.{error.__cause__.key}", str(error.__cause__)) from None
        raise
    series = _checked_series(series, data["series"]["_target_"])
    bounds = split_bounds(len(series), data["split"]["train"], data["split"]["val"])
    try:
        check_split_lengths(bounds, data["window"], data["horizon"])
    except ValueError as error:
        source = data["series"].get("path")
        rows = f"{source} has {len(series)} usable rows: " if source else ""
        raise ConfigError(
            "data.window",
            f"{rows}{error}; lower data.window or data.horizon, or give the split more",
        ) from None
    if plain["model"]["stateful"]:
        from lstm_lab.data.streams import check_stream_lengths

        try:
            check_stream_lengths(
                len(series), data["horizon"], data["split"]["train"], plain["model"]["streams"]
            )
        except ValueError as error:
            raise ConfigError("model.streams", f"{error}; lower model.streams") from None
    return series


def _checked_series(series, target: str):
    """What a series function returned, checked: (time,) or (time, features) numbers, finite.
    Returned as (time, features) float32, the form every DataModule reads."""
    import numpy as np

    try:
        array = np.asarray(series, dtype=np.float32)
    except (TypeError, ValueError):
        array = None
    if array is None or array.ndim not in (1, 2) or not array.size:
        what = f"shape {array.shape}" if array is not None else type(series).__name__
        raise ConfigError(
            "data.series._target_",
            f"{target} returned {what}; a series is a numeric array of shape (time,) "
            "or (time, features), the target in column 0",
        )
    if not np.isfinite(array).all():
        raise ConfigError("data.series._target_", f"{target} returned NaN or infinite values")
    return array[:, None] if array.ndim == 1 else array


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


def start_checkpoint(plain: dict) -> str | None:
    """The checkpoint training continues from (resume: the run's last.ckpt), checked safely."""
    from lstm_lab.checkpoints import check_training_checkpoint
    from lstm_lab.rundirs import checkpoint_dir
    from lstm_lab.strategies import steps_per_call

    if plain.get("resume"):
        last = checkpoint_dir(plain) / "last.ckpt"
        if not last.is_file():
            raise ConfigError(
                "resume",
                f"{plain['resume']} has no {last.name} to continue from (it stopped before its "
                "first epoch ended); start it again instead",
            )
        check_training_checkpoint(last, "resume", steps_per_call(plain))
        return str(last)
    if plain.get("ckpt_path"):
        check_training_checkpoint(plain["ckpt_path"], "ckpt_path", steps_per_call(plain))
        return plain["ckpt_path"]
    return None


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="train")
@functools.partial(user_task, prog="lstm-train")
def train_app(cfg: DictConfig) -> float:
    cfg = resumed_config(cfg)
    plain = validate(cfg)
    check_strategy(plain, sweep.in_multirun(), _launcher())
    series = build_series(plain)
    check_evaluation(plain, len(series), series.shape[1] if series.ndim > 1 else 1)
    check_targets(plain)
    from lstm_lab.memory import check_fits

    check_fits(plain, len(series), series.shape[1] if series.ndim > 1 else 1)
    ckpt_path = start_checkpoint(plain)
    from lstm_lab.run import train_and_test  # torch and Lightning from here on

    return train_and_test(cfg, plain, series, ckpt_path=ckpt_path)["best_val_loss"]


def main() -> None:
    run_cli(train_app, prog="lstm-train")


# `lstm_lab.train([...overrides])` runs this command in-process (see api.py).
make_callable(__name__)

if __name__ == "__main__":
    main()
