"""torch threads for each job of a parallel sweep: configs/launcher/joblib.yaml sets
`threads: ${threads_per_job:${hydra:launcher.n_jobs}}`; importing this module registers the
resolver (lstm-train and hydra_job.compose_config do). Imports neither torch nor Lightning."""

from __future__ import annotations

from omegaconf import OmegaConf


def available_cores() -> int:
    from lstm_lab.training.threads import available_cores as cores

    return len(cores())


def threads_per_job(n_jobs: int | None) -> int:
    """torch threads for each of `n_jobs` parallel jobs so that jobs x threads <= cores.

    `n_jobs` follows joblib: -1 is one job per core, -2 all cores but one, and so on.
    """
    cores = available_cores()
    jobs = 1 if n_jobs is None else int(n_jobs)
    if jobs < 0:
        jobs = max(1, cores + 1 + jobs)
    return max(1, cores // max(1, jobs))


OmegaConf.register_new_resolver("threads_per_job", threads_per_job, replace=True)
