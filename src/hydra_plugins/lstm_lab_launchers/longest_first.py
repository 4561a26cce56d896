"""`launcher=joblib`'s launcher: Hydra's joblib launcher, the longest jobs first.

joblib hands the next job to whichever worker is free, in the sweeper's order. A grid such as
`model.hidden_size=32,64,128 model.num_layers=1,2` alternates short and long jobs, so on two
workers every two-layer job went to the same worker, which ended a long job after the other
(0.6-0.8 s of a 6-job sweep's 9 s here). Started longest first (the classic LPT rule), the
workers end within about one short job of each other. Each job keeps the sweeper's number
(hydra.job.num, its run directory's fallback name) and the results come back in the
sweeper's order. The length of a job is estimated from the keys that set a training's work:
`trainer.max_epochs x data.window x model.num_layers x model.hidden_size^2` (the job's value,
else the sweep's); jobs that differ in nothing of these keep their order.

This module is imported by Hydra's plugin scan at every start: it imports nothing heavy, and
defines the launcher only where the joblib plugin is installed (the `parallel` extra).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, configure_log, filter_overrides, run_job, setup_globals
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict

log = logging.getLogger(__name__)

# the keys whose product estimates a job's length: (key, power)
WORK = (
    ("trainer.max_epochs", 1),
    ("data.window", 1),
    ("model.num_layers", 1),
    ("model.hidden_size", 2),
)


def job_length(config: DictConfig, overrides: Sequence[str]) -> float:
    """The relative length of the job of `overrides` in the sweep of `config` (see above)."""
    given = {
        o.key_or_group: o.value()
        for o in OverridesParser.create().parse_overrides(list(overrides))
        if not o.is_delete()
    }
    length = 1.0
    for key, power in WORK:
        value = given.get(key, OmegaConf.select(config, key, default=None))
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            length *= float(value) ** power
    return length


def longest_first(config: DictConfig, job_overrides: Sequence[Sequence[str]]) -> list[int]:
    """The jobs' indices, the longest first; equal lengths in the sweeper's order."""
    lengths = [job_length(config, overrides) for overrides in job_overrides]
    return sorted(range(len(job_overrides)), key=lambda i: -lengths[i])


def run_one(
    idx: int,
    overrides: Sequence[str],
    hydra_context: HydraContext,
    config: DictConfig,
    task_function: TaskFunction,
    singleton_state: dict[Any, Any],
) -> JobReturn:
    """One job in a worker, as Hydra's joblib launcher runs it (its function is private)."""
    setup_globals()
    Singleton.set_state(singleton_state)
    sweep_config = hydra_context.config_loader.load_sweep_config(config, list(overrides))
    with open_dict(sweep_config):
        sweep_config.hydra.job.id = f"{sweep_config.hydra.job.name}_{idx}"
        sweep_config.hydra.job.num = idx
    HydraConfig.instance().set_config(sweep_config)
    return run_job(
        hydra_context=hydra_context,
        config=sweep_config,
        task_function=task_function,
        job_dir_key="hydra.sweep.dir",
        job_subdir_key="hydra.sweep.subdir",
    )


try:
    from hydra_plugins.hydra_joblib_launcher.joblib_launcher import JoblibLauncher
except ImportError:  # the `parallel` extra is not installed: no launcher to extend
    JoblibLauncher = None  # type: ignore[assignment,misc]

if JoblibLauncher is not None:

    class LongestFirstJoblibLauncher(JoblibLauncher):
        """Hydra's JoblibLauncher (same settings: hydra.launcher.n_jobs, ...), longest jobs
        first."""

        def launch(
            self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
        ) -> Sequence[JobReturn]:
            from joblib import Parallel, delayed

            setup_globals()
            assert self.config is not None and self.hydra_context is not None
            configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
            sweep_dir = Path(str(self.config.hydra.sweep.dir))
            sweep_dir.mkdir(parents=True, exist_ok=True)
            # loky, as Hydra's launcher has it (the threading backend cannot run Hydra jobs);
            # its count settings may come as strings
            settings = {**self.joblib, "backend": "loky"}
            for key in ("pre_dispatch", "batch_size", "max_nbytes"):
                if isinstance(settings.get(key), str) and settings[key].isdigit():
                    settings[key] = int(settings[key])
            order = longest_first(self.config, job_overrides)
            log.info(
                f"Joblib.Parallel({','.join(f'{k}={v}' for k, v in settings.items())}) is "
                f"launching {len(job_overrides)} jobs, the longest first"
            )
            log.info(f"Launching jobs, sweep output dir : {sweep_dir}")
            for i in order:
                log.info(
                    f"\t#{initial_job_idx + i} : {' '.join(filter_overrides(job_overrides[i]))}"
                )
            state = Singleton.get_state()
            runs = Parallel(**settings)(
                delayed(run_one)(
                    initial_job_idx + i,
                    job_overrides[i],
                    self.hydra_context,
                    self.config,
                    self.task_function,
                    state,
                )
                for i in order
            )
            by_job = dict(zip(order, runs, strict=True))
            return [by_job[i] for i in range(len(job_overrides))]
