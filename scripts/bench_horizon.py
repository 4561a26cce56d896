"""make bench-horizon: multi-step forecasts, direct against recursive, scored at every step.

For each series and each strategy, a few seeds of the series' own config, each an ordinary
`lstm-train` run (threads=1, CSV logger):
- `direct`: the network predicts all H steps at once (`data.horizon=H`), scored on every test
  window (`forecast.by_step.one_step` in metrics.json);
- `recursive`: a one-step network fed its own predictions back for H steps
  (`evaluation.rollout_steps=H`), from up to 256 origins in the test split
  (`forecast.by_step.rollout`).
Each is scored against the baselines on its own forecasts; the table gives the model's MSE at
steps 1, H/2 and H, and at how many of the H steps it is worse than persistence, seasonal
naive and the best baseline that is not exact there (the median over seeds). Variants (other
windows, transforms) are extra strategies: `--variants co2:w64=data.window=64`.

    python scripts/bench_horizon.py                          # the table in docs/transforms.md
    python scripts/bench_horizon.py --series co2 --seeds 1
    python scripts/bench_horizon.py --quick                  # 1 epoch, 1 seed: checks it runs
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from bench_transforms import common_arguments, run_metrics  # scripts/, beside this one

# series -> (its overrides, H: a season, or what the series allows)
SERIES = {
    "sine_trend": (["experiment=sine_trend"], 20),
    "elnino": (["experiment=elnino"], 3),  # the experiment's multi-step default
    "co2": (["experiment=co2"], 52),
}
STRATEGIES = {
    "direct": lambda h: [f"data.horizon={h}", "evaluation.rollout_steps=0"],
    "recursive": lambda h: ["data.horizon=1", f"evaluation.rollout_steps={h}"],
}
# El Nino reads three feature regions whose future is unknown: it cannot be rolled out.
NO_ROLLOUT = {"elnino"}
COMMON = ["threads=1", "logger=csv", "~callbacks.progress_bar"]


def one_run(overrides: list[str], workdir: Path) -> dict:
    """One lstm-train run; its metrics.json's scores by step (direct or rolled out)."""
    metrics = run_metrics(overrides, workdir)
    by_step = metrics["forecast"]["by_step"]
    kind = "one_step" if "data.horizon=1" not in overrides else "rollout"
    if kind not in by_step:  # e.g. a recursive forecast of a series with features: refused
        return {"command": "lstm-train " + " ".join(overrides), "scores": None}
    return {
        "command": "lstm-train " + " ".join(overrides),
        "scores": by_step[kind],
        "wall_time_s": metrics["wall_time_s"],
    }


def worse_at(scores: dict, baseline: str) -> int | None:
    """At how many steps the model's MSE is above `baseline`'s (None: no such baseline)."""
    mse = scores["mse"]
    if baseline not in mse:
        return None
    return sum(m > b for m, b in zip(mse["model"], mse[baseline], strict=True))


def summarize(runs: list[dict]) -> dict | None:
    """Medians over seeds of the model's MSE at steps 1, H/2, H and the losing-step counts."""
    scored = [r["scores"] for r in runs if r["scores"] is not None]
    if not scored:
        return None
    steps = scored[0]["steps"]
    picks = sorted({1, max(1, (steps + 1) // 2), steps})

    def median(values):
        values = [v for v in values if v is not None]
        return statistics.median(values) if values else None

    return {
        "steps": steps,
        "mse_at": {k: median(s["mse"]["model"][k - 1] for s in scored) for k in picks},
        "worse_than": {
            b: median(worse_at(s, b) for s in scored) for b in ("persistence", "seasonal_naive")
        },
        "worse_than_best": median(len(s["worse_at"]) for s in scored),
        "worse_than_best_each": [len(s["worse_at"]) for s in scored],
        "baseline_mse_at": {
            b: {k: scored[0]["mse"][b][k - 1] for k in picks}
            for b in ("persistence", "seasonal_naive", "linear_ar")
            if b in scored[0]["mse"]
        },
    }


def table(results: dict) -> str:
    """Markdown: a row per series and strategy."""
    lines = [
        "| series | strategy | H | model MSE step 1 / H/2 / H | persistence | seasonal naive "
        "| linear AR | steps worse than persistence / seasonal naive / best inexact |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def triple(values: dict) -> str:
        return " / ".join(f"{v:.3g}" for v in values.values())

    for series, strategies in results.items():
        for strategy, runs in strategies.items():
            s = summarize(runs)
            if s is None:
                lines.append(f"| {series} | {strategy} | - | refused (see notes) | | | | |")
                continue
            base = [triple(s["baseline_mse_at"].get(b, {"-": float("nan")}))
                    for b in ("persistence", "seasonal_naive", "linear_ar")]  # fmt: skip
            worse = [s["worse_than"]["persistence"], s["worse_than"]["seasonal_naive"]]
            counts = " / ".join("-" if w is None else f"{w:g}" for w in worse)
            counts += f" / {s['worse_than_best']:g}"
            if len(s["worse_than_best_each"]) > 1:
                counts += f" (each seed: {', '.join(map(str, s['worse_than_best_each']))})"
            lines.append(
                f"| {series} | {strategy} | {s['steps']} | {triple(s['mse_at'])} | "
                + " | ".join(base)
                + f" | {counts} |"
            )
    return "\n".join(lines)


def parse_variants(text: str) -> dict[str, dict[str, list[str]]]:
    """`co2:w64=data.window=64+data.horizon=52,...` -> {series: {name: overrides}}."""
    out: dict[str, dict[str, list[str]]] = {}
    for item in filter(None, text.split(",")):
        where, _, overrides = item.partition("=")
        series, _, name = where.partition(":")
        out.setdefault(series, {})[name] = overrides.split("+")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common_arguments(parser, ",".join(SERIES), "outputs/bench_horizon.json")
    parser.add_argument("--strategies", default=",".join(STRATEGIES), help="comma-separated")
    parser.add_argument("--variants", default="", help="series:name=override+override,...")
    args = parser.parse_args()
    extra = ["trainer.max_epochs=1"] if args.quick else []
    seeds = range(1 if args.quick else args.seeds)
    variants = parse_variants(args.variants)
    results: dict[str, dict[str, list[dict]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for series in args.series.split(","):
            base, h = SERIES[series]
            names = [s for s in args.strategies.split(",") if s]
            plans = {
                s: STRATEGIES[s](h)
                for s in names
                if not (s == "recursive" and series in NO_ROLLOUT)
            }
            plans.update(variants.get(series, {}))
            for name, overrides in plans.items():
                for seed in seeds:
                    run = one_run([*base, *overrides, f"seed={seed}", *COMMON, *extra], Path(tmp))
                    results.setdefault(series, {}).setdefault(name, []).append(run)
                    s = summarize([run])
                    note = "refused" if s is None else f"worse than best at {s['worse_than_best']}"
                    print(f"{series:10} {name:24} seed {seed}: {note}", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"settings": {"extra": extra}, "results": results}, indent=2))
    print()
    print(table(results))
    print(f"\nResults: {out}")


if __name__ == "__main__":
    main()
