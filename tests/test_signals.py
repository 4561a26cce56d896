"""A signal to a parallel sweep: its running jobs stop as a single run does, with a checkpoint
and metrics.json saying so; finished jobs keep their results; a stopped job resumes. A signal
after training: the test and report are not left half-written.
(A single run's signals: test_resume.py and test_combinations.py; DDP's: test_scale_out.py.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import HELPERS, QUICK, cli, read_metrics, run, run_dirs, sweep_dirs
from lstm_lab.records.sweep import job_dirs

SWEEP = [*(o for o in QUICK if not o.startswith("trainer.max_epochs")), "logger=csv"]
SWEEP += ["callbacks.progress_bar=null", "+callbacks.fault._target_=faults.SignalFromEnv"]
# What a complete run's report draws (plots/), for a run of the default data option.
PLOTS = ["test_error_vs_horizon.png", "test_prediction.png", "test_rollout.png"]


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


@pytest.mark.slow
@pytest.mark.parametrize(
    "fault,eval_batch,status,line",
    [
        # in a test of one batch: the test and report end, then the run stops, complete
        ("TEST-SIGINT@0:0", 1024, 130, "interrupted by Ctrl-C after training; the test and "
         "report were finished first, the run is complete: "),
        # in training's last batch (QUICK: 2 epochs of one batch): no batch is left to stop
        # after, so it is the same
        ("SIGINT@1:0", 1024, 130, "interrupted by Ctrl-C after training; the test and "
         "report were finished first, the run is complete: "),
        # as a test of several batches starts: Lightning's handler ends the test at its next
        # batch; resume= tests and reports
        ("TEST-SIGTERM@0:0", 4, 143, "interrupted by SIGTERM in the test, after training; "
         "test and report with: lstm-train resume="),
    ],
)  # fmt: skip
def test_a_signal_after_training_leaves_no_half_written_report(
    tmp_path, fault, eval_batch, status, line
):
    env = {"PYTHONPATH": str(HELPERS), "LSTM_LAB_FAULT": fault}
    args = [*QUICK, "+callbacks.fault._target_=faults.SignalFromEnv"]
    proc = cli(*args, f"data.eval_batch_size={eval_batch}", cwd=tmp_path, extra_env=env)
    assert proc.returncode == status, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith(f"lstm-train: error: {line}")
    (run_dir,) = run_dirs(tmp_path)
    metrics = read_metrics(run_dir)
    if status == 130:
        assert metrics["status"] == "completed" and "mse" in metrics["test"]
        assert sorted(p.name for p in (run_dir / "plots").iterdir()) == PLOTS
        return
    assert metrics["status"] == "interrupted" and "test" not in metrics
    assert not (run_dir / "plots").exists()
    env.pop("LSTM_LAB_FAULT")
    proc = cli(f"resume={run_dir}", cwd=tmp_path, extra_env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = read_metrics(run_dir)
    assert metrics["status"] == "completed" and "mse" in metrics["test"]
    assert sorted(p.name for p in (run_dir / "plots").iterdir()) == PLOTS


def test_a_plot_cut_off_while_written_leaves_no_half_png(tmp_path, monkeypatch):
    """A second Ctrl-C (or a kill) while a PNG is written: the plot's name never holds half a
    file (written under a temporary name, then renamed); one written whole is there."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.image
    import matplotlib.pyplot as plt

    from lstm_lab.evaluation.run_figures import save_figures

    real = matplotlib.image.imsave

    def cut_off(fname, arr, **kwargs):
        real(fname, arr, **kwargs)
        Path(fname).write_bytes(Path(fname).read_bytes()[:100])  # half of it on disk...
        raise KeyboardInterrupt  # ...when the second Ctrl-C comes

    figure = plt.figure(figsize=(2, 2))
    monkeypatch.setattr(matplotlib.image, "imsave", cut_off)
    with pytest.raises(KeyboardInterrupt):
        save_figures({"test_prediction": figure}, tmp_path, [], "test", 0)
    assert not (tmp_path / "test_prediction.png").exists()
    monkeypatch.setattr(matplotlib.image, "imsave", real)
    (written,) = save_figures({"test_prediction": plt.figure(figsize=(2, 2))}, tmp_path, [], "t", 0)
    assert written.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and written.stat().st_size > 100


def test_a_sweep_figure_cut_off_while_written_leaves_no_half_png(tmp_path, monkeypatch):
    """The same for the figures of a sweep's report and lstm-compare (plots.save_figure): a
    figure cut off while written leaves neither half a PNG nor its temporary file."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.figure
    import matplotlib.pyplot as plt

    from lstm_lab.evaluation.plots import save_figure

    real = matplotlib.figure.Figure.savefig

    def cut_off(self, fname, **kwargs):
        real(self, fname, **kwargs)
        Path(fname).write_bytes(Path(fname).read_bytes()[:100])
        raise KeyboardInterrupt

    path = tmp_path / "figures" / "mse_by_hidden.png"
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", cut_off)
    with pytest.raises(KeyboardInterrupt):
        save_figure(plt.figure(figsize=(2, 2)), path)
    assert list(path.parent.iterdir()) == []
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", real)
    save_figure(plt.figure(figsize=(2, 2)), path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 100
    assert sorted(p.name for p in path.parent.iterdir()) == ["mse_by_hidden.png"]
    plt.close("all")


def test_after_training_a_first_signal_is_noted_and_a_ctrl_c_after_it_aborts():
    import os
    import signal
    import time

    from lstm_lab.training.finishing import finish_before_stopping

    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), finish_before_stopping() as got:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.1)  # (the handler runs at the next bytecode)
        assert got == {"signal": signal.SIGTERM}
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.1)
    with pytest.raises(KeyboardInterrupt), finish_before_stopping(noted=signal.SIGINT) as got:
        assert got == {"signal": signal.SIGINT}  # (Ctrl-C in training's last batch)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.1)
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
