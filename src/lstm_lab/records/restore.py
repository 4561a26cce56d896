"""A trained run brought back for lstm-eval and lstm-predict: its own saved config, its series
and split, and its network with the checkpoint's weights, every failure one line naming the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import OmegaConf

from lstm_lab.config import ConfigError, check_evaluation, schema, validate
from lstm_lab.setting_error import SettingError

# The parts of a run's saved config that define its data and network (the rest, such as the
# run's own paths, are interpolations that only resolve inside that run).
RUN_KEYS = ("seed", "threads", "data", "model", "evaluation")


@dataclass
class RestoredRun:
    run_dir: Path
    ckpt_path: Path
    plain: dict  # the run's validated config (RUN_KEYS), evaluation settings merged in
    series: np.ndarray  # (time, features), original units
    net: Any  # the run's network (model._target_), the checkpoint's weights, CPU, eval mode
    checkpoint_info: dict  # epoch and global_step of the checkpoint
    split: Any = None  # the run's ChronologicalSplit: its split and scaler, as training's

    @property
    def scaler(self):
        """The run's StandardScaler (fitted on its training split)."""
        return self.split.scaler

    @property
    def stateful(self) -> bool:
        return bool(self.plain["model"].get("stateful"))


def locate(run_dir: str | None, ckpt_path: str | None) -> tuple[Path, Path]:
    """The run directory and checkpoint: either may be given; best.ckpt is the default."""
    if not run_dir and not ckpt_path:
        raise ConfigError(
            "run_dir", "give run_dir=<a run directory> or ckpt_path=<a checkpoint in one>"
        )
    if ckpt_path:
        ckpt = Path(ckpt_path)
        # <run>/checkpoints/<name>.ckpt, unless the run directory is given
        run = Path(run_dir) if run_dir else ckpt.parent.parent
    else:
        run = Path(run_dir)
        ckpt = run / "checkpoints" / "best.ckpt"
    if not run_dir and not (run / ".hydra" / "config.yaml").is_file():
        # the run was looked for where the checkpoint is: name the checkpoint, not that folder
        from lstm_lab.records.checkpoints import check_file

        check_file(ckpt)
        raise ConfigError(
            "ckpt_path",
            f"{ckpt}: not in the checkpoints/ folder of a run directory made by lstm-train "
            f"({run} has no .hydra/config.yaml); give its run too: run_dir=<run>",
        )
    if not run.is_dir():
        what = "not a directory" if run.exists() else "no such run directory"
        raise ConfigError("run_dir", f"{run}: {what}")
    if not (run / ".hydra" / "config.yaml").is_file():
        raise ConfigError(
            "run_dir", f"{run}: no .hydra/config.yaml, so not a run directory made by lstm-train"
        )
    return run, ckpt


def load_run_config(run_dir: Path, evaluation: dict | None = None) -> dict:
    """The run's saved config, validated, with `evaluation` settings merged over its own."""
    path = run_dir / ".hydra" / "config.yaml"
    try:
        saved = OmegaConf.load(path)
        own = OmegaConf.masked_copy(saved, [k for k in RUN_KEYS if k in saved])
        plain = OmegaConf.to_container(own, resolve=True)
    except Exception as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise ConfigError(str(path), f"not a readable run config ({first})") from None
    plain["evaluation"] = {**(plain.get("evaluation") or {}), **(evaluation or {})}
    try:
        return validate(plain, every_data_key=False)
    except SettingError as error:
        raise ConfigError(str(path), str(error)) from None


def restore(
    run_dir: str | None, ckpt_path: str | None, evaluation: dict | None = None
) -> RestoredRun:
    """Everything needed to forecast with a trained run; ConfigError on any bad input."""
    from lstm_lab.data.windows import ChronologicalSplit
    from lstm_lab.models.build import BuildError, build_network
    from lstm_lab.pipeline import build_series
    from lstm_lab.records.checkpoints import CheckpointError, load_checkpoint, load_weights

    run, ckpt = locate(run_dir, ckpt_path)
    plain = load_run_config(run, evaluation)
    series = build_series(plain)
    check_evaluation(plain, *series.shape)

    checkpoint = load_checkpoint(ckpt)
    from lstm_lab.records.compat import check_compatible

    check_compatible(checkpoint, ckpt, plain, series.shape[1], "ckpt_path")
    data = plain["data"]
    try:  # the transform's scale comes with the weights
        net = build_network(
            schema.network_section(plain["model"]),
            series.shape[1],
            data["horizon"],
            data.get("transform", "none"),
        )
    except BuildError as error:
        raise ConfigError(error.key, f"{run}/.hydra/config.yaml: {error.message}") from None
    load_weights(net, checkpoint, ckpt)
    split = ChronologicalSplit.of(series, data["split"]["train"], data["split"]["val"])
    scaler = split.scaler
    state = checkpoint["state_dict"]
    if "target_mean" in state and not np.allclose(
        [float(state["target_mean"]), float(state["target_std"])],
        [scaler.mean[0], scaler.std[0]],
        rtol=1e-5,
        atol=1e-7,
    ):
        raise CheckpointError(
            ckpt,
            f"was trained on data with target mean {float(state['target_mean']):.6g} and std "
            f"{float(state['target_std']):.6g}, but {run}/.hydra/config.yaml gives "
            f"{scaler.mean[0]:.6g} and {scaler.std[0]:.6g}; is it from another run?",
        )
    info = {k: checkpoint.get(k) for k in ("epoch", "global_step")}
    return RestoredRun(run, ckpt, plain, series, net.eval(), info, split)
