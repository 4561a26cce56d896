"""What a run records about itself: provenance, HParams, metrics.json and the summary printed."""

from __future__ import annotations

import json
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from lstm_lab.evaluation.horizon import is_step_metric, report_steps
from lstm_lab.files import written_whole
from lstm_lab.warm.wire import process_start_s

PACKAGES = ("lstm-lab", "torch", "lightning", "torchmetrics", "numpy", "hydra-core", "omegaconf")


def package_versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def git_commit(repo: Path | None = None) -> str | None:
    """HEAD of the git repository the command runs in (default: the working directory's), with
    '-dirty' when it has local changes; None outside one. Installed or not, that is the project
    whose configs and code the run used: the lstm-lab checkout, or a user's own repository."""
    repo = Path.cwd() if repo is None else repo
    try:
        head = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        )
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


# When the command started, in seconds since boot, where that is not this process's own start:
# a run forked by the warm server counts from its client's start (lstm_lab/warm/server.py).
_COMMAND_START: list[float] = []


def count_age_from(started_s: float) -> None:
    """Make process_age_s count from `started_s` (seconds since boot): the client's start."""
    _COMMAND_START[:] = [started_s]


def process_age_s() -> float | None:
    """Seconds since the command started (Linux /proc; None elsewhere), for startup timings:
    this process's start, or its warm-server client's (count_age_from)."""
    try:
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        started = _COMMAND_START[0] if _COMMAND_START else process_start_s()
    except (OSError, ValueError, IndexError):
        return None
    return None if started is None else round(uptime - started, 2)


def run_info(plain: dict) -> dict[str, Any]:
    import torch

    return {
        "seed": plain["seed"],
        "threads": torch.get_num_threads(),
        "threads_choice": plain.get("threads_choice"),
        "versions": package_versions(),
        "git_commit": git_commit(),
    }


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: node}


def hparams_of(plain: dict) -> dict[str, Any]:
    """The hyperparameters a run is compared by, flat and TensorBoard-friendly."""
    keep = {k: plain.get(k) for k in ("model", "data", "optimizer", "scheduler", "seed")}
    keep["trainer"] = {"max_epochs": plain["trainer"]["max_epochs"]}
    flat = flatten(keep)
    return {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in flat.items()}


def write_json(path: Path, data: dict) -> None:
    """Write whole (lstm_lab.files): a reader never sees half a file."""
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    with written_whole(path) as tmp:
        tmp.write_text(text)


# What a stateful run's evaluation leaves out, said where its test metrics are printed.
STATEFUL_NOTE = (
    "no rollout or baselines: a stateful run is scored one step ahead from its warmed-up "
    "state (evaluation.* unused; lstm-predict rolls it out)"
)


