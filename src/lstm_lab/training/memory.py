"""Will the run fit in memory? A lower bound of what it needs, checked before any training.

The estimate counts only what a run certainly holds at once: the weights with their gradients
and optimizer state (four copies of the parameters, as Adam keeps), the data tensors (window
mode holds every window), and what the LSTM keeps of one training batch for the backward
pass (about six values per hidden unit, layer, step and sample). Real use is higher, so a run
refused here could never have fit, and a run that passes may still run out: `is_out_of_memory`
tells such a failure from other errors, for a one-line report.
"""

from __future__ import annotations

import os
from pathlib import Path

from lstm_lab.config import ConfigError

FLOAT = 4  # bytes of a float32
PARAM_COPIES = 4  # weight, gradient, two optimizer moments


# Gates of the built-in networks; a network of the user's is sized only once it is built.
GATES = {"lstm_lab.models.lstm.LSTMRegressor": 4, "lstm_lab.models.gru.GRURegressor": 3}


def lstm_parameters(n_features: int, hidden: int, layers: int, horizon: int, gates: int = 4) -> int:
    """Parameters of LSTMRegressor (GRURegressor: 3 gates): the recurrent layers (`gates`
    gates, two biases) and the linear head."""
    first = gates * hidden * (n_features + hidden + 2)
    others = gates * hidden * (2 * hidden + 2) * (layers - 1)
    return first + others + (hidden + 1) * horizon


def needs(plain: dict, n_points: int, n_features: int) -> dict[str, int]:
    """Bytes the run needs at least, by the key that governs each part."""
    model, data = plain["model"], plain["data"]
    gates = GATES.get(model.get("_target_", "lstm_lab.models.lstm.LSTMRegressor"))
    hidden, layers = model.get("hidden_size", 0), model.get("num_layers", 0)
    if gates is None:  # a network of the user's: its size is unknown before it is built
        hidden = layers = 0
    params = lstm_parameters(n_features, hidden, layers, data["horizon"], gates or 4)
    if model["stateful"]:
        batch, steps, batch_key = model["streams"], model["bptt"], "model.bptt"
        data_bytes = n_points * (n_features + data["horizon"]) * FLOAT * 3  # train, val, test
    else:
        train_windows = int(n_points * data["split"]["train"])
        batch = data["batch_size"] or train_windows
        steps, batch_key = data["window"], "data.batch_size"
        data_bytes = n_points * (data["window"] * n_features + data["horizon"]) * FLOAT
    return {
        "model.hidden_size": params * PARAM_COPIES * FLOAT,
        # a recurrent layer keeps its gates and (h, c) per hidden unit, layer, step and sample
        batch_key: batch * steps * layers * hidden * ((gates or 4) + 2) * FLOAT,
        "data.window": data_bytes,
    }


def available_ram() -> int | None:
    """Bytes of RAM available to new allocations (Linux MemAvailable), or None if unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def uses_cuda(trainer: dict) -> bool:
    import torch

    accelerator = str(trainer.get("accelerator", "auto"))
    if accelerator not in ("gpu", "cuda", "auto") or not torch.cuda.is_available():
        return False
    # a forking strategy must not touch CUDA in the main process before it forks
    return "fork" not in str(trainer.get("strategy", "auto"))


def available(plain: dict) -> tuple[int | None, str, int]:
    """(free bytes, where, processes sharing them) for the device the run trains on."""
    trainer = plain.get("trainer") or {}
    if uses_cuda(trainer):
        import torch

        return torch.cuda.mem_get_info()[0], "free on the GPU", 1
    devices = trainer.get("devices", 1)
    processes = devices if isinstance(devices, int) and devices > 0 else 1
    return available_ram(), "of RAM available", processes


def gb(n: float) -> str:
    return f"{n / 1e9:.3g} GB" if n >= 1e8 else f"{n / 1e6:.2g} MB"


def check_fits(plain: dict, n_points: int, n_features: int) -> None:
    """Refuse (ConfigError naming the key behind the largest part) a run that cannot fit."""
    free, where, processes = available(plain)
    if free is None:
        return
    parts = needs(plain, n_points, n_features)
    total = sum(parts.values()) * processes
    if total <= free:
        return
    key = max(parts, key=parts.get)
    shares = ", ".join(f"{k} {gb(v)}" for k, v in parts.items())
    per = f" x {processes} processes" if processes > 1 else ""
    raise ConfigError(
        key,
        f"the run needs at least {gb(total)} of memory ({shares}{per}), more than the "
        f"{gb(free)} {where}; lower {key}",
    )


def is_out_of_memory(error: BaseException) -> bool:
    """Whether an exception is torch running out of memory (CUDA, or the CPU allocator)."""
    import torch

    if isinstance(error, torch.OutOfMemoryError):
        return True
    text = str(error)
    return isinstance(error, RuntimeError) and (
        "can't allocate memory" in text or "out of memory" in text.lower()
    )
