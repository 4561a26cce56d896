"""lstm-compare DIR: one table and two figures comparing every run under DIR.

DIR is a sweep (outputs/sweeps/<time>), an Optuna search, outputs/runs, or any folder holding
runs. A run is a directory with a .hydra/config.yaml or a metrics.json; its curves come from
its TensorBoard events, read with TensorBoard's own EventAccumulator. Writes into DIR:
comparison.md, comparison.csv, val_loss_curves.png, test_mse_vs_hidden_size.png.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lstm_lab.files import written_whole
from lstm_lab.setting_error import SettingError

OUTPUTS = {
    "markdown": "comparison.md",
    "csv": "comparison.csv",
    "curves": "val_loss_curves.png",
    "mse": "test_mse_vs_hidden_size.png",
}


@dataclass
class Run:
    name: str  # the run directory, relative to DIR (a sweep's: its overrides)
    path: Path
    hidden_size: int | None = None
    num_layers: int | None = None
    lr: float | None = None
    mode: str | None = None  # window or stateful (model.stateful); None: the run predates it
    network: str = "LSTMRegressor"  # model._target_'s class name (runs before it: the LSTM)
    n_params: int | None = None
    best_val_loss: float | None = None
    test_mse: float | None = None
    startup_s: float | None = None  # process start (or the run's start in a sweep) -> first step
    train_time_s: float | None = None  # first training step -> end of training
    status: str = "incomplete"
    error: str = ""
    val_curve: list[tuple[int, float]] = field(default_factory=list)  # (epoch, val/loss)
    label: str = ""  # the name in figures: without shared overrides, numbers shortened

    def sort_key(self) -> tuple:
        loss = self.best_val_loss
        bad = loss is None or not math.isfinite(loss)
        return (self.status != "completed", bad, loss if not bad else 0.0, self.name)


def find_runs(root: Path) -> list[Path]:
    found = {p.parent for p in root.rglob("metrics.json")}
    found |= {p.parent.parent for p in root.rglob(".hydra/config.yaml")}
    return sorted(found)


def read_events(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Scalar curves of a run, {tag: [(step, value), ...]}, from its TensorBoard events."""
    from tensorboard.backend.event_processing.event_accumulator import (
        SCALARS,
        EventAccumulator,
    )

    event_files = sorted(run_dir.rglob("events.out.tfevents.*"))
    if not event_files:
        return {}
    events = EventAccumulator(str(event_files[0].parent), size_guidance={SCALARS: 0})
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()[SCALARS]}


def _epochs(curve: list[tuple[int, float]], epoch_curve: list[tuple[int, float]]) -> list:
    """Put a per-epoch curve on the epoch axis (Lightning logs `epoch` at the same steps)."""
    epoch_at = {step: int(value) for step, value in epoch_curve}
    return [(epoch_at.get(step, i), value) for i, (step, value) in enumerate(curve)]


REPAIR = "repair it, or move its run out of the folder compared"


def read_record(path: Path) -> dict:
    """A run's metrics.json or .hydra/config.yaml as a mapping ({} when there is none); a file
    that is not one is refused, naming it, rather than left out of the table without a word."""
    if not path.is_file():
        return {}
    try:
        record = (json.loads if path.suffix == ".json" else yaml.safe_load)(path.read_text())
    except (ValueError, yaml.YAMLError, OSError) as error:  # JSON's and UTF-8's are ValueErrors
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise SettingError(str(path), f"not readable ({first}); {REPAIR}") from None
    if not isinstance(record, dict):
        raise SettingError(str(path), f"holds no mapping of keys to values; {REPAIR}")
    return record


def read_run(root: Path, run_dir: Path) -> Run:
    run = Run(name=run_dir.relative_to(root).as_posix() or run_dir.name, path=run_dir)
    cfg = read_record(run_dir / ".hydra" / "config.yaml")
    model = cfg.get("model") or {}
    run.hidden_size, run.num_layers = model.get("hidden_size"), model.get("num_layers")
    run.network = str(model.get("_target_") or run.network).rpartition(".")[2]
    lr = (cfg.get("optimizer") or {}).get("lr")
    run.lr = lr if isinstance(lr, (int, float)) else None

    metrics = read_record(run_dir / "metrics.json")
    if "mode" in metrics or "stateful" in model:
        run.mode = str(metrics.get("mode", "stateful" if model.get("stateful") else "window"))
    run.status = metrics.get("status", "incomplete")
    run.error = metrics.get("reason", "")
    run.n_params = metrics.get("n_params")
    run.best_val_loss = metrics.get("best_val_loss")
    run.test_mse = (metrics.get("test") or {}).get("mse")
    phases = metrics.get("phases_s") or {}
    run.startup_s, run.train_time_s = phases.get("startup"), phases.get("train")

    scalars = read_events(run_dir)
    run.val_curve = _epochs(scalars.get("val/loss", []), scalars.get("epoch", []))
    if run.best_val_loss is None and run.val_curve:  # a run still going, or one cut short
        run.best_val_loss = min(v for _, v in run.val_curve)
    if run.test_mse is None and scalars.get("test/mse"):
        run.test_mse = scalars["test/mse"][-1][1]
    return run


def _overrides(name: str) -> list[str]:
    """A sweep run's name split into its overrides (a comma starts one only before `key=`)."""
    return re.split(r",(?=[\w.+~/-]+=)", name)


