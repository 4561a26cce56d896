"""A signal to a parallel sweep: its running jobs stop as a single run does, with a checkpoint
and metrics.json saying so; finished jobs keep their results; a stopped job resumes.
(A single run's signals: test_resume.py and test_combinations.py; DDP's: test_scale_out.py.)
"""

from __future__ import annotations

import pytest

from helpers import HELPERS, QUICK, cli, read_metrics, run, sweep_dirs
from lstm_lab.records.sweep import job_dirs

SWEEP = [*(o for o in QUICK if not o.startswith("trainer.max_epochs")), "logger=csv"]
SWEEP += ["callbacks.progress_bar=null", "+callbacks.fault._target_=faults.SignalFromEnv"]


@pytest.mark.slow
def test_sigterm_to_a_joblib_sweep_stops_its_jobs_and_they_resume(tmp_path):
    # The 3-epoch job signals the sweep's own process after the first batch of epoch 1, as a
    # scheduler would; the 1-epoch job never gets there.
    env = {"PYTHONPATH": str(HELPERS), "LSTM_LAB_FAULT": "PARENT-SIGTERM@1:0"}
    jobs = ["launcher=joblib", "hydra.launcher.n_jobs=2", "trainer.max_epochs=1,3"]
    proc = cli("-m", *jobs, *SWEEP, cwd=tmp_path, extra_env=env, timeout=300)
    assert proc.returncode == 143, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert (
        proc.stderr.strip()
        .splitlines()[-1]
        .startswith(
            "lstm-train: error: sweep stopped by SIGTERM; continue each interrupted job with"
        )
    )
    (sweep_dir,) = sweep_dirs(tmp_path)
    assert not (sweep_dir / ".stopping").exists()
    ended = {job.name: read_metrics(job) for job in job_dirs(sweep_dir)}
    (long_job,) = [job for job in job_dirs(sweep_dir) if "max_epochs=3" in job.name]
    assert ended[long_job.name]["status"] == "interrupted"
    assert (long_job / "checkpoints" / "last.ckpt").is_file()
    # the short job finished before the signal (kept) or was stopped too (resumable)
    assert all(m["status"] in ("completed", "interrupted") for m in ended.values()), ended

    proc = run(f"resume='{long_job}'", cwd=tmp_path, extra_env={"PYTHONPATH": str(HELPERS)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = read_metrics(long_job)
    assert (metrics["status"], metrics["epochs"]) == ("completed", 3)
