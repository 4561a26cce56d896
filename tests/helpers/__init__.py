"""What the tests share: running the entry points, reading what a run wrote.

Two ways to run an entry point (`lstm-train`, `lstm-eval`, `lstm-predict`, `lstm-compare`), with
the same arguments and the same result object (returncode, stdout, stderr):

- `cli(*args, cwd=..., prog=...)`: a subprocess, exactly as a user runs it. Each one pays 4-5 s
  of imports, so it is kept for what only a process shows: exit by signal, kill and resume,
  parallel launchers, DDP, processes racing for a directory, and one plain run per command.
- `run(*args, cwd=..., prog=...)`: the same `main()` in this process, with sys.argv, the
  working directory and the environment set as the subprocess would have them and restored
  after; stdout and stderr are captured, SystemExit becomes the exit status. Same Hydra
  composition, same errors, same files; use it everywhere else.

`train(root, *overrides)` runs lstm-train in-process in `root` and returns the new run
directory. Runs that several tests only read are shared through the session fixtures of
tests/conftest.py (`quick_run`, ...): copy a shared run (`copy_run`) before changing it.

Fault injection for the reliability tests lives in faults.py (loaded by Hydra from
PYTHONPATH=tests/helpers, see there).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import shutil
import subprocess
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

BIN = Path(sys.executable).parent
HELPERS = Path(__file__).resolve().parent
# Small, fast settings for end-to-end runs: fewer points, two short epochs.
QUICK = ["data.series.n_points=300", "data.series.t_end=30", "trainer.max_epochs=2", "threads=1"]
# metrics.json entries that measure time, so differ between otherwise identical runs.
TIMINGS = ("wall_time_s", "time_to_first_step_s", "phases_s")


def _env(extra_env: dict[str, str] | None) -> dict[str, str]:
    """The environment of a run: this one's, less the verbose switches, plus `extra_env` (whose
    PYTHONPATH goes in front of this one's, so the code under test stays the same)."""
    env = {k: v for k, v in os.environ.items() if k not in ("HYDRA_FULL_ERROR", "LSTM_LAB_VERBOSE")}
    env["COLUMNS"] = "120"
    extra = dict(extra_env or {})
    if "PYTHONPATH" in extra and env.get("PYTHONPATH"):
        extra["PYTHONPATH"] += os.pathsep + env["PYTHONPATH"]
    env.update(extra)
    return env


def entry_point(prog: str):
    """The function the console script `prog` calls, found as the installed script finds it."""
    from importlib.metadata import entry_points

    (script,) = entry_points(group="console_scripts", name=prog)
    return script.load()


def cli(
    *args: str,
    cwd: Path,
    prog: str = "lstm-train",
    timeout: int = 900,
    extra_env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """`prog *args` in a subprocess, in `cwd`."""
    return subprocess.run(
        [str(BIN / prog), *args],
        cwd=cwd,
        env=_env(extra_env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@dataclass
class Completed:
    """What `run` returns: the fields of subprocess.CompletedProcess the tests read."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str


def run(
    *args: str, cwd: Path, prog: str = "lstm-train", extra_env: dict[str, str] | None = None
) -> Completed:
    """`prog *args` in this process, in `cwd`: its `main()` as the console script calls it."""
    import torch
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig

    from lstm_lab.hydra_job import restore_root_logger

    main = entry_point(prog)
    out, err = io.StringIO(), io.StringIO()
    saved_env, saved_argv, saved_cwd = dict(os.environ), sys.argv, os.getcwd()
    threads = torch.get_num_threads()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    extra_path = [p for p in (extra_env or {}).get("PYTHONPATH", "").split(os.pathsep) if p]
    code = 0
    try:
        sys.path[:0] = extra_path
        os.environ.clear()
        os.environ.update(_env(extra_env))
        os.chdir(cwd)
        sys.argv = [str(BIN / prog), *args]
        GlobalHydra.instance().clear()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main()
            except SystemExit as stop:
                code = _exit_status(stop.code, err)
            except Exception:  # as the interpreter does with an uncaught exception
                traceback.print_exc(file=err)
                code = 1
    finally:
        for path in extra_path:
            sys.path.remove(path)
        sys.argv = saved_argv
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        GlobalHydra.instance().clear()
        HydraConfig.instance().cfg = None
        torch.set_num_threads(threads)
        restore_root_logger(handlers, level)  # Hydra's console and run-log handlers go
    return Completed([prog, *args], code, out.getvalue(), err.getvalue())


def _exit_status(code: object, err: io.StringIO) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=err)  # sys.exit("message"): printed, status 1
    return 1


def fit_objects(cfg, **trainer_overrides):
    """(datamodule, module, trainer) of a composed lstm-train config, as a run builds them, for
    a fit in this process: torch seeded with 0, no model summary."""
    import torch

    from lstm_lab.config import validate
    from lstm_lab.pipeline import build_series
    from lstm_lab.training.run import build_datamodule, build_module, build_trainer

    plain = validate(cfg)
    torch.manual_seed(0)
    datamodule = build_datamodule(cfg, plain, build_series(plain))
    module = build_module(plain, cfg, datamodule.n_features, datamodule.scaler)
    trainer = build_trainer(cfg, plain, enable_model_summary=False, **trainer_overrides)
    return datamodule, module, trainer


def run_dirs(root: Path) -> list[Path]:
    return sorted(p for p in (root / "outputs" / "runs").glob("*") if p.is_dir())


def sweep_dirs(root: Path) -> list[Path]:
    return sorted(p for p in (root / "outputs" / "sweeps").glob("*") if p.is_dir())


def train(root: Path, *overrides: str) -> Path:
    """lstm-train in this process, in `root`; return its run directory (asserting success)."""
    before = set(run_dirs(root))
    proc = run(*overrides, cwd=root)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (new,) = set(run_dirs(root)) - before
    return new


def copy_run(run_dir: Path, to: Path) -> Path:
    """A copy of a (shared) run directory, for a test that changes it."""
    shutil.copytree(run_dir, to)
    return to


def read_metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


def comparable(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k not in TIMINGS}


def load_events(run_dir: Path):
    """The run's TensorBoard events, read with TensorBoard's own EventAccumulator."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    return events


def hparams_session(events) -> dict:
    """The hyperparameters of the run's HParams session, as TensorBoard reads them."""
    from tensorboard.plugins.hparams import plugin_data_pb2

    content = events.PluginTagToContent("hparams")
    data = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    return {k: v.ListFields()[0][1] for k, v in data.session_start_info.hparams.items()}


class WouldRunCode:
    """Unpickled unsafely, this creates the file `marker`."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def write_bad_files(root: Path) -> Path:
    """The bad checkpoints, and the folders holding a run and a sweep, that docs/errors.md's
    rows name; returns the file the payload would make."""
    import torch

    (root / "not-a-checkpoint.ckpt").write_text("not a checkpoint\n")
    (root / "finished").mkdir()
    (root / "finished" / "metrics.json").write_text('{"status": "completed"}\n')
    (root / "swept").mkdir()
    (root / "swept" / "multirun.yaml").write_text("hydra: {}\n")
    marker = root / "payload-ran"
    torch.save({"state_dict": {}, "epoch": 0, "payload": WouldRunCode(marker)}, root / "evil.ckpt")
    training_state = {"state_dict": {}, "optimizer_states": [], "loops": {}, "epoch": 0}
    torch.save({**training_state, "global_step": 0, "steps_per_call": 4}, root / "grouped.ckpt")
    return marker
