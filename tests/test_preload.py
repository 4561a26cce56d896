"""launcher=joblib's workers start warm: the sweep's process imports what every job needs, then
loky forks its workers from it (src/lstm_lab/training/preload.py). The README's joblib sweep
(test_readme.py) and the joblib column of docs/combinations.md run real sweeps through it."""

from __future__ import annotations

import gc
import sys

from joblib.externals.loky.backend import context
from omegaconf import OmegaConf

from lstm_lab.training.preload import PreloadForWorkers, can_fork


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
