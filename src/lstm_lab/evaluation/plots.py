"""Pictures of predictions. matplotlib is imported here only, with the file-only Agg backend."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


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
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path)
    return fig
