"""Which Lightning strategies a sweep can run: the check is on the config alone (no torch);
and whether the accelerator asked for is there.

Lightning's `ddp` strategy (and `auto` with several devices, which picks it) starts its other
processes by running the command line again. Under a Hydra sweep (`-m`) that command line is
the whole sweep: each extra process would start a sweep of its own, train other
hyperparameters than its rank 0, or fight over the run directories. `ddp_spawn` (and, on CPU,
`ddp_fork`) start their processes from inside the job instead, so they work in a sweep. On a
SLURM cluster (`launcher=submitit_slurm`) SLURM starts one task per device and Lightning joins
them, re-running nothing, so `ddp` is right there.

It also decides where `model.steps_per_call` applies: only in one process, where the module
may step the optimizer itself without Lightning seeing each step.
"""

from __future__ import annotations

from lstm_lab.config import ConfigError

# Strategies that start their processes from within the running job.
IN_PROCESS = ("ddp_spawn", "ddp_fork", "ddp_notebook")
# Hydra launchers whose jobs are started once per device by the cluster itself.
EXTERNAL_PROCESSES = ("submitit_slurm",)


def _several(value, accelerator: str) -> bool:
    """Whether a devices/num_nodes value may mean more than one ("auto" and -1 may, on GPUs)."""
    if isinstance(value, list | tuple):
        return len(value) > 1
    if isinstance(value, str):
        if "," in value:
            return len([v for v in value.split(",") if v.strip()]) > 1
        if value.strip() == "auto":
            return accelerator != "cpu"  # CPU "auto" is one device
        try:
            value = int(value)
        except ValueError:
            return True
    return value == -1 or value > 1


def reruns_command_line(trainer: dict) -> bool:
    """Whether the trainer config makes Lightning run the command line again per process."""
    strategy = trainer.get("strategy", "auto")
    if not isinstance(strategy, str):  # a strategy object (`_target_`): trust the user
        return False
    if strategy.startswith(IN_PROCESS) or strategy in ("single_device", "fsdp_spawn"):
        return False
    if strategy.startswith(("ddp", "fsdp", "deepspeed")):
        return True
    return strategy == "auto" and _several_devices(trainer)


def _several_devices(trainer: dict) -> bool:
    """Whether the trainer config may ask for more than one device or node."""
    accelerator = trainer.get("accelerator", "auto")
    return _several(trainer.get("devices", "auto"), accelerator) or _several(
        trainer.get("num_nodes", 1), accelerator
    )


def one_process(trainer: dict) -> bool:
    """Whether the trainer config trains in this one process (no DDP or other strategy)."""
    strategy = trainer.get("strategy", "auto")
    if strategy == "single_device":
        return True
    return strategy == "auto" and not _several_devices(trainer)


def check_strategy(plain: dict, multirun: bool, launcher: str | None = None) -> None:
    """Refuse, naming trainer.strategy, a strategy that would re-run a sweep's command line."""
    if not multirun or launcher in EXTERNAL_PROCESSES:
        return
    trainer = plain["trainer"]
    if reruns_command_line(trainer):
        strategy = trainer.get("strategy", "auto")
        raise ConfigError(
            "trainer.strategy",
            f"got {strategy!r} with devices={trainer.get('devices')}; in a sweep (-m) it would "
            "re-run the whole command line for each extra process; use trainer.strategy=ddp_spawn",
        )


def check_accelerator(plain: dict) -> None:
    """Refuse, naming trainer.accelerator, a GPU that torch does not find (`trainer=gpu` on a
    machine without one: Lightning's own error, "No supported gpu backend found!", names no key)."""
    accelerator = str((plain.get("trainer") or {}).get("accelerator", "auto"))
    if accelerator not in ("gpu", "cuda", "mps"):
        return
    import torch

    found = {"cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available()}
    if found.get(accelerator) or (accelerator == "gpu" and any(found.values())):
        return
    raise ConfigError(
        "trainer.accelerator",
        f"got {accelerator}, but torch finds no such device on this machine; set "
        "trainer.accelerator=auto (a GPU when there is one, trainer=default) or cpu",
    )


# Trainer settings that need Lightning's automatic optimization (one optimizer step per batch).
AUTOMATIC_ONLY = {
    "gradient_clip_val": lambda v: v not in (None, 0),
    "accumulate_grad_batches": lambda v: v not in (None, 1),
    "precision": lambda v: str(v) in ("16", "16-mixed"),  # loss scaling
}
# Trainer settings that count training batches, of which a group of steps would count as one
# (`val_check_interval=5` would validate every 5 groups, or fail with fewer groups than 5).
COUNTS_BATCHES = {
    "val_check_interval": lambda v: v is not None and not (isinstance(v, float) and v == 1.0),
    "limit_train_batches": lambda v: v is not None and not (isinstance(v, float) and v == 1.0),
    "overfit_batches": lambda v: v not in (None, 0),
}


def steps_per_call(plain: dict) -> int:
    """model.steps_per_call where it applies, else 1: window mode in one process, without
    gradient clipping, accumulation or float16 loss scaling (Lightning does those per batch),
    nor a trainer setting that counts training batches."""
    model, trainer = plain["model"], plain["trainer"]
    if model["stateful"] or not one_process(trainer):
        return 1
    settings = {**AUTOMATIC_ONLY, **COUNTS_BATCHES}
    if any(key in trainer and test(trainer[key]) for key, test in settings.items()):
        return 1
    return model.get("steps_per_call", 1)
