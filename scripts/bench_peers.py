"""make bench-peers: lstm-lab against darts' BlockRNNModel (LSTM) and neuralforecast's LSTM.

The same series, splits, window and horizon for all three, each tool a whole process (its
import, training, and forecasting every test window): lstm-lab as `lstm-train` with the
series' own config and `data.horizon=H` (a direct multi-output forecast), the peers through
this script's `--worker` mode. Inputs are the target alone (El Nino's feature regions left out,
so every tool reads the same values), scaled with the training split's mean and standard
deviation; the same hidden size, epochs (neuralforecast: as many optimizer steps as lstm-lab's
epochs take), batch size and learning rate. Per-step MSE over every test window, in original
units; wall time of the whole process. Medians over seeds; the tools alternate within each
seed (the order rotates), so load on a shared machine falls on all of them alike.

`lstm-lab-warm` is the same `lstm-train` command handed to a warm server (`lstm-warm start`,
README "A warm start"), started once before the first run and not timed: what a user who keeps
one running waits for. Its CPU time is the command's own plus the run the server forked for it
(the server's reaped children, from /proc).

    python scripts/bench_peers.py                      # sine, El Nino, CO2; seeds 0 and 1
    python scripts/bench_peers.py --series co2 --seeds 1 --tools lstm-lab,darts
    python scripts/bench_peers.py --quick              # 1 epoch, 1 seed: checks it runs
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench_transforms import common_arguments  # scripts/, beside this one

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# series -> (lstm-lab overrides, horizon H)
SERIES = {
    "sine": (["data=sine"], 10),
    # El Nino: its experiment's multi-step default H (configs/experiment/elnino.yaml); with the
    # target alone a stationary series, read as levels like the peers read it (the data=csv
    # default, window_relative, is measured beside it: --lstm-lab data.transform=window_relative)
    "elnino": (["experiment=elnino", "data.series.features=[]", "data.transform=none"], 3),
    "co2": (["experiment=co2"], 52),
}
TOOLS = ("lstm-lab", "lstm-lab-warm", "darts", "neuralforecast")
PEERS = ("darts", "neuralforecast")
COMMON = ["threads=1", "logger=csv", "~callbacks.progress_bar", "evaluation.rollout_steps=0"]


def problem(series: str, horizon: int) -> dict:
    """The series' target and the settings every tool gets, from lstm-lab's composed config."""
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from lstm_lab import CONFIG_DIR
    from lstm_lab.config.schema import register
    from lstm_lab.data.windows import split_bounds

    register()
    with initialize_config_dir(str(CONFIG_DIR), version_base=None):
        cfg = compose("train", SERIES[series][0])
    # only the sections read here: others interpolate Hydra's run-time settings
    plain = {k: OmegaConf.to_container(cfg[k], resolve=True) for k in ("data", "model")}
    plain["trainer"], plain["optimizer"] = (
        {"max_epochs": cfg.trainer.max_epochs},
        {"lr": cfg.optimizer.lr},
    )
    data = plain["data"]
    values = np.asarray(instantiate(data["series"]), dtype=np.float64)
    target = values[:, 0] if values.ndim == 2 else values
    return {
        "z": target.tolist(),
        "bounds": split_bounds(len(target), data["split"]["train"], data["split"]["val"]),
        "window": data["window"],
        "horizon": horizon,
        "hidden": plain["model"]["hidden_size"],
        "layers": plain["model"]["num_layers"],
        "epochs": plain["trainer"]["max_epochs"],
        "batch": data["batch_size"] or 1024,
        "lr": plain["optimizer"]["lr"],
    }


def test_origins(bounds: dict, window: int, horizon: int) -> np.ndarray:
    """The first forecast step of every test window: as lstm-lab's test split windows it, the
    window and its targets inside the test stretch."""
    start, end = bounds["test"]
    return np.arange(start + window, end - horizon + 1)


def scaling(z: np.ndarray, bounds: dict) -> tuple[float, float]:
    """The training split's mean and standard deviation (as lstm-lab's scaler)."""
    train = z[slice(*bounds["train"])]
    std = float(train.std())
    return float(train.mean()), std if std > 0 else 1.0


def mse_by_step(z: np.ndarray, origins: np.ndarray, pred: np.ndarray) -> list[float]:
    """MSE at each step ahead of forecasts `pred` (origins, H) against the series."""
    true = z[origins[:, None] + np.arange(pred.shape[1])]
    return np.mean((pred - true) ** 2, axis=0).tolist()


def order(tools: list[str], seed: int) -> list[str]:
    """The tools in the order they run for this seed: rotated by one each seed."""
    k = seed % len(tools)
    return tools[k:] + tools[:k]


def optimizer_steps(p: dict) -> int:
    """What lstm-lab's epochs amount to in optimizer steps (for neuralforecast's max_steps)."""
    train = p["bounds"]["train"][1] - p["bounds"]["train"][0]
    windows = max(1, train - p["window"] - p["horizon"] + 1)
    return p["epochs"] * -(-windows // p["batch"])


def darts_forecasts(p: dict, scaled: np.ndarray, origins: np.ndarray, seed: int) -> np.ndarray:
    from darts import TimeSeries
    from darts.models import BlockRNNModel

    a, b = p["bounds"]["train"]
    model = BlockRNNModel(
        model="LSTM",
        input_chunk_length=p["window"],
        output_chunk_length=p["horizon"],
        hidden_dim=p["hidden"],
        n_rnn_layers=p["layers"],
        batch_size=p["batch"],
        n_epochs=p["epochs"],
        optimizer_kwargs={"lr": p["lr"]},
        random_state=seed,
        pl_trainer_kwargs={"accelerator": "cpu", "enable_progress_bar": False, "logger": False},
    )
    model.fit(TimeSeries.from_values(scaled[a:b].astype(np.float32)), verbose=False)
    windows = [
        TimeSeries.from_values(scaled[o - p["window"] : o].astype(np.float32)) for o in origins
    ]
    out = model.predict(n=p["horizon"], series=windows, verbose=False)
    return np.stack([s.values()[:, 0] for s in out])


def neuralforecast_forecasts(
    p: dict, scaled: np.ndarray, origins: np.ndarray, seed: int
) -> np.ndarray:
    import pandas as pd
    from neuralforecast import NeuralForecast
    from neuralforecast.models import LSTM

    a, b = p["bounds"]["train"]
    model = LSTM(
        h=p["horizon"],
        input_size=p["window"],
        encoder_hidden_size=p["hidden"],
        encoder_n_layers=p["layers"],
        max_steps=optimizer_steps(p),
        batch_size=1,
        windows_batch_size=p["batch"],
        learning_rate=p["lr"],
        random_seed=seed,
        scaler_type="identity",
        accelerator="cpu",
        enable_progress_bar=False,
        logger=False,
    )
    nf = NeuralForecast(models=[model], freq=1)
    nf.fit(pd.DataFrame({"unique_id": 0, "ds": np.arange(b - a), "y": scaled[a:b]}))
    rows = [
        pd.DataFrame(
            {"unique_id": i, "ds": np.arange(p["window"]), "y": scaled[o - p["window"] : o]}
        )
        for i, o in enumerate(origins)
    ]
    out = nf.predict(df=pd.concat(rows, ignore_index=True))
    out = out.sort_values(["unique_id", "ds"])
    return out["LSTM"].to_numpy().reshape(len(origins), p["horizon"])


def worker(tool: str, problem_file: Path, seed: int, out: Path) -> None:
    """One peer's whole job in this process: fit on the training split, forecast every test
    window, write the per-step MSE in original units."""
    import torch

    torch.set_num_threads(1)  # as lstm-lab's threads=1
    p = json.loads(problem_file.read_text())
    z = np.asarray(p["z"])
    mean, std = scaling(z, p["bounds"])
    origins = test_origins(p["bounds"], p["window"], p["horizon"])
    forecast = darts_forecasts if tool == "darts" else neuralforecast_forecasts
    pred = forecast(p, (z - mean) / std, origins, seed) * std + mean
    out.write_text(json.dumps({"mse_by_step": mse_by_step(z, origins, pred)}))


def children_cpu() -> float:
    """CPU seconds (user + system) of this process's finished children so far."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def reaped_cpu(pid: int) -> float:
    """CPU seconds (user + system) of process `pid`'s children that it has waited for
    (/proc/PID/stat, cutime and cstime): a warm server's runs, each reaped when it ends."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def warm_server():
    """A warm server of this environment, its own (a user's running one is left alone), for
    the `lstm-lab-warm` runs; yields the environment that reaches it and the server's pid."""
    env = {**os.environ, "LSTM_LAB_WARM": "1", "LSTM_LAB_WARM_DIR": tempfile.mkdtemp()}
    try:
        subprocess.run([str(BIN / "lstm-warm"), "start"], env=env, check=True, capture_output=True)
        status = subprocess.run(
            [str(BIN / "lstm-warm"), "status"], env=env, check=True, capture_output=True, text=True
        )
        yield env, int(re.search(r"server (\d+)", status.stdout)[1])
    finally:
        subprocess.run([str(BIN / "lstm-warm"), "stop"], env=env, capture_output=True)
        shutil.rmtree(env["LSTM_LAB_WARM_DIR"], ignore_errors=True)


def timed(
    command: list[str], cwd: Path, env: dict | None = None, server: int | None = None
) -> tuple[subprocess.CompletedProcess, float, float]:
    """The finished process, its wall time and its CPU time (with its own children's): on a
    shared machine the CPU time is what a quiet machine's wall time would be, near enough,
    for a process of one thread."""
    served = reaped_cpu(server) if server else 0.0
    start, cpu = time.perf_counter(), children_cpu()
    proc = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - start, children_cpu() - cpu
    return proc, wall, cpu + (reaped_cpu(server) - served if server else 0.0)


def run_tool(
    tool: str, series: str, p: dict, seed: int, workdir: Path, extra: list[str], warm=None
) -> dict:
    """One whole process of `tool`: its per-step MSE and wall time (None when it failed).
    `warm`: (environment, pid) of the warm server the `lstm-lab-warm` runs go to."""
    if tool.startswith("lstm-lab"):
        before = set(workdir.glob("outputs/runs/*"))
        overrides = [*SERIES[series][0], f"data.horizon={p['horizon']}", f"seed={seed}"]
        env, server = (
            warm if tool == "lstm-lab-warm" else ({**os.environ, "LSTM_LAB_WARM": "0"}, None)
        )
        command = [str(BIN / "lstm-train"), *overrides, *COMMON, *extra]
        proc, wall, cpu = timed(command, workdir, env, server)
        mse = None
        if proc.returncode == 0:
            (run,) = set(workdir.glob("outputs/runs/*")) - before
            metrics = json.loads((run / "metrics.json").read_text())
            mse = metrics["forecast"]["by_step"]["one_step"]["mse"]["model"]
    else:
        problem_file, out = workdir / f"{series}.json", workdir / f"{tool}-{series}-{seed}.json"
        command = [sys.executable, __file__, "--worker", tool, "--problem", str(problem_file)]
        proc, wall, cpu = timed([*command, "--seed", str(seed), "--out", str(out)], workdir)
        mse = json.loads(out.read_text())["mse_by_step"] if proc.returncode == 0 else None
    error = None if proc.returncode == 0 else proc.stderr.strip().splitlines()[-1:]
    return {"mse_by_step": mse, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "error": error}


def summarize(runs: list[dict]) -> dict | None:
    """Medians over seeds: MSE at each step, its mean over the steps, wall and CPU time."""
    ok = [r for r in runs if r["mse_by_step"] is not None]
    if not ok:
        return None
    by_step = np.median([r["mse_by_step"] for r in ok], axis=0)
    return {
        "mse_by_step": by_step.tolist(),
        "mse": float(np.mean(by_step)),
        "wall_s": statistics.median(r["wall_s"] for r in ok),
        "cpu_s": statistics.median(r.get("cpu_s", float("nan")) for r in ok),
        "seeds": len(ok),
    }


def against_peers(own: dict, peers: list[dict]) -> str:
    """lstm-lab against the peers: its MSE over all steps / the best peer's, at how many steps
    it is above the better peer at that step, and its wall and CPU time / the faster peer's."""
    best = min(peers, key=lambda s: s["mse"])
    better = np.min([p["mse_by_step"] for p in peers], axis=0)
    worse = int(np.sum(np.asarray(own["mse_by_step"]) > better))
    wall = own["wall_s"] / min(p["wall_s"] for p in peers)
    cpu = own["cpu_s"] / min(p["cpu_s"] for p in peers)
    return (
        f"MSE x{own['mse'] / best['mse']:.2f}, worse at {worse} of {len(better)} steps, "
        f"time x{wall:.2f}, CPU x{cpu:.2f}"
    )


def table(results: dict) -> str:
    """Markdown: a row per series and tool; MSE at steps 1, H/2, H and over all steps, wall
    and CPU time, and lstm-lab against the peers (see against_peers)."""
    lines = [
        "| series | H | tool | MSE step 1 | step H/2 | step H | all steps | wall s | CPU s "
        "| vs the peers |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for series, tools in results.items():
        sums = {t: summarize(runs) for t, runs in tools.items()}
        peers = [s for t, s in sums.items() if t in PEERS and s is not None]
        for tool, s in sums.items():
            if s is None:
                error = next((r["error"] for r in tools[tool] if r["error"]), None)
                lines.append(f"| {series} | | {tool} | failed: {error} | | | | | | |")
                continue
            h = len(s["mse_by_step"])
            cells = [f"{s['mse_by_step'][k - 1]:.3g}" for k in (1, max(1, (h + 1) // 2), h)]
            cells += [f"{s['mse']:.3g}", f"{s['wall_s']:.1f}", f"{s['cpu_s']:.1f}"]
            ratio = against_peers(s, peers) if tool not in PEERS and peers else ""
            lines.append(f"| {series} | {h} | {tool} | " + " | ".join(cells) + f" | {ratio} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common_arguments(parser, ",".join(SERIES), "outputs/bench_peers.json")
    parser.add_argument("--tools", default=",".join(TOOLS), help="comma-separated")
    parser.add_argument("--epochs", type=int, help="every tool's epochs (default: the config's)")
    parser.add_argument("--lstm-lab", default="", help="more lstm-train overrides, space-separated")
    parser.add_argument("--worker", choices=PEERS, help=argparse.SUPPRESS)
    parser.add_argument("--problem", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker, args.problem, args.seed, Path(args.out))
    tools = args.tools.split(",")
    if unknown := sorted(set(tools) - set(TOOLS)):
        parser.error(f"--tools: unknown {', '.join(unknown)} (choose from {', '.join(TOOLS)})")
    seeds = range(1 if args.quick else args.seeds)
    results: dict[str, dict[str, list[dict]]] = {}
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        workdir = Path(tmp)
        warm = stack.enter_context(warm_server()) if "lstm-lab-warm" in tools else None
        for series in args.series.split(","):
            p = problem(series, SERIES[series][1])
            if args.quick or args.epochs:
                p["epochs"] = 1 if args.quick else args.epochs
            (workdir / f"{series}.json").write_text(json.dumps(p))
            extra = [f"trainer.max_epochs={p['epochs']}", *args.lstm_lab.split()]
            for seed in seeds:
                for tool in order(tools, seed):
                    run = run_tool(tool, series, p, seed, workdir, extra, warm)
                    results.setdefault(series, {}).setdefault(tool, []).append(run)
                    what = run["error"] or f"MSE {np.mean(run['mse_by_step']):.4g}"
                    print(
                        f"{series:7} {tool:15} seed {seed}: {what}, {run['wall_s']} s", flush=True
                    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    settings = {"seeds": list(seeds), "epochs": args.epochs, "quick": args.quick}
    out.write_text(json.dumps({"settings": settings, "results": results}, indent=2))
    print()
    print(table(results))
    print(f"\nResults: {out}")


if __name__ == "__main__":
    main()
