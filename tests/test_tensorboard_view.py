"""A sweep the way a user sees it: TensorBoard started on the sweep directory, asked through the
HTTP endpoints its own pages call (runs, scalar tags, the HParams experiment, session groups)."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.request

import pytest

from helpers import BIN, QUICK, cli, read_metrics

TIMEOUT_S = 90


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A two-run sweep, and a TensorBoard serving it: (sweep dir, get(path, body=None))."""
    root = tmp_path_factory.mktemp("tb")
    proc = cli("-m", "model.hidden_size=4,8", *QUICK, "trainer.max_epochs=1", cwd=root)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    (sweep_dir,) = (root / "outputs" / "sweeps").iterdir()
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
        while True:  # until both runs are loaded, with their HParams sessions
            try:
                if len(get("/data/runs")) == 2 and len(_groups(get)) == 2:
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
    assert sorted(get("/data/runs")) == ["hidden_size=4", "hidden_size=8"]
    tags = get("/data/plugin/scalars/tags")
    for run in ("hidden_size=4", "hidden_size=8"):
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
    assert set(groups) == {"hidden_size=4", "hidden_size=8"}
    for name, group in groups.items():
        assert group["hparams"]["model.hidden_size"] == int(name.split("=")[1])
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
