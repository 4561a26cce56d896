"""The optimizer step of a 32-bit run (training/step.py): the same weights and the same hooks
as Lightning's path, and Lightning's path wherever it does more (a closure of the step's own,
a profiler); the plugins of other precisions and strategies, and a run's own, kept."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from lightning.pytorch.plugins import DoublePrecision, MixedPrecision, Precision
from lightning.pytorch.profilers import SimpleProfiler

from helpers import fit_objects
from lstm_lab.training.step import DirectStep

TINY = [
    "data.series.n_points=300",
    "data.series.t_end=30",
    "~callbacks.progress_bar",
    "trainer.max_epochs=2",
]


class HookProbe(L.Callback):
    """Records, at each on_before_optimizer_step, whether every parameter has its gradient."""

    def __init__(self) -> None:
        self.grads_ready: list[bool] = []

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        self.grads_ready.append(all(p.grad is not None for p in pl_module.parameters()))


class OwnPrecision(Precision):
    """A run's own 32-bit precision plugin (`trainer.precision=null +trainer.plugins=[...]`)."""


def fit(compose_train, run_dir, *overrides: str, lightnings: bool = False, **trainer_overrides):
    """Fit a tiny run; `lightnings`: with Lightning's own 32-bit plugin put back."""
    cfg = compose_train(*TINY, f"paths.run_dir={run_dir}", *overrides)
    datamodule, module, trainer = fit_objects(cfg, **trainer_overrides)
    if lightnings:
        trainer.strategy.precision_plugin = Precision()
    probe = HookProbe()
    trainer.callbacks.append(probe)
    trainer.fit(module, datamodule=datamodule)
    weights = {k: v.clone() for k, v in module.state_dict().items()}
    return trainer, probe, weights


def test_a_32_bit_run_steps_directly_to_the_same_weights(compose_train, tmp_path):
    direct, probe, weights = fit(compose_train, tmp_path / "direct")
    assert type(direct.precision_plugin) is DirectStep
    assert direct.precision == "32-true"
    lightning, lightning_probe, lightning_weights = fit(
        compose_train, tmp_path / "lightning", lightnings=True
    )
    assert type(lightning.precision_plugin) is Precision
    assert direct.global_step == lightning.global_step > 0
    # each step's hooks ran once, after the backward pass, in both
    assert probe.grads_ready == lightning_probe.grads_ready == [True] * direct.global_step
    assert weights.keys() == lightning_weights.keys()
    for key, value in lightning_weights.items():
        assert torch.equal(weights[key], value), key


def test_a_closure_of_the_steps_own_runs_before_the_hooks(compose_train, tmp_path):
    # stateful mode trains with Lightning's automatic optimization: the step's closure runs
    # the forward and backward passes, so it must run before on_before_optimizer_step
    trainer, probe, _ = fit(compose_train, tmp_path, "experiment=stateful")
    assert type(trainer.precision_plugin) is DirectStep
    assert trainer.lightning_module.automatic_optimization
    assert probe.grads_ready == [True] * trainer.global_step
    assert trainer.global_step > 0


def test_a_profiled_run_keeps_lightnings_records_of_the_hooks(compose_train, tmp_path):
    profiler = SimpleProfiler()
    trainer, probe, _ = fit(compose_train, tmp_path, profiler=profiler)
    assert type(trainer.precision_plugin) is DirectStep
    records = [a for a in profiler.recorded_durations if a.endswith(".on_before_optimizer_step")]
    assert any(a.startswith("[Callback]") for a in records), sorted(profiler.recorded_durations)
    module_hook = "[LightningModule]RegressionModule.on_before_optimizer_step"
    assert module_hook in records
    assert len(profiler.recorded_durations[module_hook]) == trainer.global_step
    assert len(probe.grads_ready) == trainer.global_step


@pytest.mark.parametrize(
    "overrides,plugin",
    [
        ([], DirectStep),
        (["trainer.precision=32"], DirectStep),
        (["+trainer.strategy=ddp_spawn"], DirectStep),
        (["trainer=ddp", "trainer.accelerator=cpu"], DirectStep),
        (
            ["+trainer.plugins=[{_target_: lightning.pytorch.plugins.io.TorchCheckpointIO}]"],
            DirectStep,
        ),
        (["trainer.precision=64-true"], DoublePrecision),
        (["trainer.precision=bf16-mixed"], MixedPrecision),
        (
            ["trainer.precision=null", "+trainer.plugins=[{_target_: test_step.OwnPrecision}]"],
            OwnPrecision,
        ),
    ],
)
def test_only_lightnings_own_32_bit_plugin_is_replaced(compose_train, tmp_path, overrides, plugin):
    # FSDP, DeepSpeed and XLA bring plugins of their own classes (Lightning's FSDP strategy
    # refuses any other), so they keep theirs by the same rule; they need hardware this lacks
    cfg = compose_train(*TINY, f"paths.run_dir={tmp_path}", *overrides)
    _, _, trainer = fit_objects(cfg)
    assert type(trainer.precision_plugin) is plugin
