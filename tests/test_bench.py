"""The benchmark runs and writes its JSON (timings are reported by `make bench`, never asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_quick_benchmark_writes_every_figure(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench.py"), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    figures = result["figures"]
    for name in (
        "throughput_ratio_h16",
        "throughput_ratio_h100",
        "mse_ratio_tutorial_over_default",
        "wall_ratio_default_over_tutorial",
        "help_s",
        "config_error_s",
        "busy_ratio_default",
        "busy_ratio_elnino",
    ):
        assert figures[name] > 0, name
    assert result["runs"]["default"]["peak_rss_mib"] > 50
    assert result["runs"]["default_time_to_first_step_s"] > 0
    assert set(result["runs"]["default_phases_s"]) == {
        "startup",
        "train",
        "test",
        "report",
        "after",
    }
    assert result["busy"]["default"]["threads_choice"].startswith("auto: 1")
    assert {t["hidden_size"] for t in result["throughput"]} == {16, 100}
    assert "throughput_ratio_h16" in proc.stdout


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
