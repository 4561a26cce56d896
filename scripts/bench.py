"""make bench: lstm-lab's overheads against a hand-written PyTorch loop, side by side.

Every figure that is compared is measured in this one invocation, alternating the
contenders, so ratios hold on a noisy machine. Writes a JSON file and prints a table.

    python scripts/bench.py                 # the full benchmark (several minutes on 2 cores)
    python scripts/bench.py --quick         # a tiny setting: checks that everything runs
    python scripts/bench.py --device cuda   # the GPU path (trainer=gpu)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[1]

# Targets from the performance issue: (figure, comparison, bound).
TARGETS = {
    "throughput_ratio_h100": (">=", 1.0),
    "throughput_ratio_h16": (">=", 0.95),
    "mse_ratio_tutorial_over_default": (">=", 100.0),
    "wall_ratio_default_over_tutorial": ("<=", 1.0),
    "help_s": ("<=", 1.5),
    "time_to_first_step_s_warm": ("<=", 2.0),
    "config_error_s": ("<=", 1.5),
    "sweep_ratio_parallel_over_sequential": ("<=", 0.75),
    "busy_ratio_default": ("<=", 1.5),
    "busy_ratio_elnino": ("<=", 1.5),
}


def run_timed(args: list[str], cwd: Path) -> tuple[float, int, int]:
    """Wall time, exit status and peak RSS (KiB) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - start, proc.returncode, usage.ru_maxrss


def run_beside_a_busy_core(args: list[str], cwd: Path) -> tuple[float, int, int]:
    """run_timed while a CPU-bound process of our own keeps one core busy (as another user's
    job, a browser or a CI neighbour would); the process is killed when the run ends. It
    runs in a session of its own, as another user's would: Linux's autogroup scheduling
    shares the CPU between sessions first, so in ours it would halve the run's share of a
    loaded machine whatever the run did."""
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
    try:
        time.sleep(0.2)  # let it start spinning
        return run_timed(args, cwd)
    finally:
        hog.kill()
        hog.wait()


def newest_metrics(root: Path) -> dict:
    paths = sorted(root.glob("outputs/runs/*/metrics.json"), key=lambda p: p.stat().st_mtime)
    return json.loads(paths[-1].read_text())


# --------------------------------------------------------------------------- training loop
def throughput(hidden: int, steps: int, repeats: int, device: str, workdir: Path) -> dict:
    """Windows per second of lstm-lab's Trainer and of a hand-written loop, same steps, on the
    torch threads a run of this config takes (`threads: auto`: one for both sizes here); the
    hand loop in torch's plain mode (the Trainer turns deterministic algorithms on for the
    whole process; a hand-written loop would not)."""
    import torch
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate
    from torch.utils.data import DataLoader, TensorDataset

    from lstm_lab import CONFIG_DIR
    from lstm_lab.config import validate
    from lstm_lab.models.lstm import LSTMRegressor
    from lstm_lab.pipeline import build_series
    from lstm_lab.training.run import build_datamodule, build_module, build_trainer
    from lstm_lab.training.threads import set_threads, shape_of

    overrides = [
        f"model.hidden_size={hidden}",
        f"+trainer.max_steps={steps}",
        "trainer.max_epochs=100000",
        f"paths.run_dir={workdir / f'h{hidden}'}",
    ]
    if device == "cuda":
        overrides.append("trainer=gpu")
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    plain = validate(cfg)
    series = build_series(plain)
    batch = plain["data"]["batch_size"]
    threads = set_threads(plain["threads"], shape_of(plain, *series.shape))

    def project() -> float:
        torch.manual_seed(0)
        dm = build_datamodule(cfg, plain, series)
        module = build_module(plain, cfg, dm.n_features, dm.scaler)
        trainer = build_trainer(cfg, plain)
        start = time.perf_counter()
        trainer.fit(module, datamodule=dm)
        assert trainer.global_step == steps
        return time.perf_counter() - start

    def handwritten() -> float:
        torch.use_deterministic_algorithms(False)
        torch.manual_seed(0)
        dm = instantiate(cfg.data, series=series, seed=0)
        x, y = dm.tensors["train"]
        start = time.perf_counter()
        net = LSTMRegressor(1, hidden, 1, 0.0, 1).to(device)
        opt = torch.optim.Adam(net.parameters(), lr=plain["optimizer"]["lr"])
        loader = DataLoader(TensorDataset(x, y), batch_size=batch, shuffle=True)
        done = 0
        while done < steps:
            for xb, yb in loader:
                xb, yb = xb.to(device), yb.to(device)
                loss = torch.nn.functional.mse_loss(net(xb), yb)
                opt.zero_grad()
                loss.backward()
                opt.step()
                done += 1
                if done == steps:
                    break
        if device == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    times: dict[str, list[float]] = {"project": [], "handwritten": []}
    for _ in range(repeats):
        times["handwritten"].append(handwritten())
        times["project"].append(project())
    rate = {k: steps * batch / statistics.median(v) for k, v in times.items()}
    return {
        "hidden_size": hidden,
        "batch_size": batch,
        "threads": threads.why,
        "steps": steps,
        "repeats": repeats,
        "seconds": times,
        "windows_per_s": rate,
        "ratio": rate["project"] / rate["handwritten"],
    }


