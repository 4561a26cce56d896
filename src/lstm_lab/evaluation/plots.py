"""Pictures of predictions. matplotlib is imported here only, with the file-only Agg backend."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from lstm_lab.files import written_whole  # noqa: E402


def plot_prediction(
    true: np.ndarray,
    pred: np.ndarray,
    title: str,
    path: Path | None = None,
    time: np.ndarray | None = None,
):
    """True vs predicted values over the steps of a split; saved as PNG when `path` is given.

    `time` (numbers or datetime64, one per value) labels the x axis instead of step numbers.
    """
    fig, ax = plt.subplots(figsize=(10, 4), dpi=100)
    steps = np.arange(len(true)) if time is None else time
    # Thin lines stay readable for thousands of points; markers would not.
    ax.plot(steps, true, label="true", color="black", linewidth=1.2)
    ax.plot(steps, pred, label="predicted", color="tab:orange", linewidth=1.0, linestyle="--")
    ax.set(title=title, xlabel="step in split" if time is None else "time", ylabel="value")
    ax.legend(loc="upper right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path)
    return fig


# Line styles of the baselines, so every plot draws each one the same way.
BASELINE_STYLE = {
    "persistence": dict(color="tab:blue", linestyle=":"),
    "seasonal_naive": dict(color="tab:green", linestyle="-."),
    "training_mean": dict(color="tab:gray", linestyle=":"),
    "linear_ar": dict(color="tab:purple", linestyle="--"),
}


def plot_rollout(true: np.ndarray, pred: np.ndarray, title: str, path: Path | None = None):
    """True values vs one rollout of fed-back predictions, by steps after its origin."""
    fig, ax = plt.subplots(figsize=(10, 4), dpi=100)
    steps = np.arange(1, len(true) + 1)
    ax.plot(steps, true, label="true", color="black", linewidth=1.2)
    ax.plot(steps, pred, label="rollout", color="tab:red", linewidth=1.0, linestyle="--")
    ax.set(title=title, xlabel="steps ahead of the last true window", ylabel="value")
    ax.legend(loc="upper right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path)
    return fig


def plot_error_vs_horizon(mse_by_step: dict[str, np.ndarray], title: str, path: Path | None = None):
    """MSE against steps ahead (a rollout's or a direct forecast's) for the model and each
    baseline, on a log axis."""
    fig, ax = plt.subplots(figsize=(11, 4), dpi=100)
    for name, mse in mse_by_step.items():
        steps = np.arange(1, len(mse) + 1)
        style = BASELINE_STYLE.get(name, dict(color="tab:red", linestyle="-", linewidth=1.6))
        # Exact forecasts (MSE 0) would vanish from a log axis; draw them at a floor instead.
        label = name.replace("_", " ")  # "model": the trained network, whichever it is
        ax.plot(steps, np.maximum(mse, 1e-16), label=label, **style)
    ax.set_yscale("log")
    ax.set(title=title, xlabel="steps ahead", ylabel="MSE (original units squared)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")  # off the curves
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    save_figure(fig, path)
    return fig


def save_figure(fig, path: Path | None) -> None:
    """Write the figure when a path is given (its format from the suffix: PNG), creating its
    folder, whole (`written_whole`)."""
    if path is not None:
        with written_whole(path) as tmp:
            fig.savefig(tmp, format=path.suffix.lstrip(".") or "png")
