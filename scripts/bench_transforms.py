"""make bench-transforms: test MSE of each data.transform against the naive baselines.

For each series (the sine, the noisy sine, the sine on a trend, El Nino, weekly CO2) and each
transform (none, diff, window_relative), a few seeds of the series' own config, each an
ordinary `lstm-train` run (threads=1); the one-step test MSE in original units, next to
persistence, seasonal naive and the linear AR on the same forecasts. Prints a Markdown table
(the one in docs/transforms.md) and writes a JSON file.

    python scripts/bench_transforms.py                       # 5 series x 3 transforms x 2 seeds
    python scripts/bench_transforms.py --series co2 --seeds 3
    python scripts/bench_transforms.py --quick               # 1 epoch, 1 seed: checks it runs
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

BIN = Path(sys.executable).parent
SERIES = {
    "sine": ["data=sine"],
    "sine_noisy": ["data=sine_noisy"],
    "sine_trend": ["experiment=sine_trend"],
    "elnino": ["experiment=elnino"],
    "co2": ["experiment=co2"],
}
TRANSFORMS = ("none", "diff", "window_relative")
BASELINES = ("persistence", "seasonal_naive", "linear_ar")
# One-step forecasts only (no rollout), CSV logger: the runs' own settings otherwise.
COMMON = ["threads=1", "evaluation.rollout_steps=0", "logger=csv", "~callbacks.progress_bar"]


def run_metrics(args: list[str], workdir: Path) -> dict:
    """One `lstm-train` run in `workdir` (stopping the script if it fails): its metrics.json.
    Also used by bench_horizon.py."""
    before = set(workdir.glob("outputs/runs/*"))
    proc = subprocess.run(
        [str(BIN / "lstm-train"), *args], cwd=workdir, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise SystemExit(f"lstm-train {' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    (run,) = set(workdir.glob("outputs/runs/*")) - before
    return json.loads((run / "metrics.json").read_text())


def common_arguments(parser: argparse.ArgumentParser, series: str, out: str) -> None:
    """The options every bench_* script over series and seeds takes."""
    parser.add_argument("--series", default=series, help="comma-separated")
    parser.add_argument("--seeds", type=int, default=2, help="seeds 0 .. N-1 of each run")
    parser.add_argument("--quick", action="store_true", help="1 epoch, 1 seed")
    parser.add_argument("--out", default=out)


def one_run(series: str, transform: str, seed: int, workdir: Path, extra: list[str]) -> dict:
    args = [*SERIES[series], f"data.transform={transform}", f"seed={seed}", *COMMON, *extra]
    metrics = run_metrics(args, workdir)
    baselines = metrics["forecast"]["baselines"]
    return {
        "command": "lstm-train " + " ".join(args),
        "mse": metrics["test"]["mse"],
        "wall_time_s": metrics["wall_time_s"],
        **{b: baselines[b]["one_step"]["mse"] for b in BASELINES if b in baselines},
    }


def table(results: dict) -> str:
    """Markdown: a row per series, the mean (and spread) of each transform's test MSE over
    the seeds, the baselines, and the best transform's ratio to persistence."""
    head = "| series | " + " | ".join(f"`{t}`" for t in TRANSFORMS)
    head += " | persistence | seasonal naive | linear AR |"
    lines = [head, "|---" * (len(TRANSFORMS) + 4) + "|"]
    for series, runs in results.items():
        cells = []
        for t in TRANSFORMS:
            mses = [r["mse"] for r in runs.get(t, [])]
            if not mses:
                cells.append("-")
                continue
            cell = f"{statistics.mean(mses):.3g}"
            if len(mses) > 1:
                cell += f" ({min(mses):.3g}-{max(mses):.3g})"
            cells.append(cell)
        first = next(iter(runs.values()))[0]
        base = [f"{first[b]:.3g}" if b in first else "-" for b in BASELINES]
        lines.append(f"| {series} | " + " | ".join(cells + base) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common_arguments(parser, ",".join(SERIES), "outputs/bench_transforms.json")
    parser.add_argument("--transforms", default=",".join(TRANSFORMS), help="comma-separated")
    args = parser.parse_args()
    extra = ["trainer.max_epochs=1"] if args.quick else []
    seeds = range(1 if args.quick else args.seeds)
    results: dict[str, dict[str, list[dict]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for series in args.series.split(","):
            for transform in args.transforms.split(","):
                for seed in seeds:
                    run = one_run(series, transform, seed, Path(tmp), extra)
                    results.setdefault(series, {}).setdefault(transform, []).append(run)
                    print(
                        f"{series:11} {transform:16} seed {seed}: test MSE {run['mse']:.4g} "
                        f"(persistence {run['persistence']:.4g}, {run['wall_time_s']:.0f} s)",
                        flush=True,
                    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {"settings": {"seeds": list(seeds), "extra": extra}, "results": results}, indent=2
        )
    )
    print()
    print(table(results))
    print(f"\nResults: {out}")


if __name__ == "__main__":
    main()