# --------------------------------------------------------------------------- whole runs
def whole_runs(workdir: Path, quick: bool, repeats: int) -> dict:
    """Default run and tutorial run, alternated `repeats` times; medians of wall time."""
    extra = ["trainer.max_epochs=2", "threads=1"] if quick else []
    commands = {"default": [], "tutorial": ["experiment=seed_tutorial"]}
    walls: dict[str, list[float]] = {k: [] for k in commands}
    result: dict = {}
    phases: list[dict] = []
    for _ in range(repeats):
        for name, args in commands.items():
            wall, rc, rss = run_timed([str(BIN / "lstm-train"), *args, *extra], workdir)
            assert rc == 0, f"the {name} run failed"
            walls[name].append(wall)
            metrics = newest_metrics(workdir)
            result[name] = {"test_mse": metrics["test"]["mse"], "peak_rss_mib": rss / 1024}
            if name == "default":
                result["default_time_to_first_step_s"] = metrics.get("time_to_first_step_s")
            if name == "default":
                phases.append({**metrics.get("phases_s", {}), "wall": wall})
    for name in commands:
        result[name]["wall_s"] = statistics.median(walls[name])
        result[name]["wall_s_all"] = walls[name]
    result["default_phases_s"] = median_phases(phases)
    return result


@contextlib.contextmanager
def warm_server(workdir: Path):
    """A warm server (lstm-warm) of this environment, its own, for the commands run inside;
    the others run cold (main() sets LSTM_LAB_WARM=0)."""
    env = {"LSTM_LAB_WARM": "1", "LSTM_LAB_WARM_DIR": tempfile.mkdtemp(prefix="lstm-warm-")}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        subprocess.run([str(BIN / "lstm-warm"), "start"], check=True, capture_output=True)
        yield
    finally:
        subprocess.run([str(BIN / "lstm-warm"), "stop"], capture_output=True)
        shutil.rmtree(env["LSTM_LAB_WARM_DIR"], ignore_errors=True)
        for key, value in saved.items():
            os.environ.pop(key) if value is None else os.environ.update({key: value})


def warm_runs(workdir: Path, quick: bool, repeats: int) -> dict:
    """The default run handed to a warm server, `repeats` times: process start -> first
    training step (metrics.json counts it from the client's start) and the whole wall time."""
    extra = ["trainer.max_epochs=2", "threads=1"] if quick else []
    first, walls = [], []
    with warm_server(workdir):
        for _ in range(repeats):
            wall, rc, _ = run_timed([str(BIN / "lstm-train"), *extra], workdir)
            assert rc == 0, "the default run under the warm server failed"
            first.append(newest_metrics(workdir)["time_to_first_step_s"])
            walls.append(wall)
    return {
        "time_to_first_step_s": statistics.median(first),
        "wall_s": statistics.median(walls),
        "time_to_first_step_s_all": first,
        "wall_s_all": walls,
    }


