"""Will the run fit in memory? A lower bound of what it needs, checked before any training.

The estimate counts only what a run certainly holds at once: the weights with their gradients
and optimizer state (four copies of the parameters, as Adam keeps), the data tensors (window
mode holds every window), and what the network keeps of one training batch for the backward
pass (the LSTM: about six values per hidden unit, layer, step and sample). What a network
needs for it is declared on its class or measured on the meta device (`network_size`), so a
network of yours is sized by what it is, never as nothing. Real use is higher, so a run
refused here could never have fit, and a run that passes may still run out: `is_out_of_memory`
tells such a failure from other errors, for a one-line report.
"""

from __future__ import annotations

import os
from pathlib import Path

from lstm_lab.config import ConfigError, schema
from lstm_lab.models.build import network_class, network_kwargs, target_of

FLOAT = 4  # bytes of a float32
PARAM_COPIES = 4  # weight, gradient, two optimizer moments


def built_network(model: dict, n_features: int, horizon: int):
    """The network the model section names, built on the meta device (no memory taken), or for
    real where its class's code needs real tensors; a class that cannot be built either way
    is refused in one line."""
    import torch

    network = schema.network_section(model)
    target, kwargs = target_of(network), network_kwargs(network)
    cls = network_class(target)
    for device in ("meta", "cpu"):
        try:
            with torch.device(device):
                return cls(input_size=n_features, horizon=horizon, **kwargs)
        except Exception as error:  # the user's code: any failure is the class's
            failure = error
    first = str(failure).strip().splitlines()[0] if str(failure).strip() else ""
    raise ConfigError(
        "model._target_",
        f"{target} cannot be built to size the run: {type(failure).__name__}: {first}",
    )


def network_size(model: dict, n_features: int, horizon: int, steps: int) -> tuple[str, int, int]:
    """(the key to lower, the network's parameters, the values its backward pass keeps per
    sample over `steps` steps). Parameters are counted on the network itself (built_network);
    the values kept come from its class's `kept_per_step` (see RecurrentRegressor), or, for a
    class that declares none, are measured: what autograd saves for two samples less what it
    saves for one."""
    net = built_network(model, n_features, horizon)
    cls, kwargs = type(net), network_kwargs(schema.network_section(model))
    params = sum(p.numel() for p in net.parameters())
    size_key = getattr(cls, "size_key", None)
    key = f"model.{size_key}" if size_key else "model._target_"
    if hasattr(cls, "kept_per_step"):
        return key, params, steps * cls.kept_per_step(**kwargs)
    device = next(net.parameters()).device if params else "meta"
    try:
        two, one = (saved_values(net, b, steps, n_features, device) for b in (2, 1))
    except Exception:  # a forward that fails: build.check_network refuses it, saying why
        return key, params, 0
    return key, params, two - one


def saved_values(net, batch: int, steps: int, n_features: int, device) -> int:
    """Values autograd saves for the backward pass of `net` on a (batch, steps, features)
    input on `device` (the meta device: no memory, no arithmetic)."""
    import torch

    saved = []

    def pack(tensor):
        saved.append(tensor.numel())
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        net(torch.zeros(batch, steps, n_features, device=device))
    return sum(saved)


def needs(plain: dict, n_points: int, n_features: int) -> dict[str, int]:
    """Bytes the run needs at least, by the key that governs each part."""
    model, data = plain["model"], plain["data"]
    if model["stateful"]:
        batch, steps, batch_key = model["streams"], model["bptt"], "model.bptt"
        data_bytes = n_points * (n_features + data["horizon"]) * FLOAT * 3  # train, val, test
    else:
        train_windows = int(n_points * data["split"]["train"])
        batch = data["batch_size"] or train_windows
        steps, batch_key = data["window"], "data.batch_size"
        data_bytes = n_points * (data["window"] * n_features + data["horizon"]) * FLOAT
    size_key, params, kept = network_size(model, n_features, data["horizon"], steps)
    return {
        size_key: params * PARAM_COPIES * FLOAT,
        batch_key: batch * kept * FLOAT,
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
    lower = "use a smaller network" if key == "model._target_" else f"lower {key}"
    raise ConfigError(
        key,
        f"the run needs at least {gb(total)} of memory ({shares}{per}), more than the "
        f"{gb(free)} {where}; {lower}",
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
