"""trainer.deterministic without torch's fill of new tensors (training/determinism.py): the
same weights bit for bit as with the fill, the fill off only while a stage runs."""

from __future__ import annotations

import torch
import torch.utils.deterministic as deterministic

from lstm_lab.config import validate
from lstm_lab.pipeline import build_series
from lstm_lab.training import distributed
from lstm_lab.training.run import build_datamodule, build_module, build_trainer

TINY = ["data.series.n_points=300", "data.series.t_end=30", "~callbacks.progress_bar"]


def fit(compose_train, run_dir) -> tuple[dict, list[tuple[bool, bool]]]:
    """The weights after two epochs, and (deterministic algorithms, fill) seen at each epoch."""
    cfg = compose_train(*TINY, "trainer.max_epochs=2", f"paths.run_dir={run_dir}")
    plain = validate(cfg)
    torch.manual_seed(0)
    datamodule = build_datamodule(cfg, plain, build_series(plain))
    module = build_module(plain, cfg, datamodule.n_features, datamodule.scaler)
    seen: list[tuple[bool, bool]] = []
    start = module.on_train_epoch_start

    def probe() -> None:
        seen.append(
            (torch.are_deterministic_algorithms_enabled(), deterministic.fill_uninitialized_memory)
        )
        start()

    module.on_train_epoch_start = probe
    trainer = build_trainer(cfg, plain, enable_model_summary=False)
    trainer.fit(module, datamodule=datamodule)
    return {k: v.clone() for k, v in module.state_dict().items()}, seen


def test_skipping_the_fill_trains_the_same_weights(compose_train, tmp_path, monkeypatch):
    monkeypatch.setattr(deterministic, "fill_uninitialized_memory", True)  # torch's default
    skipped, seen = fit(compose_train, tmp_path / "skipped")
    assert seen == [(True, False), (True, False)]  # deterministic, without the fill
    assert deterministic.fill_uninitialized_memory, "the fill is not back after fit"

    monkeypatch.setattr(distributed, "skip_uninitialized_fill", lambda: None)  # the fill kept
    filled, seen = fit(compose_train, tmp_path / "filled")
    assert seen == [(True, True), (True, True)]
    assert skipped.keys() == filled.keys()
    for key, value in filled.items():
        assert torch.equal(skipped[key], value), key


def test_the_fill_comes_back_when_a_stage_fails(monkeypatch):
    monkeypatch.setattr(deterministic, "fill_uninitialized_memory", True)
    before = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        progress = distributed.RunProgress()
        progress.setup(None, None, "fit")
        assert not deterministic.fill_uninitialized_memory
        progress.on_exception(None, None, RuntimeError("a failed fit"))
        assert deterministic.fill_uninitialized_memory
    finally:
        torch.use_deterministic_algorithms(before, warn_only=warn_only)