def median_phases(phases: list[dict]) -> dict:
    """Median seconds of each phase of a run (metrics.json's phases_s); `after` is the rest of
    the whole-process wall time: the summary printed, Hydra's end, the interpreter's exit."""
    for p in phases:
        p["after"] = p["wall"] - sum(p.get(k, 0.0) for k in PHASES)
    return {
        k: statistics.median(p[k] for p in phases)
        for k in (*PHASES, "after")
        if phases and all(k in p for p in phases)
    }


PHASES = ("startup", "train", "test", "report")


def busy_machine(workdir: Path, quick: bool, repeats: int) -> dict:
    """Whole-process wall time of the default run and of experiment=elnino, on the machine as
    it is and beside a busy core, alternated (quiet, busy, quiet, busy, ...); medians."""
    tiny = ["trainer.max_epochs=1"] if quick else []
    commands = {"default": tiny, "elnino": ["experiment=elnino", *tiny]}
    result: dict = {}
    for name, args in commands.items():
        walls: dict[str, list[float]] = {"quiet": [], "busy": []}
        choice = None
        for _ in range(repeats):
            for condition, runner in (("quiet", run_timed), ("busy", run_beside_a_busy_core)):
                wall, rc, _ = runner([str(BIN / "lstm-train"), *args], workdir)
                assert rc == 0, f"the {name} run ({condition}) failed"
                walls[condition].append(wall)
                choice = newest_metrics(workdir).get("threads_choice")
        result[name] = {
            "quiet_s": statistics.median(walls["quiet"]),
            "busy_s": statistics.median(walls["busy"]),
            "quiet_s_all": walls["quiet"],
            "busy_s_all": walls["busy"],
            "threads_choice": choice,
        }
    return result


def startup(workdir: Path, repeats: int) -> dict:
    help_s = [run_timed([str(BIN / "lstm-train"), "--help"], workdir)[0] for _ in range(repeats)]
    error_s = [
        run_timed([str(BIN / "lstm-train"), "model.hidden_size=0"], workdir)[0]
        for _ in range(repeats)
    ]
    return {"help_s": statistics.median(help_s), "config_error_s": statistics.median(error_s)}


def sweep(workdir: Path, quick: bool, repeats: int) -> dict | None:
    """The 6-run grid, sequential and with the parallel (joblib) launcher, alternated
    `repeats` times; medians of the wall times."""
    grid = (
        # --quick only checks that both launchers run: two tiny jobs
        ["-m", "model.hidden_size=8", "model.num_layers=1,2", "trainer.max_epochs=1"]
        + ["data.series.n_points=300", "data.series.t_end=30"]
        if quick
        else ["-m", "model.hidden_size=32,64,128", "model.num_layers=1,2", "trainer.max_epochs=5"]
    )
    walls: dict[str, list[float]] = {"sequential": [], "parallel": []}
    ok = True
    for _ in range(repeats):
        seq_s, rc, _ = run_timed([str(BIN / "lstm-train"), *grid], workdir)
        par_s, rc2, _ = run_timed([str(BIN / "lstm-train"), *grid, "launcher=joblib"], workdir)
        if rc2 != 0:
            return None  # the parallel launcher is not installed
        ok = ok and rc == 0
        walls["sequential"].append(seq_s)
        walls["parallel"].append(par_s)
    return {
        "sequential_s": statistics.median(walls["sequential"]),
        "parallel_s": statistics.median(walls["parallel"]),
        "sequential_s_all": walls["sequential"],
        "parallel_s_all": walls["parallel"],
        "ok": ok,
    }


