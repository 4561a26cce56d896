"""The three pictures of a forecast evaluation, as PNGs and as TensorBoard images."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from lstm_lab.evaluation.horizon import log_by_step
from lstm_lab.evaluation.metrics import errors, mse_by_step
from lstm_lab.evaluation.plots import plot_error_vs_horizon, plot_prediction, plot_rollout
from lstm_lab.evaluation.suite import ForecastEvaluation
from lstm_lab.files import written_whole

# File stem in the plot directory -> TensorBoard tag suffix.
FIGURES = {
    "test_prediction": "prediction",
    "test_rollout": "rollout",
    "test_error_vs_horizon": "error_vs_horizon",
    "test_error_by_step": "error_by_step",
}


def make_figures(
    evaluation: ForecastEvaluation, time: np.ndarray | None = None
) -> dict[str, object]:
    """Draw the figures (those that apply); return them by file stem (save_figures writes
    them). `time` (one entry per step of the series) labels the prediction plot's x axis."""
    one = evaluation.one_step
    mse = evaluation.summary["one_step"]["mse"]
    horizon = one.true.shape[1]
    # With several horizon steps the plot shows the first: one continuous line per window.
    what = "one-step predictions" if horizon == 1 else f"step 1 of {horizon}-step predictions"
    figures = {
        "test_prediction": plot_prediction(
            one.true[:, 0],
            one.pred["model"][:, 0],
            f"Test split: {what} from true windows (MSE {mse:.3g})",
            time=None if time is None else time[one.origins],
        )
    }
    if horizon > 1:
        figures["test_error_by_step"] = plot_error_vs_horizon(
            {name: mse_by_step(one.true, pred) for name, pred in one.pred.items()},
            f"Direct {horizon}-step forecasts: error by step ahead, model and baselines "
            f"(mean over {len(one.origins)} test windows)",
        )
    rolled = evaluation.rollout
    if rolled is not None:
        first = errors(rolled.true[0], rolled.pred["model"][0])["mse"]
        figures["test_rollout"] = plot_rollout(
            rolled.true[0],
            rolled.pred["model"][0],
            f"Rollout from the last true window before the test split: "
            f"{rolled.true.shape[1]} predictions fed back (MSE {first:.3g})",
        )
        n = len(rolled.origins)
        figures["test_error_vs_horizon"] = plot_error_vs_horizon(
            {name: mse_by_step(rolled.true, pred) for name, pred in rolled.pred.items()},
            "Rollout error vs steps ahead, model and baselines "
            + (f"(mean over {n} origins in the test split)" if n > 1 else "(one rollout)"),
        )
    return figures


def write_figures(
    evaluation: ForecastEvaluation,
    plot_dir: Path,
    writers: Iterable = (),
    tag_prefix: str = "test",
    step: int = 0,
    time: np.ndarray | None = None,
) -> list[Path]:
    """Save the PNGs in `plot_dir` and add them to each TensorBoard SummaryWriter in `writers`
    (see save_figures), and the MSE by step ahead as scalars (evaluation/horizon.py)."""
    log_by_step(writers, evaluation.summary.get("by_step") or {}, tag_prefix)
    return save_figures(make_figures(evaluation, time), plot_dir, writers, tag_prefix, step)


def write_stream_figure(
    true: np.ndarray,
    pred: np.ndarray,
    plot_dir: Path,
    writers: Iterable = (),
    tag_prefix: str = "test",
    step: int = 0,
) -> list[Path]:
    """A stateful run's picture: true vs one-step predictions (original units, first step
    ahead) of its warmed-up test stream; its rollout and baselines are not made."""
    mse = errors(true, pred)["mse"]
    title = f"Test split: one-step predictions, stateful (MSE {mse:.3g})"
    figure = plot_prediction(true[:, 0], pred[:, 0], title)
    return save_figures({"test_prediction": figure}, plot_dir, writers, tag_prefix, step)


def save_figures(
    figures: dict, plot_dir: Path, writers: Iterable, tag_prefix: str, step: int
) -> list[Path]:
    """Each figure (by file stem) rendered once: the same pixels become the PNG and the
    TensorBoard image (savefig and add_figure would each render it again)."""
    import matplotlib.pyplot as plt
    from matplotlib.image import imsave

    for stem, fig in figures.items():
        fig.canvas.draw()
        pixels = np.asarray(fig.canvas.buffer_rgba())
        with written_whole(plot_dir / f"{stem}.png") as tmp:  # never half a PNG
            imsave(tmp, pixels, dpi=fig.dpi, format="png")
        for writer in writers:
            writer.add_image(
                f"{tag_prefix}/{FIGURES[stem]}", pixels[..., :3], step, dataformats="HWC"
            )
        plt.close(fig)
    return [plot_dir / f"{stem}.png" for stem in figures]
