"""Why stateful mode refuses data.transform: what each transform would read in a stream.

Stateful mode reads the training split as contiguous chunks of `model.bptt` steps, one input
step at a time, carrying (h, c) from chunk to chunk. This script takes the training split of a
series (its config's, as lstm-train composes it), cuts it into such chunks and measures, for
each way a transform could be applied there, what the network's inputs would hold:

- `window_relative`, the reference taken as the chunk's last value (what `encode` does to a
  window): every step but the last of a chunk reads a value from its own future. The forecast
  "the reference" (the head predicting 0) and a straight line from the step's value to the
  reference are scored against persistence on the same steps: below it means the inputs give
  the answer away (on the last steps before the reference, almost all of it).
- `window_relative`, the reference taken as each step's own value: the only causal choice;
  the target column it reads is x_t - x_t, zero at every step (its standard deviation below).
- `diff` with chunk-local differences (no value carried between chunks): the first step of
  each chunk reads 0 instead of its change; the share of steps that do, and the size of the
  change they lose against a typical change. With the previous chunk's last value carried
  (beside (h, c)), `diff` reads exactly what window mode reads: buildable, not yet built.

    python scripts/stateful_transforms.py                 # co2, sine_trend; bptt 20
    python scripts/stateful_transforms.py --series co2 --bptt 52
"""

from __future__ import annotations

import argparse

import numpy as np

SERIES = {"co2": ["experiment=co2"], "sine_trend": ["experiment=sine_trend"]}


def training_target(overrides: list[str]) -> np.ndarray:
    """The target column of the training split, as lstm-train composes the config."""
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from lstm_lab import CONFIG_DIR
    from lstm_lab.config.schema import register
    from lstm_lab.data.windows import split_bounds

    register()
    with initialize_config_dir(str(CONFIG_DIR), version_base=None):
        cfg = compose("train", overrides)
    data = OmegaConf.to_container(cfg.data, resolve=True)
    values = np.asarray(instantiate(data["series"]), dtype=np.float64)
    z = values[:, 0] if values.ndim == 2 else values
    start, end = split_bounds(len(z), data["split"]["train"], data["split"]["val"])["train"]
    return z[start:end]


def chunks(z: np.ndarray, bptt: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs (chunks, bptt) = z[t] and their one-step targets z[t+1], in contiguous chunks."""
    n = (len(z) - 1) // bptt * bptt
    return z[:n].reshape(-1, bptt), z[1 : n + 1].reshape(-1, bptt)


def measure(z: np.ndarray, bptt: int) -> dict[str, float]:
    """What each streamed transform would read, on chunks of `bptt` steps of `z`."""
    x, y = chunks(z, bptt)
    persistence = np.mean((y - x) ** 2)
    reference = x[:, -1:]  # the chunk's last input: the window form's reference
    position = np.arange(bptt)
    remaining = np.maximum(bptt - 1 - position, 1)  # steps from t to the reference
    line = x + (reference - x) / remaining  # one step along the line to the reference
    future = position < bptt - 1  # steps whose target lies at or before the reference
    own = x - x  # each step relative to its own value
    local = np.diff(x, axis=1, prepend=x[:, :1])  # chunk-local changes
    carried = np.diff(z[: x.size + 1])  # the true change into every step but the first
    true_change = np.concatenate([[np.nan], carried[:-1]]).reshape(x.shape)
    edge = true_change[1:, 0]  # first steps of every chunk but the series' first
    typical = np.sqrt(np.nanmean(true_change**2))
    return {
        "steps": float(x.size),
        "future_share": float(future.mean()),
        "reference_vs_persistence": float(np.mean((y - reference) ** 2) / persistence),
        "line_vs_persistence": float(np.mean((y - line) ** 2) / persistence),
        # the last 4 steps before the reference: their targets are almost read off it
        "line_near_vs_persistence": float(
            np.mean((y - line)[:, -5:-1] ** 2) / np.mean((y - x)[:, -5:-1] ** 2)
        ),
        "own_reference_std": float(own.std()),
        "diff_edge_share": float(1 / bptt),
        "diff_edge_lost_vs_typical": float(np.sqrt(np.mean(edge**2)) / typical),
        # inside a chunk the local changes are the true ones: only the edges need the carry
        "diff_inside_error": float(np.max(np.abs(local[:, 1:] - true_change[:, 1:]))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", default=",".join(SERIES), help="comma-separated")
    parser.add_argument("--bptt", type=int, default=20, help="steps per chunk (model.bptt)")
    args = parser.parse_args()
    print(
        "| series | bptt | steps | reading their future | reference / persistence MSE "
        "| line to it / persistence (last 4 steps) | own-value input std | diff: steps at an edge "
        "| their lost change / typical |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name in args.series.split(","):
        m = measure(training_target(SERIES[name]), args.bptt)
        print(
            f"| {name} | {args.bptt} | {m['steps']:.0f} | {m['future_share']:.0%} "
            f"| {m['reference_vs_persistence']:.3g} "
            f"| {m['line_vs_persistence']:.3g} ({m['line_near_vs_persistence']:.3g}) "
            f"| {m['own_reference_std']:.3g} | {m['diff_edge_share']:.0%} "
            f"| {m['diff_edge_lost_vs_typical']:.2f} |"
        )


if __name__ == "__main__":
    main()
