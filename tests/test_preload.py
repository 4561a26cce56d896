"""launcher=joblib's workers start warm: the sweep's process imports what every job needs, then
loky forks its workers from it (src/lstm_lab/training/preload.py). The README's joblib sweep
(test_readme.py) and the joblib column of docs/combinations.md run real sweeps through it."""

from __future__ import annotations

import dataclasses
import gc
import pickle
import sys

from hydra.core.utils import JobReturn, JobStatus
from joblib.externals.loky.backend import context
from joblib.externals.loky.backend.reduction import dumps
from omegaconf import OmegaConf

from lstm_lab.training.preload import PlainJobReturns, PreloadForWorkers, can_fork


def test_the_sweep_start_imports_the_modules_and_forks_the_workers(monkeypatch):
    """Where fork is safe (Linux, no GPU); elsewhere the callback leaves loky as it is."""
    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    before = context.get_start_method()
    try:
        PreloadForWorkers(["colorsys"]).on_multirun_start(OmegaConf.create({}))
        forked = can_fork()
        assert ("colorsys" in sys.modules) == forked
        assert context.get_start_method() == ("fork" if forked else before)
    finally:
        context.set_start_method(before, force=True)
        gc.unfreeze()  # the callback froze this process's objects before forking


@dataclasses.dataclass
class _LauncherConf:
    """Stands for a Hydra plugin's config dataclass (JobLibLauncherConf, BasicSweeperConf)."""

    n_jobs: int = 2


def test_a_jobs_return_leaves_without_the_types_hydra_remade_in_the_worker(monkeypatch):
    """In a worker Hydra re-runs its plugins' modules before each job, so the dataclass typing
    the job's Hydra config is no longer its module's, and cloudpickle pickles it by value:
    with its methods' code, each found by a search of every imported module. loky's `dumps`
    is what the worker sends the return with."""
    hydra_cfg = OmegaConf.create({"hydra": {"launcher": OmegaConf.structured(_LauncherConf)}})
    remade = dataclasses.make_dataclass("_LauncherConf", [("n_jobs", int, 2)])
    monkeypatch.setattr(sys.modules[__name__], "_LauncherConf", remade)
    job_return = JobReturn(hydra_cfg=hydra_cfg, status=JobStatus.COMPLETED)
    job_return.return_value = 0.5
    assert b"_LauncherConf" in bytes(dumps(job_return))  # the class travels with it

    PlainJobReturns().on_job_end(OmegaConf.create({}), job_return)

    assert job_return.hydra_cfg == {"hydra": {"launcher": {"n_jobs": 2}}}
    assert OmegaConf.get_type(job_return.hydra_cfg.hydra.launcher) is dict
    sent = bytes(dumps(job_return))
    assert b"_LauncherConf" not in sent
    back = pickle.loads(sent)
    assert back.return_value == 0.5 and back.hydra_cfg.hydra.launcher.n_jobs == 2
