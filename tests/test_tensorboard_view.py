"""A sweep the way a user sees it: TensorBoard started on the sweep directory, asked through the
HTTP endpoints its own pages call (runs, scalar tags, the HParams experiment, session groups).
The sweep is the shared grid (conftest's `quick_sweep`: hidden 4,8 x layers 1,2), only read."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.request

import pytest

from helpers import BIN, read_metrics

TIMEOUT_S = 90
pytestmark = pytest.mark.slow  # a TensorBoard server, started once for the three tests
RUNS = sorted(f"hidden_size={h},num_layers={n}" for h in (4, 8) for n in (1, 2))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(quick_sweep):
    """The shared sweep, and a TensorBoard serving it: (sweep dir, get(path, body=None))."""
    sweep_dir = quick_sweep.sweep_dir
    port = free_port()
    server = subprocess.Popen(
        [str(BIN / "tensorboard"), "--logdir", str(sweep_dir), "--host", "127.0.0.1"]
        + ["--port", str(port), "--load_fast=false", "--reload_interval=1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )

    def get(path: str, body: dict | None = None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data)
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    try:
        deadline = time.monotonic() + TIMEOUT_S
        while True:  # until every run is loaded, with its HParams session
            try:
                if len(get("/data/runs")) == len(RUNS) and len(_groups(get)) == len(RUNS):
                    break
            except OSError:
                pass
            assert server.poll() is None, server.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "TensorBoard did not serve the sweep in time"
            time.sleep(0.5)
        yield sweep_dir, get
    finally:
        server.terminate()
        server.wait(timeout=30)


def _groups(get) -> list[dict]:
    request = {
        "experimentName": "",
        "allowedStatuses": ["STATUS_SUCCESS", "STATUS_UNKNOWN"],
        "colParams": [{"metric": {"tag": "test/mse"}}],
        "startIndex": 0,
        "sliceSize": 100,
    }
    return get("/data/plugin/hparams/session_groups", request)["sessionGroups"]


def test_runs_are_named_by_what_differs(served):
    _, get = served
    assert sorted(get("/data/runs")) == RUNS
    tags = get("/data/plugin/scalars/tags")
    for run in RUNS:
        assert {"train/loss", "val/loss", "test/mse", "hp/best_val_loss"} <= set(tags[run])
        assert "hp/test_mse" not in tags[run]  # test/mse once, not twice


def test_hparams_table_declares_the_columns_that_matter(served):
    _, get = served
    experiment = get("/data/plugin/hparams/experiment", {"experimentName": ""})
    hparams = experiment["hparamInfos"]
    # TensorBoard lists `differs` first and ticks the first five: the swept and key ones
    first = [h["name"] for h in hparams[:5] if h["differs"]]
    assert set(first) == {"model.hidden_size", "model.num_layers", "optimizer.lr", "mode"}
    assert {h["displayName"] for h in hparams} >= {"hidden size", "layers", "lr"}
    # the run's other overrides are columns too, after them
    assert {h["name"] for h in hparams[4:]} == {
        "data.series.n_points",
        "data.series.t_end",
        "trainer.max_epochs",
    }
    metrics = [m["name"]["tag"] for m in experiment["metricInfos"]]
    assert metrics == ["hp/best_val_loss", "test/mse", "hp/rollout_mse", "hp/skill"]


def test_every_run_has_its_values_in_the_table(served):
    sweep_dir, get = served
    groups = {g["name"]: g for g in _groups(get)}
    assert sorted(groups) == RUNS
    for name, group in groups.items():
        swept = dict(pair.split("=") for pair in name.split(","))
        assert group["hparams"]["model.hidden_size"] == int(swept["hidden_size"])
        assert group["hparams"]["model.num_layers"] == int(swept["num_layers"])
        assert group["hparams"]["mode"] == "window"
        metrics = read_metrics(sweep_dir / name)
        values = {m["name"]["tag"]: m["value"] for m in group["metricValues"]}
        forecast = metrics["forecast"]
        assert values == pytest.approx(
            {
                "hp/best_val_loss": metrics["best_val_loss"],
                "test/mse": metrics["test"]["mse"],
                "hp/rollout_mse": forecast["rollout"]["mse"],
                "hp/skill": forecast["best_baseline"]["one_step"]["skill"],
            },
            rel=1e-5,
        )
