"""Loading Lightning checkpoints safely: the one place a checkpoint file is opened.

Tensors and plain containers only, never pickled code. Lightning's own loads (`fit`/`test`
with `ckpt_path`) are given `weights_only=True` too (see `WEIGHTS_ONLY` in training/run.py).

Every failure is a `CheckpointError` (a `ConfigError` keyed by the file), so the entry points
report it as one line naming the file: missing, unreadable, not a checkpoint, holding objects
that `torch.load(weights_only=True)` refuses, or weights that do not fit the model.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lstm_lab.config import ConfigError


class CheckpointError(ConfigError):
    def __init__(self, path: str | Path, message: str) -> None:
        super().__init__(str(path), message)
        self.path = Path(path)


def check_file(path: str | Path) -> Path:
    """The checkpoint's path, if it is a file there."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(path, "no such checkpoint file")
    if not path.is_file():
        raise CheckpointError(path, "not a file (a checkpoint is a .ckpt file)")
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The checkpoint's dict, loaded with weights_only=True; it must hold a `state_dict`.

    A checkpoint is a pickle, and unpickling can run any code the file names; the
    weights-only unpickler accepts tensors and plain data alone, so a file that asks for
    more is refused before one byte of its payload runs.
    """
    path = check_file(path)
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except PermissionError:
        raise CheckpointError(path, "cannot read it: permission denied") from None
    except pickle.UnpicklingError as error:
        found = re.search(r"GLOBAL ([\w.]+)", str(error))
        if found:
            raise CheckpointError(
                path,
                f"asks to run {found.group(1)} when loaded; refusing to unpickle it "
                "(checkpoints are loaded with weights_only=True)",
            ) from None
        raise CheckpointError(path, "corrupt or not a PyTorch checkpoint") from None
    except Exception as error:  # truncated zips, empty files, text: torch raises all sorts
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(
            path, f"corrupt, truncated or not a PyTorch checkpoint ({detail})"
        ) from None
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("state_dict"), dict):
        raise CheckpointError(path, "not a Lightning checkpoint (it has no state_dict)")
    return checkpoint


# What a checkpoint must hold for training to continue from it.
TRAINING_STATE = ("state_dict", "optimizer_states", "loops", "epoch", "global_step")


def check_training_checkpoint(
    path: str | Path,
    key: str,
    steps_per_call: int = 1,
    plain: dict | None = None,
    n_features: int | None = None,
) -> None:
    """A checkpoint training can continue from; ConfigError naming `key` (and the file) if not.

    Its loop state counts optimizer steps and batches as the run that wrote it made them, so
    it must be continued with the same (effective) model.steps_per_call; checkpoints that do
    not record one come from one step per batch. With the run's config (`plain`), the
    checkpoint's network, window, horizon, features, transform and mode must be the run's
    (records/compat.py).
    """
    try:
        loaded = load_checkpoint(path)
    except CheckpointError as error:
        raise ConfigError(key, str(error)) from None
    missing = [k for k in TRAINING_STATE if k not in loaded]
    if missing:
        raise ConfigError(
            key, f"{path}: holds no training state to continue from (missing {', '.join(missing)})"
        )
    if plain is not None:
        from lstm_lab.records.compat import check_compatible

        check_compatible(loaded, path, plain, n_features, key)
    written = loaded.get("steps_per_call", 1)
    if written != steps_per_call:
        raise ConfigError(
            "model.steps_per_call",
            f"got {steps_per_call}, but {path} was written with {written} optimizer step(s) per "
            f"batch; continue from it with model.steps_per_call={written}",
        )


def load_weights(
    net: nn.Module, checkpoint: dict[str, Any], path: str | Path, prefix: str = "net."
) -> None:
    """Load the `prefix`ed entries of the checkpoint's state_dict into `net`, strictly.

    A mismatch (another architecture, hidden size, horizon or number of features) is a
    CheckpointError saying which weight does not fit.
    """
    weights = {
        k[len(prefix) :]: v for k, v in checkpoint["state_dict"].items() if k.startswith(prefix)
    }
    expected = net.state_dict()
    missing = sorted(set(expected) - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    wrong = [k for k in expected if k in weights and weights[k].shape != expected[k].shape]
    if wrong:
        k = wrong[0]
        detail = (
            f"{k} has shape {tuple(weights[k].shape)}, the model expects {tuple(expected[k].shape)}"
        )
    elif missing:
        detail = f"no weights for {', '.join(missing[:3])}" + (" ..." if len(missing) > 3 else "")
    elif unexpected:
        detail = f"unexpected weights {', '.join(unexpected[:3])}" + (
            " ..." if len(unexpected) > 3 else ""
        )
    else:
        net.load_state_dict(weights)
        return
    raise CheckpointError(
        path, f"does not fit the model of the run's config: {detail}; is it from another run?"
    )
