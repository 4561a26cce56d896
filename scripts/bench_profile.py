"""Where a training step's time goes: torch's operators, Lightning's Python, lstm-lab's own.

Two measurements of the same fit as `make bench`'s throughput figure (scripts/bench.py:
the default config, `model.hidden_size`, `+trainer.max_steps`), one thread:

    python scripts/bench_profile.py --hidden 16               # torch.profiler: operator time
    py-spy record -r 500 -f raw -o prof.txt -- \\
        python scripts/bench_profile.py --hidden 16 --plain    # a sampled profile of the fit
    python scripts/bench_profile.py --classify prof.txt        # its samples by owner

and one A/B of the same fit against the fit with more overrides, alternated in one process
(medians of --repeats each), which is how docs/benchmarks.md measures a single change:

    python scripts/bench_profile.py --hidden 16 --steps 400 --ab "~callbacks.last_checkpoint"
    python scripts/bench_profile.py --hidden 16 --steps 400 \\
        --ab "+trainer.plugins=[{_target_:bench_profile.LightningsWriter}]"   # Lightning's writer

torch.profiler sums the self time of torch's operators (aten::*, the kernels and their
dispatch) over the fit; the rest of the fit's wall time is Python. py-spy's samples are
attributed to the innermost frame's package: `torch` (its Python wrappers and, under them,
the operators), `lightning`, `lstm_lab`, or `other` (the standard library, TensorBoard,
fsspec, rich); samples outside the fit (imports, set-up) are left out by `--classify`.
"""

from __future__ import annotations

import argparse
import collections
import statistics
import sys
import tempfile
import time
from pathlib import Path

FIT_FRAME = "Trainer.fit (lightning/pytorch/trainer/trainer.py"  # py-spy names it so
OWNERS = (
    ("lstm_lab", ("lstm_lab/",)),
    ("lightning", ("lightning/", "lightning_fabric/", "lightning_utilities/")),
    ("torch", ("torch/",)),
    ("torchmetrics", ("torchmetrics/",)),
)


def owner(frame: str) -> str:
    """The package a py-spy frame `function (path:line)` belongs to (py-spy shortens a path
    to start at its package: `torch/optim/adam.py`)."""
    path = "/" + frame.rpartition("(")[2]
    for name, marks in OWNERS:
        if any("/" + mark in path for mark in marks):
            return name
    return "other"


def classify(lines: list[str]) -> dict[str, float]:
    """Shares of the samples inside Trainer.fit, by the innermost frame's package; py-spy's
    raw format is one `frame;frame;...;innermost count` line per distinct stack."""
    counts: collections.Counter[str] = collections.Counter()
    for line in lines:
        stack, _, count = line.rstrip().rpartition(" ")
        frames = stack.split(";")
        if not count.isdigit() or not any(FIT_FRAME in f for f in frames):
            continue
        counts[owner(frames[-1])] += int(count)
    total = sum(counts.values()) or 1
    return {name: counts[name] / total for name in sorted(counts, key=counts.get, reverse=True)}


def __getattr__(name: str):
    """`bench_profile.LightningsWriter` for --ab: Lightning's own checkpoint writer, as a
    subclass of its `TorchCheckpointIO`, which lstm-lab keeps where it would replace that class
    itself (training/checkpoint_io.py). Built on first use, so --classify imports no torch."""
    if name != "LightningsWriter":
        raise AttributeError(name)
    from lightning.pytorch.plugins.io import TorchCheckpointIO

    writer = type("LightningsWriter", (TorchCheckpointIO,), {"__module__": __name__})
    globals()[name] = writer
    return writer


