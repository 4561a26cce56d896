"""A sweep's runs named by what differs between them: `hidden_size=16,num_layers=1`.

TensorBoard names a run by its directory under --logdir, and cuts long names at the end: a
name led by overrides every job shares (`trainer.max_epochs=3`) reads the same in every row.
So a sweep job's directory holds only the swept overrides, each key in its shortest form that
still tells it apart from the other swept keys; the job's full overrides stay in its
.hydra/overrides.yaml and in the HParams tab.

Which keys are swept is known only where the sweep starts: the command line's sweep overrides
(`model.hidden_size=8,16`, `choice(...)`, `interval(...)`) and the sweeper's `params` (a grid
config, an Optuna search space). `SweepSummary.on_multirun_start` writes them to
<sweep dir>/swept.yaml; each job (in any launcher's process) reads them there when Hydra
resolves `hydra.sweep.subdir`. Imports neither torch nor Lightning.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import yaml
from hydra.core.override_parser.overrides_parser import OverridesParser

from lstm_lab.files import written_whole

SWEPT_FILE = "swept.yaml"
# Overrides that say how to run, not what: never part of a run's name.
HOW_TO_RUN = ("paths.output_root", "threads", "sweep", "hparams_search", "launcher", "resume")


def _parse(overrides: Iterable[str]):
    return OverridesParser.create().parse_overrides([str(o) for o in overrides])


def is_named(key: str) -> bool:
    """Whether an override's key says what a run is (not how it runs)."""
    return key not in HOW_TO_RUN and not key.startswith(("hydra.", "hydra/"))


def swept_keys(task_overrides: Iterable[str], sweeper_params: Iterable[str]) -> list[str]:
    """The keys a sweep varies: sweep-syntax overrides and the sweeper's params, sorted."""
    keys = {o.key_or_group for o in _parse(task_overrides) if o.is_sweep_override()}
    keys |= {str(k) for k in sweeper_params}
    return sorted(k for k in keys if is_named(k))


def write_swept(sweep_dir: Path, keys: list[str]) -> None:
    with written_whole(sweep_dir / SWEPT_FILE) as tmp:  # read by each job as it starts
        tmp.write_text(yaml.safe_dump({"swept": keys}))


def read_swept(sweep_dir: Path) -> list[str] | None:
    """The swept keys of the sweep in `sweep_dir`; None when it has no record of them."""
    try:
        return list(yaml.safe_load((Path(sweep_dir) / SWEPT_FILE).read_text())["swept"])
    except (OSError, TypeError, KeyError, yaml.YAMLError):
        return None


def short_keys(keys: list[str]) -> dict[str, str]:
    """Each dotted key by its shortest ending no other key shares: model.hidden_size ->
    hidden_size, but data.window and model.window keep their first part."""
    out = {}
    for key in keys:
        parts = key.split(".")
        for n in range(1, len(parts) + 1):
            tail = ".".join(parts[-n:])
            if not any(o != key and (o == tail or o.endswith("." + tail)) for o in keys):
                break
        out[key] = tail
    return out


def short_value(value: str) -> str:
    """A value as a directory name: long floats to 3 significant digits, paths to their file."""
    if "/" in value:
        value = value.rstrip("/").rsplit("/", 1)[-1]
    if len(value) > 6:
        try:
            number = float(value)
        except ValueError:
            return value
        if not number.is_integer():
            return f"{number:.3g}"
    return value


def run_name(overrides: Iterable[str], swept: list[str] | None) -> str:
    """The run's name: its swept overrides (all of its overrides when `swept` is None)."""
    parsed = [o for o in _parse(overrides) if is_named(o.key_or_group)]
    if swept is not None:
        parsed = [o for o in parsed if o.key_or_group in swept]
    names = short_keys(sorted({o.key_or_group for o in parsed}))
    parts = sorted(
        (o.key_or_group, f"{names[o.key_or_group]}={short_value(o.get_value_element_as_str())}")
        for o in parsed
    )
    return ",".join(part for _, part in parts)
