"""A command's config composed and its job set up as Hydra's app does it, through Hydra's public
compose API and nothing of the command line: what lets `lstm_lab.train(cfg)` run in a notebook.

`compose_config` is the command line's composition (the same overrides, `--config-dir`'s
directory joined by its search path); `hydra_job` is what Hydra's launcher does around a task:
the run directory resolved and created, HydraConfig set (the code that reads the run's overrides
and directory finds them there), the job's logging configured, `.hydra/` written. Inside a job
Hydra's app started (a console script), the app has done all this and the task runs as it is.
"""

from __future__ import annotations

import contextlib
import copy
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import configure_log, env_override
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from lstm_lab import CONFIG_DIR
from lstm_lab.records import rundirs
from lstm_lab.training.sweep_threads import threads_per_job

# Hydra's app names a job by its script: cli/train.py's is `train` (its log is train.log).
JOB_NAMES = {"train": "train", "eval": "evaluate", "predict": "predict"}


def register_resolvers() -> None:
    """The resolvers the configs name: the run directories' (configs/hydra/default.yaml) and
    the threads of a parallel sweep's jobs (configs/launcher/joblib.yaml)."""
    rundirs.register()
    OmegaConf.register_new_resolver("threads_per_job", threads_per_job, replace=True)


def register_launchers() -> None:
    """lstm-lab's launchers (src/hydra_plugins/lstm_lab_launchers/), registered with Hydra by
    hand, as Hydra documents: its plugin scan lists `hydra_plugins` with pkgutil, which does not
    see a package of an editable install (setuptools' finder), only of a wheel's. Nothing to
    register without the joblib plugin."""
    from hydra.core.plugins import Plugins

    try:
        from hydra_plugins.lstm_lab_launchers.longest_first import LongestFirstJoblibLauncher
    except ImportError:
        return
    Plugins.instance().register(LongestFirstJoblibLauncher)


def compose_config(
    config_name: str, overrides: Sequence[str] = (), config_dir: str | None = None
) -> DictConfig:
    """The command's config with these overrides, its `hydra` node included; `config_dir` as
    `--config-dir` gives it (its configs join the package's)."""
    from lstm_lab.config import schema

    schema.register()  # the groups' defaults, from the schema
    register_resolvers()
    overrides = list(overrides)
    if config_dir is not None:
        searchpath = f"file://{Path(config_dir).resolve()}"
        overrides = [*overrides, f"hydra.searchpath=[{searchpath}]"]
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(
            str(CONFIG_DIR), job_name=JOB_NAMES[config_name], version_base="1.3"
        ):
            return compose(config_name, overrides, return_hydra_config=True)
    finally:
        GlobalHydra.instance().clear()


def in_app_job(cfg: DictConfig) -> bool:
    """Whether `cfg` is the task config of a job Hydra's app (or launcher) runs now."""
    return "hydra" not in cfg and HydraConfig.initialized()


def complete(cfg: DictConfig, config_name: str) -> DictConfig:
    """A config composed without its `hydra` node (compose's default) gets the command's."""
    if "hydra" in cfg:
        return cfg
    hydra_node = compose_config(config_name).hydra
    merged = copy.deepcopy(cfg)
    with open_dict(merged):
        merged.hydra = hydra_node
    return merged


@contextlib.contextmanager
def hydra_job(cfg: DictConfig) -> Iterator[tuple[DictConfig, Path]]:
    """Run the job of a composed config (its `hydra` node included): yields the task config
    (no `hydra` node) and the job's output directory. HydraConfig and the root logger are as
    they were afterwards: a library call leaves no handler on the caller's logging (the job's log
    file may be gone with a refused run's directory)."""
    before = HydraConfig.instance().cfg
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    cfg = copy.deepcopy(cfg)
    HydraConfig.instance().set_config(cfg)
    try:
        output_dir = Path(str(OmegaConf.select(cfg, "hydra.run.dir"))).absolute()
        with read_write(cfg.hydra.runtime), open_dict(cfg.hydra.runtime):
            cfg.hydra.runtime.output_dir = str(output_dir)
        HydraConfig.instance().set_config(cfg)
        task = copy.deepcopy(cfg)
        with read_write(task), open_dict(task):
            del task["hydra"]
        output_dir.mkdir(parents=True, exist_ok=True)
        configure_log(cfg.hydra.job_logging, cfg.hydra.verbose)
        if cfg.hydra.output_subdir is not None:
            saved = output_dir / str(cfg.hydra.output_subdir)
            saved.mkdir(parents=True, exist_ok=True)
            OmegaConf.save(task, saved / "config.yaml")
            OmegaConf.save(HydraConfig.instance().cfg, saved / "hydra.yaml")
            OmegaConf.save(cfg.hydra.overrides.task, saved / "overrides.yaml")
        with env_override(dict(cfg.hydra.job.env_set)):
            yield task, output_dir
    finally:
        HydraConfig.instance().cfg = before
        restore_root_logger(handlers, level)


def restore_root_logger(handlers: list[logging.Handler], level: int) -> None:
    """The root logger back to `handlers` and `level`: the ones added since are closed."""
    root = logging.getLogger()
    for handler in list(root.handlers):  # the job's console and log-file handlers
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(level)