def build(hidden: int, steps: int, workdir: Path, extra: list[str] | None = None):
    """The objects scripts/bench.py's throughput figure fits: (datamodule, module, trainer);
    `extra`: more overrides (trainer=gpu, ...)."""
    sys.path.insert(0, str(Path(__file__).parent))
    from hydra import compose, initialize_config_dir

    from lstm_lab import CONFIG_DIR
    from lstm_lab.config import validate
    from lstm_lab.pipeline import build_series
    from lstm_lab.training.run import build_datamodule, build_module, build_trainer

    overrides = [
        f"model.hidden_size={hidden}",
        f"+trainer.max_steps={steps}",
        "trainer.max_epochs=100000",
        f"paths.run_dir={workdir}",
        *(extra or []),
    ]
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    plain = validate(cfg)
    dm = build_datamodule(cfg, plain, build_series(plain))
    module = build_module(plain, cfg, dm.n_features, dm.scaler)
    return dm, module, build_trainer(cfg, plain)


def operator_share(hidden: int, steps: int, workdir: Path) -> dict:
    """Wall time of the fit and the self time of torch's operators in it (torch.profiler)."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    dm, module, trainer = build(hidden, steps, workdir)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        trainer.fit(module, datamodule=dm)
        wall = time.perf_counter() - start
    ops: collections.Counter[str] = collections.Counter()
    for event in prof.key_averages():
        if event.key.startswith("aten::"):
            ops[event.key] += event.self_cpu_time_total / 1e6
    torch.set_num_threads(1)
    return {"wall_s": wall, "operators_s": sum(ops.values()), "top": ops.most_common(12)}


def ab(hidden: int, steps: int, extra: list[str], repeats: int) -> dict[str, list[float]]:
    """Seconds of `repeats` fits each, the default config's and with `extra`, alternated."""
    import torch

    times: dict[str, list[float]] = {"default": [], "with": []}
    for _ in range(repeats):
        for name, more in (("default", []), ("with", extra)):
            with tempfile.TemporaryDirectory() as tmp:
                torch.manual_seed(0)
                dm, module, trainer = build(hidden, steps, Path(tmp), more)
                start = time.perf_counter()
                trainer.fit(module, datamodule=dm)
                times[name].append(time.perf_counter() - start)
                assert trainer.global_step == steps
    return times


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hidden", type=int, default=16)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--plain", action="store_true", help="only the fit, for py-spy")
    parser.add_argument("--classify", type=Path, help="a py-spy raw profile to break down")
    parser.add_argument("--ab", help="overrides (space-separated) to fit against the default")
    parser.add_argument("--repeats", type=int, default=9, help="fits of each, for --ab")
    args = parser.parse_args(argv)
    if args.classify:
        for name, share in classify(args.classify.read_text().splitlines()).items():
            print(f"{name:14s} {share:6.1%}")
        return
    import torch

    torch.set_num_threads(1)
    if args.ab:
        times = ab(args.hidden, args.steps, args.ab.split(), args.repeats)
        base = statistics.median(times["default"])
        print(f"hidden {args.hidden}, {args.steps} steps, {args.repeats} fits each, alternated")
        for name, label in (("default", "default"), ("with", args.ab)):
            median = statistics.median(times[name])
            print(
                f"{label}: median {median * 1e3:.1f} ms, min {min(times[name]) * 1e3:.1f} ms, "
                f"{median / base:.3f} of the default"
            )
        return
    with tempfile.TemporaryDirectory() as tmp:
        if args.plain:
            dm, module, trainer = build(args.hidden, args.steps, Path(tmp))
            start = time.perf_counter()
            trainer.fit(module, datamodule=dm)
            print(f"fit: {time.perf_counter() - start:.3f} s for {args.steps} steps")
            return
        got = operator_share(args.hidden, args.steps, Path(tmp))
    per_step = 1e6 / args.steps
    print(f"hidden {args.hidden}, {args.steps} steps (profiled; the profiler adds its own cost)")
    print(f"fit wall {got['wall_s'] * per_step:.0f} us/step")
    print(f"torch operators (self time) {got['operators_s'] * per_step:.0f} us/step")
    for key, seconds in got["top"]:
        print(f"  {key:40s} {seconds * per_step:7.1f} us/step")


if __name__ == "__main__":
    main()