def common_overrides(runs: list[Run]) -> list[str]:
    """The overrides every run shares (e.g. trainer.max_epochs=10 given to a whole sweep)."""
    if len(runs) < 2:
        return []
    shared = set(_overrides(runs[0].name))
    for run in runs[1:]:
        shared &= set(_overrides(run.name))
    return [o for o in _overrides(runs[0].name) if o in shared and "=" in o]


def short_name(run: Run, common: list[str]) -> str:
    return ",".join(o for o in _overrides(run.name) if o not in common) or run.name


def _short_number(override: str) -> str:
    key, sep, value = override.partition("=")
    try:
        return f"{key}={float(value):.3g}" if sep and len(value) > 6 else override
    except ValueError:
        return override


def label(run: Run, common: list[str]) -> str:
    return ",".join(_short_number(o) for o in _overrides(short_name(run, common)))


def _fmt(value: Any, spec: str) -> str:
    if value is None:
        return "-"
    return format(value, spec) if isinstance(value, (int, float)) else str(value)


def table(
    runs: list[Run], with_mode: bool, common: list[str], with_network: bool = False
) -> tuple[list[str], list[list[str]], list[list]]:
    """Header, rows formatted for reading (run names without the overrides all runs share),
    and rows with full-precision values and whole names for the CSV. `with_network`: a
    column naming each run's network class (when the runs differ in it)."""
    header = ["run", "hidden size", "layers", "lr", "parameters", "best val loss"]
    header += ["test MSE", "train time (s)", "start-up (s)", "status", "reason"]
    if with_mode:
        header.insert(1, "mode")
    if with_network:
        header.insert(1, "network")
    shown, raw = [], []
    for run in runs:
        values = [run.name, run.hidden_size, run.num_layers, run.lr, run.n_params]
        values += [run.best_val_loss, run.test_mse, run.train_time_s, run.startup_s]
        values += [run.status, run.error]
        specs = ["", "", "", ".3g", ",", ".4g", ".4g", ".1f", ".1f", "", ""]
        if with_mode:
            values.insert(1, run.mode or "window")
            specs.insert(1, "")
        if with_network:
            values.insert(1, run.network)
            specs.insert(1, "")
        raw.append(["" if v is None else v for v in values])
        shown.append([_fmt(v, s) for v, s in zip(values, specs, strict=True)])
        shown[-1][0] = short_name(run, common)
    return header, shown, raw


def markdown(header: list[str], rows: list[list[str]], root: Path, common: list[str]) -> str:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    lines = [f"# Runs in {root}, best val loss first", ""]
    if common:
        lines += [f"Every run also had: `{','.join(common)}`", ""]
    lines += [line(header)]
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines += [line(r) for r in rows]
    lines += ["", f"![val loss curves]({OUTPUTS['curves']})", ""]
    lines += [f"![test MSE vs hidden size]({OUTPUTS['mse']})", ""]
    return "\n".join(lines)


def write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    with written_whole(path) as tmp:
        tmp.write_text(buffer.getvalue())


def print_table(header: list[str], rows: list[list[str]], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    shown = Table(title=title)
    for i, name in enumerate(header):
        numeric = name not in ("run", "mode", "status", "reason")
        longest = max((len(row[i]) for row in rows), default=0)
        shown.add_column(
            name,
            justify="right" if numeric else "left",
            overflow="fold",
            min_width=min(longest, 40 if name == "run" else 9 if numeric else 10),
        )
    for row in rows:
        style = None if row[header.index("status")] == "completed" else "red"
        shown.add_row(*row, style=style)
    console = Console()
    if not console.is_terminal:
        # piped into a file or a CI log: every column in full, however wide, instead of
        # rich's 80-column fallback that wraps the headers and cuts the metrics off
        wide = console.options.update_width(10_000)
        console = Console(width=max(console.width, console.measure(shown, options=wide).maximum))
    console.print(shown)


def compare(root: Path) -> list[Run]:
    """Read every run under root, write the table and figures there, print the table."""
    from lstm_lab.evaluation.sweep_figures import plot_test_mse_vs_hidden, plot_val_curves

    runs = sorted((read_run(root, d) for d in find_runs(root)), key=Run.sort_key)  # before writing
    # a mode column once any run knows the stateful switch; runs from before it were windowed
    with_mode = any(run.mode is not None for run in runs)
    with_network = len({run.network for run in runs}) > 1  # e.g. -m model=lstm,gru
    common = common_overrides(runs)
    for run in runs:
        run.label = label(run, common)
    header, shown, raw = table(runs, with_mode, common, with_network)
    with written_whole(root / OUTPUTS["markdown"]) as tmp:
        tmp.write_text(markdown(header, shown, root, common))
    write_csv(root / OUTPUTS["csv"], header, raw)
    plot_val_curves(runs, root / OUTPUTS["curves"])
    plot_test_mse_vs_hidden(runs, root / OUTPUTS["mse"], with_mode, with_network)
    title = f"{len(runs)} runs in {root}, best val loss first"
    print_table(header, shown, title + (f"\nall with {','.join(common)}" if common else ""))
    for name in OUTPUTS.values():
        print(f"Wrote {root / name}")
    return runs
