"""scripts/bench.py's logic on tiny inputs: what it measures, how it turns measurements into
figures, and how it judges them against the targets (timings are reported by `make bench`,
never asserted; the whole benchmark is not run here)."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench", ROOT / "scripts" / "bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def measured(sweep: dict | None = None) -> dict:
    """A result as bench.main() assembles it, with made-up measurements."""
    return {
        "machine": "test machine",
        "throughput": [
            {"hidden_size": 16, "ratio": 0.8, "windows_per_s": {"project": 8, "handwritten": 10}},
            {"hidden_size": 100, "ratio": 1.25, "windows_per_s": {"project": 5, "handwritten": 4}},
        ],
        "runs": {
            "default": {"test_mse": 2e-6, "wall_s": 9.0, "peak_rss_mib": 400.0},
            "tutorial": {"test_mse": 1e-3, "wall_s": 12.0, "peak_rss_mib": 380.0},
            "default_time_to_first_step_s": 3.5,
        },
        "startup": {"help_s": 0.9, "config_error_s": 2.0},
        "sweep": sweep,
        "warm": {"time_to_first_step_s": 1.5, "wall_s": 4.0},
    }


def test_figures_are_the_ratios_of_the_measurements(bench):
    result = measured({"sequential_s": 60.0, "parallel_s": 45.0})
    figures = bench.figures(result)
    assert figures == pytest.approx(
        {
            "throughput_ratio_h16": 0.8,
            "throughput_ratio_h100": 1.25,
            "mse_ratio_tutorial_over_default": 500.0,
            "wall_ratio_default_over_tutorial": 0.75,
            "help_s": 0.9,
            "config_error_s": 2.0,
            "sweep_ratio_parallel_over_sequential": 0.75,
            "time_to_first_step_s_cold": 3.5,
            "time_to_first_step_s_warm": 1.5,
        }
    )
    # without the joblib launcher there is no sweep, and no sweep figure
    assert "sweep_ratio_parallel_over_sequential" not in bench.figures(measured(None))


def test_table_marks_each_target_met_or_not(bench, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    result = measured({"sequential_s": 60.0, "parallel_s": 45.0})
    result["figures"] = bench.figures(result)
    bench.print_table(result)
    rows = {
        line.split("│")[1].strip(): line
        for line in capsys.readouterr().out.splitlines()
        if line.count("│") > 3
    }
    # h16 0.8 < 0.95 and a 2 s config error > 1.5 s miss their targets; the others meet theirs
    for name in ("throughput_ratio_h16", "config_error_s"):
        assert rows[name].rstrip(" │").endswith("NO"), rows[name]
    for name in (
        *("throughput_ratio_h100", "help_s", "sweep_ratio_parallel_over_sequential"),
        "time_to_first_step_s_warm",
    ):
        assert rows[name].rstrip(" │").endswith("yes"), rows[name]
    assert "windows/s h16 project" in rows


def test_throughput_times_the_same_steps_for_both_contenders(bench, tmp_path):
    import torch

    torch.set_num_threads(2)  # both contenders run on the threads a run would take: one here
    got = bench.throughput(hidden=4, steps=3, repeats=2, device="cpu", workdir=tmp_path)
    assert torch.get_num_threads() == 1 and got["threads"].startswith("auto: 1 ")
    assert (got["hidden_size"], got["steps"], got["repeats"]) == (4, 3, 2)
    assert {k: len(v) for k, v in got["seconds"].items()} == {"project": 2, "handwritten": 2}
    rate = got["windows_per_s"]
    assert got["ratio"] == pytest.approx(rate["project"] / rate["handwritten"])
    for who, seconds in got["seconds"].items():
        median = sorted(seconds)[0] / 2 + sorted(seconds)[1] / 2
        assert rate[who] == pytest.approx(3 * got["batch_size"] / median)


class FakeRuns:
    """Stands in for bench.run_timed: records each command and writes the metrics.json a run
    would (the tutorial's MSE 1000 times the default's), or fails the commands it is told to."""

    def __init__(self, fail: str | None = None) -> None:
        self.commands: list[list[str]] = []
        self.fail = fail

    def __call__(self, args: list[str], cwd: Path) -> tuple[float, int, int]:
        self.commands.append(args[1:])
        if self.fail and self.fail in args:
            return 0.5, 1, 1000
        tutorial = "experiment=seed_tutorial" in args
        run_dir = cwd / "outputs" / "runs" / f"run{len(self.commands):02d}"
        run_dir.mkdir(parents=True)
        metrics = {"test": {"mse": 1e-3 if tutorial else 1e-6}, "time_to_first_step_s": 2.0}
        path = run_dir / "metrics.json"
        path.write_text(json.dumps(metrics))
        os.utime(path, (len(self.commands), len(self.commands)))  # bench reads the newest
        wall = (2.0 if tutorial else 1.0) * len(self.commands)
        return wall, 0, 2048 * len(self.commands)


def test_whole_runs_alternate_the_contenders_and_take_medians(bench, tmp_path, monkeypatch):
    fake = FakeRuns()
    monkeypatch.setattr(bench, "run_timed", fake)
    result = bench.whole_runs(tmp_path, quick=True, repeats=3)
    quick = ["trainer.max_epochs=2", "threads=1"]
    assert fake.commands == [quick, ["experiment=seed_tutorial", *quick]] * 3
    assert result["default"]["wall_s_all"] == [1.0, 3.0, 5.0]
    assert result["default"]["wall_s"] == 3.0  # the median
    assert result["tutorial"]["wall_s"] == 8.0  # of 4, 8, 12
    assert result["tutorial"]["test_mse"] / result["default"]["test_mse"] == pytest.approx(1000)
    assert result["default"]["peak_rss_mib"] == 10.0  # the last default run's 5 x 2048 KiB
    assert result["default_time_to_first_step_s"] == 2.0


def test_warm_runs_go_through_a_server_of_their_own(bench, tmp_path, monkeypatch):
    fake, served = FakeRuns(), []

    @contextlib.contextmanager
    def server(workdir):
        served.append(workdir)
        yield

    monkeypatch.setattr(bench, "run_timed", fake)
    monkeypatch.setattr(bench, "warm_server", server)
    result = bench.warm_runs(tmp_path, quick=True, repeats=3)
    assert served == [tmp_path]
    assert fake.commands == [["trainer.max_epochs=2", "threads=1"]] * 3
    assert result["wall_s_all"] == [1.0, 2.0, 3.0] and result["wall_s"] == 2.0
    assert result["time_to_first_step_s"] == 2.0


def test_sweep_is_skipped_without_the_parallel_launcher(bench, tmp_path, monkeypatch):
    fake = FakeRuns(fail="launcher=joblib")
    monkeypatch.setattr(bench, "run_timed", fake)
    assert bench.sweep(tmp_path, quick=True, repeats=1) is None
    assert fake.commands[0][0] == "-m" and "launcher=joblib" not in fake.commands[0]


def test_bench_help_describes_its_options(bench, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["bench.py", "--help"])
    with pytest.raises(SystemExit) as info:
        bench.main()
    assert info.value.code == 0
    out = capsys.readouterr().out
    for option in ("--quick", "--device", "--steps", "--repeats", "--out"):
        assert option in out


@pytest.mark.slow
def test_transform_benchmark_prints_its_table(tmp_path):
    out = tmp_path / "bench_transforms.json"
    script = str(ROOT / "scripts" / "bench_transforms.py")
    args = ["--quick", "--series", "sine", "--transforms", "none,diff", "--out", str(out)]
    proc = subprocess.run(
        [sys.executable, script, *args], capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = json.loads(out.read_text())["results"]["sine"]
    assert set(runs) == {"none", "diff"}
    assert all(r["mse"] > 0 and r["persistence"] > 0 for rs in runs.values() for r in rs)
    row = next(line for line in proc.stdout.splitlines() if line.startswith("| sine |"))
    assert row.count("|") == 8 and "| - |" in row  # window_relative was not run


# --------------------------------------------------------------------------- speed tooling
@pytest.fixture(scope="module")
def script():
    def load(name: str):
        sys.path.insert(0, str(ROOT / "scripts"))  # bench_gpu imports bench_profile
        spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load


def test_profile_attributes_samples_in_fit_to_the_innermost_package(script):
    classify = script("bench_profile").classify
    fit = "main (bench_profile.py:9);Trainer.fit (lightning/pytorch/trainer/trainer.py:584)"
    lines = [
        "<module> (x.py:1);_find_and_load (<frozen importlib._bootstrap>:1176) 50",  # set-up
        f"{fit};LSTMModule.optimizer_steps (lstm_lab/models/module.py:199) 2",
        f"{fit};LSTMModule.optimizer_steps (lstm_lab/models/module.py:199);"
        "_engine_run_backward (torch/autograd/graph.py:841) 5",
        f"{fit};_call_callback_hooks (lightning/pytorch/trainer/call.py:227) 2",
        f"{fit};_save (torch/serialization.py:1);write (tempfile.py:3) 1",
    ]
    assert classify(lines) == pytest.approx(
        {"torch": 0.5, "lstm_lab": 0.2, "lightning": 0.2, "other": 0.1}
    )


def test_gpu_bench_refuses_without_a_gpu(script, capsys, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is visible: test_gpu_bench_measures_both_contenders runs instead")
    out = tmp_path / "bench_gpu.json"
    assert script("bench_gpu").main(["--quick", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no CUDA GPU" in err
    assert not out.exists()


def test_gpu_bench_measures_both_contenders(script, tmp_path):
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    out = tmp_path / "bench_gpu.json"
    assert script("bench_gpu").main(["--quick", "--out", str(out)]) == 0
    results = json.loads(out.read_text())["results"]
    assert {r["precision"] for r in results} <= {"32-true", "bf16-mixed"}
    for r in results:
        assert {k: len(v) for k, v in r["seconds"].items()} == {"project": 1, "handwritten": 1}
        rate = r["windows_per_s"]
        assert r["ratio"] == pytest.approx(rate["project"] / rate["handwritten"])


def test_profile_ab_alternates_the_two_fits_and_can_put_lightnings_writer_back(
    script, capsys, tmp_path
):
    from lightning.pytorch.plugins.io import TorchCheckpointIO

    from lstm_lab.training.checkpoint_io import LocalCheckpointIO

    profile = script("bench_profile")
    writer = "+trainer.plugins=[{_target_:bench_profile.LightningsWriter}]"
    _, _, trainer = profile.build(4, 4, tmp_path / "lightnings", [writer])
    kept = trainer.strategy.checkpoint_io
    assert type(kept).__name__ == "LightningsWriter" and isinstance(kept, TorchCheckpointIO)
    assert not isinstance(kept, LocalCheckpointIO)
    _, _, trainer = profile.build(4, 4, tmp_path / "default")
    assert type(trainer.strategy.checkpoint_io) is LocalCheckpointIO
    profile.main(["--hidden", "4", "--steps", "4", "--repeats", "2", "--ab", writer])
    out = capsys.readouterr().out  # the fits' model summaries, then the result
    lines = out[out.index("hidden 4, 4 steps") :].strip().splitlines()
    assert lines[0] == "hidden 4, 4 steps, 2 fits each, alternated"
    assert lines[1].startswith("default: median ") and lines[1].endswith("1.000 of the default")
    assert lines[2].startswith(f"{writer}: median ") and lines[2].endswith("of the default")
