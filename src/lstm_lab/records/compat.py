"""Whether a checkpoint fits the run that loads it, judged from configs before Lightning loads it.

Every checkpoint carries the settings its weights and training state depend on (`RUN_CONFIG`,
written by the RecordRunConfig callback); a checkpoint written before that comes with the run
directory it sits in (`<run>/checkpoints/x.ckpt` -> `<run>/.hydra/config.yaml`). A setting that
differs between those and the composed config is refused in one line naming every such key,
instead of Lightning's 60-line `load_state_dict` size mismatch from inside `fit`.

Settings that define the network and what it reads must match (the `model` section but for the
keys of `MAY_CHANGE`, data.window, data.horizon, data.transform, data.series.features and the
number of features); everything else (epochs, learning rate, optimizer, scheduler, batch size,
the series itself, callbacks, loggers, ...) may change when training continues from it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lstm_lab.config.keyspec import ConfigError

# Where a checkpoint keeps the settings it depends on (a dict of dotted keys -> plain values).
RUN_CONFIG = "run_config"

# Keys of the model section a run may change when it continues from a checkpoint: dropout and
# carry_state change how training proceeds, not the weights; steps_per_call has its own check.
MAY_CHANGE = ("model.dropout", "model.carry_state", "model.steps_per_call")
# How stateful mode cuts the series into streams: nothing a window-mode run depends on.
STREAM_KEYS = ("model.bptt", "model.streams")


def _flat(section: Any, prefix: str) -> dict[str, Any]:
    if not isinstance(section, dict):
        return {prefix: section}
    out: dict[str, Any] = {}
    for key, value in section.items():
        out.update(_flat(value, f"{prefix}.{key}"))
    return out


def compat_config(plain: dict, n_features: int | None = None) -> dict[str, Any]:
    """The settings a checkpoint of this run depends on, as dotted keys (plain values)."""
    model = {k: v for k, v in _flat(plain.get("model") or {}, "model").items()}
    data = plain.get("data") or {}
    series = data.get("series") or {}
    found = {k: v for k, v in model.items() if k not in MAY_CHANGE}
    found["data.horizon"] = data.get("horizon")
    found["data.transform"] = data.get("transform", "none")
    if (plain.get("model") or {}).get("stateful"):  # stateful mode reads no windows
        found.pop("data.window", None)
    else:  # and window mode no streams
        found["data.window"] = data.get("window")
        for key in STREAM_KEYS:
            found.pop(key, None)
    if isinstance(series, dict) and series.get("features") is not None:
        found["data.series.features"] = list(series["features"])
    if n_features is not None:
        found["n_features"] = int(n_features)
    plain_types = (str, int, float, bool, list)
    return {k: v for k, v in found.items() if v is None or isinstance(v, plain_types)}


def saved_config(checkpoint: dict, path: str | Path) -> dict[str, Any] | None:
    """The settings the checkpoint was written with: its own record, else its run's config."""
    recorded = checkpoint.get(RUN_CONFIG)
    if isinstance(recorded, dict):
        return recorded
    config_file = Path(path).resolve().parent.parent / ".hydra" / "config.yaml"
    if not config_file.is_file():
        return None
    from omegaconf import OmegaConf

    try:
        saved = OmegaConf.load(config_file)
        own = OmegaConf.masked_copy(saved, [k for k in ("model", "data") if k in saved])
        return compat_config(OmegaConf.to_container(own, resolve=True))
    except Exception:  # an unreadable run config: nothing to compare, the weights' check remains
        return None


def differences(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """`key=saved (this run: current)` for every key both know and set differently."""
    return [
        f"{key}={_show(saved[key])} (this run: {_show(current[key])})"
        for key in current
        if key in saved and saved[key] != current[key]
    ]


def _show(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ",".join(str(v) for v in value) + "]"
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    return str(value)


def check_compatible(
    checkpoint: dict, path: str | Path, plain: dict, n_features: int | None, key: str
) -> None:
    """ConfigError naming `key`, the file and each differing setting, when the checkpoint was
    written with settings this run cannot load it under."""
    saved = saved_config(checkpoint, path)
    if saved is None:
        return
    differ = differences(saved, compat_config(plain, n_features))
    if differ:
        raise ConfigError(
            key,
            f"{path} was written with {', '.join(differ)}; a checkpoint loads only into the "
            "same network, window, horizon, features, transform and mode: set those as it was "
            "written, or start without it",
        )