def print_summary(metrics: dict, run_dir: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Test metrics (original units)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("best val/loss (scaled)", f"{metrics['best_val_loss']:.4g}")
    by_step = (metrics.get("forecast") or {}).get("by_step")
    for name, value in metrics["test"].items():
        if by_step and is_step_metric(name):
            continue  # every step is in metrics.json; the table below shows 1, H/2 and H
        table.add_row(f"test/{name}", f"{value:.4g}")
    Console().print(table)
    if metrics.get("forecast"):
        print_forecast(metrics["forecast"])
    if metrics.get("mode") == "stateful":
        print(f"Forecasts:     {STATEFUL_NOTE}")
    # Plain prints: these lines are meant to be copied, so no wrapping.
    if metrics.get("threads_choice"):
        print(f"Threads:       {metrics['threads']} ({metrics['threads_choice']})")
    print(f"Run directory: {run_dir}")
    # TensorBoard names a run by its directory under --logdir: its time stamp, or in a sweep
    # the overrides that set it apart
    if has_tensorboard(run_dir):
        print(f"TensorBoard:   tensorboard --logdir {run_dir.parent}  (this run: {run_dir.name})")


def has_tensorboard(folder: Path) -> bool:
    """Whether a run (a sweep) under `folder` wrote TensorBoard events: not one trained without
    its TensorBoard logger (`~logger.tensorboard`), which then gets no TensorBoard command
    (lstm-eval reads the run's config instead: commands/evaluate.py)."""
    return next(Path(folder).rglob("*.tfevents.*"), None) is not None


def print_forecast(summary: dict) -> None:
    """The model against each baseline: MSE of one-step and rollout forecasts, and skill."""
    from rich.console import Console
    from rich.table import Table

    rolled = summary.get("rollout")
    caption = "MSE in original units; skill = 1 - MSE / MSE_baseline"
    if rolled:
        caption += f"; rollout: {rolled['steps']} steps from {rolled['origins']} origin(s)"
    table = Table(title="Test-split forecasts vs baselines", caption=caption)
    table.add_column("forecaster", no_wrap=True)
    direct = (summary.get("by_step") or {}).get("one_step")
    # a direct forecast of H steps: its MSE and skill over all of them (by step: below)
    first = f"{direct['steps']}-step" if direct else "1-step"
    table.add_column(f"{first} MSE", justify="right")
    table.add_column(f"{first} skill", justify="right")
    if rolled:
        table.add_column("rollout MSE", justify="right")
        table.add_column("rollout skill", justify="right")

    exact = summary.get("exact_baselines") or {}

    def number(value: float | None) -> str:
        return "undefined" if value is None else f"{value:.4g}"

    def skill(kind: str, name: str) -> str:
        # skill against an exact baseline is a ratio of rounding errors: say what it is
        return (
            "exact baseline"
            if name in exact.get(kind, ())
            else number(summary["skill"][kind][name])
        )

    row = ["model", number(summary["one_step"]["mse"]), ""]
    table.add_row(*row, *([number(rolled["mse"]), ""] if rolled else []))
    for name, scores in summary["baselines"].items():
        label = name.replace("_", " ")
        if name == "seasonal_naive":
            label += f" P={summary['period']}"
        row = [label, number(scores["one_step"]["mse"]), skill("one_step", name)]
        if rolled:
            row += [number(scores["rollout"]["mse"]), skill("rollout", name)]
        table.add_row(*row)
    Console().print(table)
    for kind, best in (summary.get("best_baseline") or {}).items():
        what = first if kind == "one_step" else "rollout"
        if best is None:
            print(f"Skill ({what}): every baseline is exact on this series")
        else:
            name = best["name"].replace("_", " ")
            print(f"Skill ({what}) vs the best inexact baseline ({name}): {number(best['skill'])}")
    for kind, scores in (summary.get("by_step") or {}).items():
        print_by_step(scores, kind, exact.get(kind, ()))
    for note in summary.get("notes", []):
        print(f"Note: {note}")


def print_by_step(scores: dict, kind: str, exact=()) -> None:
    """MSE at steps 1, H/2 and H of the model and each baseline, and the model's skill there
    against the best baseline that is not exact at that step (all steps: metrics.json)."""
    from rich.console import Console
    from rich.table import Table

    steps = report_steps(scores["steps"])
    what = "direct" if kind == "one_step" else "rollout"
    worse = scores["worse_at"]
    caption = (
        f"at every one of the {scores['steps']} steps the model beats the best inexact baseline"
        if not worse
        else f"worse than the best inexact baseline at {len(worse)} of {scores['steps']} steps "
        f"(first: step {worse[0]})"
    )
    table = Table(title=f"MSE by step ahead ({what} forecasts)", caption=caption)
    table.add_column("forecaster", no_wrap=True)
    for k in steps:
        table.add_column(f"step {k}", justify="right")
    for name, mse in scores["mse"].items():
        label = name.replace("_", " ") + (" (exact)" if name in exact else "")
        table.add_row(label, *(f"{mse[k - 1]:.4g}" for k in steps))
    best = [scores["skill"][k - 1] for k in steps]
    table.add_row(
        "skill vs best baseline", *("undefined" if s is None else f"{s:.3g}" for s in best)
    )
    Console().print(table)
