"""Figures comparing the runs of a sweep (read by lstm_lab.records.comparison)."""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

from matplotlib.ticker import MaxNLocator

from lstm_lab.evaluation.plots import plt, save_figure  # the Agg backend is chosen there


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def plot_val_curves(runs, path: Path) -> None:
    """Every run's val/loss per epoch, on one log-scaled axis, labelled by run; failed runs
    (their curve up to the failure) dotted."""
    fig, ax = plt.subplots(figsize=(10, 5), dpi=100)
    drawn = 0
    for run in runs:
        points = [(e, v) for e, v in run.val_curve if _finite(v) and v > 0]
        if not points:
            continue
        epochs, values = zip(*points, strict=True)
        style = "-" if run.status == "completed" else ":"
        ax.plot(
            epochs,
            values,
            style,
            marker="o",
            markersize=3,
            linewidth=1.2,
            label=run.label or run.name,
        )
        drawn += 1
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    if drawn:
        ax.set_yscale("log")
        # beside the axes, in type one can read; a long sweep's legend in several columns
        ax.legend(
            fontsize="medium" if drawn <= 12 else "small",
            ncol=1 + (drawn - 1) // 16,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            title="run",
        )
    else:
        _say_empty(ax, "no val/loss curves")
    ax.set(title="val/loss per epoch (scaled units)", xlabel="epoch", ylabel="val/loss")
    _finish(fig, ax, path)


def plot_test_mse_vs_hidden(
    runs, path: Path, with_mode: bool = False, with_network: bool = False
) -> None:
    """Test MSE against hidden size, a line per layer count (and per mode when runs have one,
    and per network class when they differ).

    Where several completed runs share a point (an Optuna search tries many learning rates),
    the one with the lowest best val loss stands for it: the run one would pick.
    """
    best: dict[tuple, dict[int, object]] = defaultdict(dict)
    for run in runs:
        if run.status != "completed" or not _finite(run.test_mse) or run.hidden_size is None:
            continue
        key = (run.num_layers, run.mode or "window") if with_mode else (run.num_layers,)
        key += (run.network,) if with_network else ()
        held = best[key].get(run.hidden_size)
        if held is None or run.sort_key() < held.sort_key():
            best[key][run.hidden_size] = run
    fig, ax = plt.subplots(figsize=(7, 5), dpi=100)
    for key in sorted(best, key=lambda k: tuple(str(x) for x in k)):
        sizes = sorted(best[key])
        label = f"{key[0]} layer{'s' if key[0] != 1 else ''}"
        label += f", {key[1]}" if with_mode else ""
        label = f"{key[-1]}, {label}" if with_network else label
        ax.plot(sizes, [best[key][h].test_mse for h in sizes], marker="o", label=label)
    if best:
        ax.set_xscale("log", base=2)
        sizes = sorted({h for points in best.values() for h in points})
        ax.set_xticks(sizes, [str(h) for h in sizes])
        ax.minorticks_off()
        ax.set_yscale("log")
        ax.legend()
    else:
        _say_empty(ax, "no completed runs")
    ax.set(title="Test MSE (original units) vs hidden size", xlabel="hidden size", ylabel="MSE")
    _finish(fig, ax, path)


def _say_empty(ax, text: str) -> None:
    """A figure with nothing to draw says so in its middle."""
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)


def _finish(fig, ax, path: Path) -> None:
    """Grid, layout, PNG, and the figure closed (a sweep report makes several)."""
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
