"""Scores per step ahead: every forecast of more than one step (a direct `data.horizon` > 1
forecast, or a rollout) is scored at each step 1..H for the model and every baseline.

`by_step` gives the JSON-ready block metrics.json records under `forecast.by_step`;
`report_steps` the steps a printed table shows; `log_by_step` the TensorBoard scalars (x axis:
the step ahead) and a chart that overlays the model and the baselines.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from lstm_lab.evaluation.metrics import is_exact, mse_by_step, skill

KINDS = {"one_step": "direct", "rollout": "rollout"}


def step_scores(true: np.ndarray, pred: dict[str, np.ndarray], variance: float) -> dict:
    """MSE at each step ahead of the model and each baseline; at each step, the best baseline
    that is not exact there and the model's skill against it (None where every one is)."""
    mse = {name: mse_by_step(true, p) for name, p in pred.items()}
    best_name: list[str | None] = []
    best_skill: list[float | None] = []
    for k in range(true.shape[1]):
        usable = {n: m[k] for n, m in mse.items() if n != "model" and not is_exact(m[k], variance)}
        name = min(usable, key=usable.get) if usable else None
        best_name.append(name)
        best_skill.append(None if name is None else skill(mse["model"][k], usable[name]))
    return {
        "steps": int(true.shape[1]),
        "mse": {name: m.tolist() for name, m in mse.items()},
        "best_baseline": best_name,
        "skill": best_skill,
        "worse_at": [k + 1 for k, s in enumerate(best_skill) if s is not None and s < 0],
    }


def by_step(one_step, rolled, variance: float) -> dict:
    """`step_scores` of the direct forecasts (when horizon > 1) and of the rollout (when it is
    longer than one step), by kind: what metrics.json records as `forecast.by_step`."""
    out = {}
    for kind, forecasts in (("one_step", one_step), ("rollout", rolled)):
        if forecasts is not None and forecasts.true.shape[1] > 1:
            out[kind] = step_scores(forecasts.true, forecasts.pred, variance)
    return out


def report_steps(steps: int) -> list[int]:
    """The steps a printed table shows: 1, the middle one and the last (1-based)."""
    return sorted({1, max(1, (steps + 1) // 2), steps})


def is_step_metric(name: str) -> bool:
    """Whether a test metric is one of errors_by_step's per-step ones (`mse_step12`)."""
    head, _, tail = name.rpartition("_step")
    return bool(head) and tail.isdigit()


def log_by_step(writers: Iterable, block: dict, prefix: str = "test") -> None:
    """Each forecaster's MSE by step ahead as TensorBoard scalars (`<prefix>/mse_by_step_
    <kind>/<name>`, x axis the step), and a custom-scalars chart per kind overlaying them."""
    for writer in writers:
        layout = {}
        for kind, scores in block.items():
            tags = []
            for name, values in scores["mse"].items():
                tag = f"{prefix}/mse_by_step_{KINDS[kind]}/{name}"
                tags.append(tag)
                for k, value in enumerate(values, start=1):
                    writer.add_scalar(tag, value, k)
            layout[f"{KINDS[kind]} forecast: MSE by step ahead"] = ["Multiline", tags]
        if layout:
            writer.add_custom_scalars({f"{prefix}: MSE by step ahead": layout})
        writer.flush()
