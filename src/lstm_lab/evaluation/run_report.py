"""A run's forecasts on its test split and their figures, the same for the report at the end of
training and for lstm-eval: a window network against the baselines (suite.py), a stateful one's
one-step predictions of its warmed-up test stream."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lstm_lab.data.csv_file import time_axis
from lstm_lab.data.windows import ChronologicalSplit, StandardScaler
from lstm_lab.evaluation import run_figures  # by attribute: a test may replace its writers
from lstm_lab.evaluation.forecast import network_forecaster
from lstm_lab.evaluation.stream_forecast import scored_predictions
from lstm_lab.evaluation.suite import ForecastEvaluation, evaluate_with_config


def window_report(
    net: Any, split: ChronologicalSplit, plain: dict, plot_dir: Path, writers, tag: str, step: int
) -> tuple[ForecastEvaluation, list[Path]]:
    """The forecast evaluation of a window network on its run's split, and its figures (a CSV's
    time column labels their x axis)."""
    evaluation = evaluate_with_config(network_forecaster(net), split, plain)
    time = time_axis(plain["data"]["series"])
    return evaluation, run_figures.write_figures(evaluation, plot_dir, writers, tag, step, time)


def stream_report(
    net: Any,
    test: Sequence,
    eval_batch_size: int,
    scaler: StandardScaler,
    plot_dir: Path,
    writers,
    tag: str,
    step: int,
) -> tuple[np.ndarray, np.ndarray, list[Path]]:
    """A stateful network's one-step predictions of the test stream `test` (x, y, scored),
    true and predicted in original units, and the prediction figure."""
    x, y, scored = test
    scaled_true, scaled_pred = scored_predictions(net, x, y, scored, eval_batch_size)
    true, pred = scaler.inverse_target(scaled_true), scaler.inverse_target(scaled_pred)
    return true, pred, run_figures.write_stream_figure(true, pred, plot_dir, writers, tag, step)
