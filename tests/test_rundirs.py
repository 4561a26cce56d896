"""Run directories never collide: claimed atomically, with _02, _03, ... for the late-comers."""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor

import yaml

from helpers import BIN, QUICK, read_metrics, run_dirs
from lstm_lab import CONFIG_DIR
from lstm_lab.rundirs import claim_dir


def test_claims_in_the_same_second_get_distinct_sortable_names(tmp_path):
    base = str(tmp_path / "runs" / "2024-01-01_12-00-00")
    with ThreadPoolExecutor(8) as pool:
        claimed = list(pool.map(lambda _: claim_dir(base), range(12)))
    assert len(set(claimed)) == 12
    names = sorted(p.rsplit("/", 1)[1] for p in claimed)
    assert names[0] == "2024-01-01_12-00-00" and names[1] == "2024-01-01_12-00-00_02"
    assert names[-1] == "2024-01-01_12-00-00_12"
    assert sorted(names) < ["2024-01-01_12-00-01"]  # still before the next second's runs


def test_runs_and_sweeps_both_claim_their_directory():
    hydra = yaml.safe_load((CONFIG_DIR / "hydra" / "default.yaml").read_text())
    assert hydra["run"]["dir"].startswith("${lstm_lab.run_dir:")
    assert hydra["sweep"]["dir"].startswith("${lstm_lab.claim_dir:")


def test_two_runs_started_together_with_the_same_name_keep_apart(tmp_path):
    # Both runs are given the same timestamp-free name, so they collide whatever the clock says.
    same = "hydra.run.dir='${lstm_lab.run_dir:outputs/runs/same,${resume}}'"
    args = [str(BIN / "lstm-train"), *QUICK, "trainer.max_epochs=1", same]
    procs = [
        subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    dirs = run_dirs(tmp_path)
    assert [d.name for d in dirs] == ["same", "same_02"]
    writers = []
    for d in dirs:
        assert read_metrics(d)["status"] == "completed"
        assert (d / "checkpoints" / "best.ckpt").is_file()
        # events.out.tfevents.<time>.<host>.<pid>.<n>: each directory written by one process
        pids = {p.name.split(".")[-2] for p in (d / "tensorboard").glob("events.out.tfevents.*")}
        assert len(pids) == 1
        writers.append(pids.pop())
    assert writers[0] != writers[1]
