"""Loading checkpoints safely: the one place lstm-train opens a checkpoint file.

A checkpoint is a pickle, and unpickling can run any code the file names. Every load goes
through `torch.load(..., weights_only=True)`, whose unpickler accepts tensors and plain data
only; a file that asks for anything else is refused with one line naming it, before one
byte of its payload runs. Lightning's own loads (`fit`/`test` with `ckpt_path`) are given
`weights_only=True` too (see `WEIGHTS_ONLY` in run.py).
"""

from __future__ import annotations

import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

from lstm_lab.config import ConfigError

# What a checkpoint must hold for training to continue from it.
TRAINING_STATE = ("state_dict", "optimizer_states", "loops", "epoch", "global_step")


def load_checkpoint(path: str | Path, key: str) -> dict[str, Any]:
    """The checkpoint at `path` as plain data; ConfigError(key, ...) when it is missing,
    unreadable, not a checkpoint, or asks the unpickler for more than tensors and plain data."""
    import torch

    path = Path(path)
    if not path.exists():
        raise ConfigError(key, f"no such file: {path}")
    if not path.is_file():
        raise ConfigError(key, f"{path} is a directory; give a .ckpt file")
    try:
        with path.open("rb") as f:
            loaded = torch.load(f, map_location="cpu", weights_only=True)
    except PermissionError:
        raise ConfigError(key, f"cannot read {path}: permission denied") from None
    except pickle.UnpicklingError as error:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(error))
        if found:
            raise ConfigError(
                key,
                f"refused {path}: it asks to run {found.group(1)} when loaded; a checkpoint "
                "holds tensors and plain data only (loaded with weights_only=True)",
            ) from None
        raise ConfigError(key, f"{path} is not a readable checkpoint (not a torch file)") from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ConfigError(key, f"{path} is not a readable checkpoint ({first})") from None
    if not isinstance(loaded, dict):
        raise ConfigError(key, f"{path} is not a Lightning checkpoint (no dict inside)")
    return loaded


def check_training_checkpoint(path: str | Path, key: str) -> dict[str, Any]:
    """A checkpoint training can continue from: safe to load and holding the training state."""
    loaded = load_checkpoint(path, key)
    missing = [k for k in TRAINING_STATE if k not in loaded]
    if missing:
        raise ConfigError(
            key, f"{path} holds no training state to continue from (missing {', '.join(missing)})"
        )
    return loaded
