"""Run directories that never collide, and resumed runs that write into their own directory.

Hydra names a run `outputs/runs/<time>`; two runs started in the same second would share it.
`claim_dir` creates the directory itself with an atomic `mkdir`, and when another run got there
first takes `<time>_02`, `<time>_03`, ...: still readable, and sorted in start order. The resolver
is cached, so one Hydra launch claims one directory (multirun jobs get a copy of the cache and so
share one sweep directory).

Imports neither torch nor Lightning: it runs while Hydra composes the config.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import shutil
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from lstm_lab.records.runnames import read_swept, run_name

# Run directories this process resumed: a refused resume must never remove one of them.
RESUMED: set[Path] = set()


def is_run_dir(path: str | Path) -> bool:
    return (Path(path) / ".hydra" / "config.yaml").is_file()


# Folders above a run or sweep directory that this process created (outputs/, outputs/runs/):
# a refused run removes them again where they are empty (`remove_created_parents`).
CREATED_PARENTS: list[Path] = []


def claim_dir(path: str) -> str:
    """Create `path`, or the first free `path_NN`, atomically; return the one created."""
    base = Path(path)
    missing = [p for p in reversed(base.absolute().parents) if not p.exists()]
    base.parent.mkdir(parents=True, exist_ok=True)
    CREATED_PARENTS.extend(p for p in missing if p not in CREATED_PARENTS)
    for n in itertools.count(1):
        candidate = base if n == 1 else base.with_name(f"{base.name}_{n:02d}")
        try:
            os.mkdir(candidate)
        except FileExistsError:
            continue
        return str(candidate)
    raise AssertionError("unreachable")


def run_dir(path: str, resume: str | None = None) -> str:
    """The run's directory: `resume` when it names a run directory, else a freshly claimed one.

    A `resume` that is no run directory still gets a fresh directory here; the task then refuses
    it with a message naming `resume`, and the empty directory is removed.
    """
    if resume and is_run_dir(resume):
        RESUMED.add(Path(resume).resolve())
        return str(resume)
    return claim_dir(path)


def job_subdir(sweep_dir: str, overrides, job_num) -> str:
    """`hydra.sweep.subdir`: the run's name (runnames.py), claimed in the sweep directory (`_02`
    when a rounded value makes two names meet), or `job<N>` when nothing is swept."""
    name = run_name(list(overrides), read_swept(Path(sweep_dir))) or f"job{job_num}"
    return Path(claim_dir(str(Path(sweep_dir) / name))).name


def output_subdir(resume: str | None = None) -> str:
    """Where Hydra saves config.yaml: a resumed run keeps its original `.hydra/config.yaml`."""
    return ".hydra/resumed" if resume and is_run_dir(resume) else ".hydra"


def register() -> None:
    for name, fn in (
        ("lstm_lab.claim_dir", claim_dir),
        ("lstm_lab.run_dir", run_dir),
        ("lstm_lab.output_subdir", output_subdir),
        ("lstm_lab.job_subdir", job_subdir),
    ):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn, use_cache=True)


class ChosenDirCheck(Callback):
    """Set in configs/hydra/default.yaml, first of lstm-train's Hydra callbacks: before Hydra
    writes anything, a run directory or sweep directory of the user's choosing that holds a
    run (a sweep) already is refused (config/files.py, `check_chosen_dirs`), whether it came
    from the command line or a config file. Hydra turns an exception of a callback into a
    warning and goes on, so the refusal leaves as a CommandExit (a SystemExit), which the
    commands and lstm_lab.train print as `lstm-train: error: <line>` with exit status 2."""

    def on_run_start(self, config: DictConfig, **kwargs: object) -> None:
        self.check(config, "run")

    def on_multirun_start(self, config: DictConfig, **kwargs: object) -> None:
        self.check(config, "sweep")

    @staticmethod
    def check(config: DictConfig, mode: str) -> None:
        from lstm_lab.config.files import check_chosen_dirs
        from lstm_lab.config.keyspec import ConfigError
        from lstm_lab.user_errors import CommandExit, describe

        try:
            check_chosen_dirs(config, mode)
        except ConfigError as error:
            raise CommandExit(2, describe(error)) from None


def checkpoint_dir(plain: dict) -> Path:
    """Where the run's checkpoints go: the checkpoint callback's dirpath, else <run>/checkpoints."""
    node = (plain.get("callbacks") or {}).get("model_checkpoint") or {}
    return Path(node.get("dirpath") or Path(plain["paths"]["run_dir"]) / "checkpoints")


def resume_command(run_dir: str | Path) -> str:
    """The command that continues a run; a sweep job's name (hidden_size=8,num_layers=1) is
    quoted for Hydra, whose override grammar reads `=` and `,` otherwise."""
    text = str(run_dir)
    if any(c in text for c in "=,"):
        return f"lstm-train \"resume='{text}'\""
    return f"lstm-train resume={text}"


def remove_refused_run_dir(run_dir: Path) -> None:
    """What a refused run leaves goes: the directory Hydra made before the task started holds
    nothing of value (.hydra/, its log, empty TensorBoard files) and is removed. A refused
    resume leaves the run it names as it was, but for the lines in its log."""
    if run_dir.resolve() in RESUMED:
        shutil.rmtree(run_dir / ".hydra" / "resumed", ignore_errors=True)
        return
    if not run_dir.is_dir():
        return
    leftovers = [
        p
        for p in run_dir.iterdir()
        if p.name != ".hydra" and p.suffix != ".log" and not _holds_no_records(p)
    ]
    if not leftovers:
        logging.shutdown()  # close the log file before removing it
        shutil.rmtree(run_dir, ignore_errors=True)
        remove_created_parents()


def remove_created_parents() -> None:
    """The folders this process created above a refused run's (sweep's) directory, deepest
    first, where they are empty: another run may have put its directory there since."""
    while CREATED_PARENTS:
        with contextlib.suppress(OSError):
            CREATED_PARENTS.pop().rmdir()


def _holds_no_records(path: Path) -> bool:
    """A TensorBoard event file, or a folder of them, with nothing logged in them (Lightning
    opens its loggers before training starts, so a config refused then leaves such files)."""
    if not path.exists():
        return False
    files = list(path.iterdir()) if path.is_dir() else [path]
    if not files or not all(f.is_file() and ".tfevents." in f.name for f in files):
        return False
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    return not any(
        event.HasField("summary") for f in files for event in EventFileLoader(str(f)).Load()
    )
