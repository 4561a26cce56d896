"""scripts/bench_peers.py's logic on tiny inputs, without darts or neuralforecast: the test
windows every tool forecasts, the scaling, per-step MSE, the alternation and the table."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lstm_lab.data.windows import make_splits, split_bounds

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def peers():
    sys.path.insert(0, str(ROOT / "scripts"))  # it imports bench_transforms, beside it
    spec = importlib.util.spec_from_file_location("bench_peers", ROOT / "scripts/bench_peers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_peers_forecast_the_windows_lstm_lab_tests(peers):
    z = np.arange(100.0)
    bounds = split_bounds(100, 0.7, 0.15)
    origins = peers.test_origins(bounds, window=5, horizon=3)
    splits, scaler = make_splits(z, 5, 3, 0.7, 0.15)
    x_test, y_test = splits["test"]
    assert len(origins) == len(x_test)
    # the first test window's targets are the series from the first origin on
    np.testing.assert_allclose(scaler.inverse_target(y_test[0]), z[origins[0] : origins[0] + 3])
    mean, std = peers.scaling(z, bounds)
    np.testing.assert_allclose((z[:3] - mean) / std, scaler.transform(z[:3, None])[:, 0], rtol=1e-5)


def test_mse_by_step_alternation_and_table(peers):
    z = np.zeros(20)
    pred = np.array([[1.0, 2.0], [3.0, 0.0]])
    assert peers.mse_by_step(z, np.array([5, 9]), pred) == [5.0, 2.0]
    assert peers.order(["a", "b", "c"], 0) == ["a", "b", "c"]
    assert peers.order(["a", "b", "c"], 1) == ["b", "c", "a"]
    runs = {
        "lstm-lab": [{"mse_by_step": [1.0, 7.0], "wall_s": 4.0, "cpu_s": 2.0, "error": None}] * 2,
        "darts": [
            {"mse_by_step": [2.0, 6.0], "wall_s": 10.0, "cpu_s": 3.0, "error": None},
            {"mse_by_step": [4.0, 6.0], "wall_s": 12.0, "cpu_s": 5.0, "error": None},
        ],
        "neuralforecast": [{"mse_by_step": None, "wall_s": 1.0, "error": ["ImportError: x"]}],
        "lstm-lab-warm": [{"mse_by_step": [1.0, 7.0], "wall_s": 1.1, "cpu_s": 0.8, "error": None}],
    }
    assert peers.summarize(runs["darts"]) == {
        "mse_by_step": [3.0, 6.0], "mse": 4.5, "wall_s": 11.0, "cpu_s": 4.0, "seeds": 2
    }  # fmt: skip
    text = peers.table({"co2": runs})
    assert (
        "| co2 | 2 | lstm-lab | 1 | 1 | 7 | 4 | 4.0 | 2.0 "
        "| MSE x0.89, worse at 1 of 2 steps, time x0.36, CPU x0.50 |"
    ) in text
    assert "neuralforecast | failed: ['ImportError: x']" in text
    # the warm runs are lstm-lab's too: set against the peers, not counted among them
    assert (
        "| lstm-lab-warm | 1 | 1 | 7 | 4 | 1.1 | 0.8 | MSE x0.89, worse at 1 of 2 steps, " in text
    )
    assert "time x0.10, CPU x0.20 |" in text


def test_each_process_cpu_time_is_its_own(peers):
    """A child that spins until it has used 0.3 s of CPU is charged at least that; the wall
    time of one that sleeps 0.3 s is at least that (lower bounds that hold by construction)."""
    spin = [
        sys.executable,
        "-c",
        "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass",
    ]
    _, _, busy = peers.timed(spin, ROOT)
    _, wall, idle = peers.timed([sys.executable, "-c", "import time; time.sleep(0.3)"], ROOT)
    assert busy >= 0.3 and wall >= 0.3 and idle >= 0


def test_neuralforecast_steps_match_lstm_lab_epochs(peers):
    p = {"bounds": {"train": (0, 70)}, "window": 5, "horizon": 3, "epochs": 4, "batch": 16}
    assert peers.optimizer_steps(p) == 4 * 4  # 63 training windows: 4 batches of 16


def test_bench_horizon_counts_the_steps_each_strategy_loses():
    spec = importlib.util.spec_from_file_location(
        "bench_horizon", ROOT / "scripts/bench_horizon.py"
    )
    horizon = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(ROOT / "scripts"))
    spec.loader.exec_module(horizon)
    scores = {
        "steps": 3,
        "mse": {"model": [1.0, 5.0, 2.0], "persistence": [2.0, 4.0, 4.0]},
        "worse_at": [2],
    }
    assert horizon.worse_at(scores, "persistence") == 1
    assert horizon.worse_at(scores, "seasonal_naive") is None
    s = horizon.summarize([{"scores": scores}, {"scores": None}])
    assert s["mse_at"] == {1: 1.0, 2: 5.0, 3: 2.0} and s["worse_than_best"] == 1
    assert horizon.parse_variants("co2:w64=data.window=64+data.horizon=52") == {
        "co2": {"w64": ["data.window=64", "data.horizon=52"]}
    }
    row = horizon.table({"co2": {"direct": [{"scores": scores}]}}).splitlines()[-1]
    assert row.startswith("| co2 | direct | 3 | 1 / 5 / 2 | 2 / 4 / 4 |") and row.endswith(
        "| 1 / - / 1 |"
    )


def test_stateful_transforms_measures_what_a_stream_would_read():
    """scripts/stateful_transforms.py on a straight line, chunks of 5: a line to the chunk's
    last value gives the targets away (MSE 0 against persistence's 4), each step's own value
    as reference reads nothing, and chunk-local changes miss exactly the edges' changes."""
    spec = importlib.util.spec_from_file_location(
        "stateful_transforms", ROOT / "scripts/stateful_transforms.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    z = 2.0 * np.arange(41)  # 40 pairs: 8 chunks of 5
    x, y = module.chunks(z, 5)
    assert x.shape == y.shape == (8, 5) and (y - x == 2).all()
    m = module.measure(z, 5)
    assert m["steps"] == 40 and m["future_share"] == 0.8
    # exact at every step but a chunk's last, which has no future in its chunk to read
    assert m["line_near_vs_persistence"] == 0 and m["line_vs_persistence"] == pytest.approx(0.2)
    assert m["reference_vs_persistence"] > 1  # the reference alone is far from most targets
    assert m["own_reference_std"] == 0 and m["diff_inside_error"] == 0
    assert m["diff_edge_share"] == 0.2 and m["diff_edge_lost_vs_typical"] == 1


def test_a_warm_servers_runs_are_charged_when_it_reaps_them(peers):
    """reaped_cpu reads what a process's waited-for children used: here this test's own
    process, which subprocess.run makes wait for a child spinning 0.3 s of CPU."""
    before = peers.reaped_cpu(os.getpid())
    spin = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass"
    subprocess.run([sys.executable, "-c", spin], check=True)
    assert peers.reaped_cpu(os.getpid()) - before >= 0.29  # clock ticks of 10 ms


def test_an_unknown_tool_is_refused_before_any_run():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts/bench_peers.py"), "--tools", "lstm-lab,prophet"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "--tools: unknown prophet (choose from lstm-lab, lstm-lab-warm, darts, " in result.stderr