# --------------------------------------------------------------------------- report
def figures(result: dict) -> dict[str, float]:
    out = {f"throughput_ratio_h{t['hidden_size']}": t["ratio"] for t in result["throughput"]}
    runs = result["runs"]
    out["mse_ratio_tutorial_over_default"] = (
        runs["tutorial"]["test_mse"] / runs["default"]["test_mse"]
    )
    out["wall_ratio_default_over_tutorial"] = runs["default"]["wall_s"] / runs["tutorial"]["wall_s"]
    out.update(result["startup"])
    if runs.get("default_time_to_first_step_s") is not None:
        out["time_to_first_step_s_cold"] = runs["default_time_to_first_step_s"]
    if result.get("warm"):
        out["time_to_first_step_s_warm"] = result["warm"]["time_to_first_step_s"]
    for name, busy in result.get("busy", {}).items():
        out[f"busy_ratio_{name}"] = busy["busy_s"] / busy["quiet_s"]
    if result.get("sweep"):
        out["sweep_ratio_parallel_over_sequential"] = (
            result["sweep"]["parallel_s"] / result["sweep"]["sequential_s"]
        )
    return out


def print_table(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"lstm-lab benchmark ({result['machine']})")
    for col in ("figure", "value", "target", "met"):
        table.add_column(col, justify="left" if col == "figure" else "right")
    for t in result["throughput"]:
        for who in ("project", "handwritten"):
            table.add_row(
                f"windows/s h{t['hidden_size']} {who}", f"{t['windows_per_s'][who]:,.0f}", "", ""
            )
    runs = result["runs"]
    for who in ("default", "tutorial"):
        table.add_row(
            f"{who} run: wall s / test MSE",
            f"{runs[who]['wall_s']:.2f} / {runs[who]['test_mse']:.2e}",
            "",
            "",
        )
    table.add_row("default run peak RSS (MiB)", f"{runs['default']['peak_rss_mib']:.0f}", "", "")
    phases = runs.get("default_phases_s") or {}
    if phases:
        table.add_row(
            "default run phases: " + " / ".join(phases) + " (s)",
            " / ".join(f"{v:.2f}" for v in phases.values()),
            "",
            "",
        )
    if result.get("warm"):
        table.add_row("default run, warm server: wall s", f"{result['warm']['wall_s']:.2f}", "", "")
    for name, busy in result.get("busy", {}).items():
        table.add_row(
            f"{name} run: quiet / beside a busy core s",
            f"{busy['quiet_s']:.1f} / {busy['busy_s']:.1f}",
            "",
            "",
        )
    if result.get("sweep"):
        sw = result["sweep"]
        table.add_row(
            "6-run sweep: sequential / parallel s",
            f"{sw['sequential_s']:.1f} / {sw['parallel_s']:.1f}",
            "",
            "",
        )
    for name, value in result["figures"].items():
        op, bound = TARGETS.get(name, ("", None))
        met = (
            ""
            if bound is None
            else ("yes" if (value >= bound if op == ">=" else value <= bound) else "NO")
        )
        table.add_row(name, f"{value:.3g}", f"{op} {bound}" if bound is not None else "", met)
    Console().print(table)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="tiny settings, to check the benchmark runs"
    )
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument(
        "--steps", type=int, default=None, help="optimizer steps per throughput run"
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="repeats of every figure (default 7 for throughput, 3 for whole runs and sweeps)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "bench.json")
    args = parser.parse_args()
    steps = args.steps or (20 if args.quick else 400)
    repeats = args.repeats or (1 if args.quick else 3)
    # a throughput repeat takes about a second: more of them steady the medians
    throughput_repeats = args.repeats or (1 if args.quick else 7)

    import platform

    os.environ["LSTM_LAB_WARM"] = "0"  # cold figures, whatever warm server runs

    import torch

    machine = f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}"
    if args.device == "cuda":
        machine += f", {torch.cuda.get_device_name()}"
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        result: dict = {"machine": machine, "device": args.device, "quick": args.quick}
        result["throughput"] = [
            throughput(h, steps, throughput_repeats, args.device, work) for h in (16, 100)
        ]
        result["startup"] = startup(work, 1 if args.quick else 3)
        result["runs"] = whole_runs(work, args.quick, repeats)
        result["warm"] = warm_runs(work, args.quick, repeats)
        result["sweep"] = sweep(work, args.quick, repeats)
        result["busy"] = busy_machine(work, args.quick, repeats)
    result["figures"] = figures(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print_table(result)
    print(f"Written: {args.out}")


if __name__ == "__main__":
    main()
