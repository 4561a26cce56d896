"""One training run, from a validated config to the files in its run directory."""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from lstm_lab.config import ConfigError
from lstm_lab.evaluation.forecast import predict
from lstm_lab.models.lstm import LSTMRegressor
from lstm_lab.models.module import LSTMModule, run_length_kwargs
from lstm_lab.report import hparams_of, print_summary, run_info, write_json

# Lightning 2.6 builds torch's LeafSpec, which torch 2.13 deprecates; nothing to set on our side.
warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated")

# Keys of a scheduler config that are Lightning's lr_scheduler options, not the scheduler's.
SCHEDULER_OPTIONS = ("interval", "frequency", "monitor")


def instantiate_all(group: DictConfig | None) -> list[Any]:
    """Build every `_target_` node of a group (callbacks, loggers), in config order."""
    return [instantiate(node) for node in (group or {}).values() if node and "_target_" in node]


def build_module(plain: dict, cfg: DictConfig, n_features: int, scaler) -> LSTMModule:
    model, data = plain["model"], plain["data"]
    net = LSTMRegressor(
        input_size=n_features,
        hidden_size=model["hidden_size"],
        num_layers=model["num_layers"],
        dropout=model["dropout"],
        horizon=data["horizon"],
    )
    scheduler_cfg = dict(plain.get("scheduler") or {})
    options = {k: scheduler_cfg.pop(k) for k in SCHEDULER_OPTIONS if k in scheduler_cfg}
    optimizer = instantiate(cfg.optimizer)
    scheduler = instantiate(scheduler_cfg) if scheduler_cfg else None
    _try_factories(optimizer, scheduler)
    return LSTMModule(
        net,
        optimizer=optimizer,
        scheduler=scheduler,
        scheduler_options=options,
        carry_state=model["carry_state"],
        target_mean=float(scaler.mean[0]),
        target_std=float(scaler.std[0]),
    )


def _try_factories(optimizer, scheduler) -> None:
    """Build the optimizer and scheduler once on a dummy parameter, so a bad argument is a
    config error now rather than a traceback after training has started."""
    try:
        built = optimizer([torch.nn.Parameter(torch.zeros(1))])
    except (TypeError, ValueError) as error:
        raise ConfigError("optimizer", str(error)) from None
    try:
        if scheduler is not None:
            scheduler(built, **run_length_kwargs(scheduler, 1))
    except (TypeError, ValueError) as error:
        raise ConfigError("scheduler", str(error)) from None


def train_and_test(cfg: DictConfig, plain: dict, series: np.ndarray) -> dict[str, Any]:
    """Fit, test the best checkpoint, write metrics.json, HParams and a prediction plot."""
    start = time.perf_counter()
    run_dir = Path(plain["paths"]["run_dir"])
    if plain.get("threads"):
        torch.set_num_threads(plain["threads"])
    L.seed_everything(plain["seed"], workers=True, verbose=False)

    datamodule = instantiate(cfg.data, series=series, seed=plain["seed"])
    module = build_module(plain, cfg, datamodule.n_features, datamodule.scaler)
    trainer: L.Trainer = instantiate(
        cfg.trainer,
        callbacks=instantiate_all(cfg.get("callbacks")),
        logger=instantiate_all(cfg.get("logger")),
    )
    trainer.fit(module, datamodule=datamodule)

    checkpoint = trainer.checkpoint_callback
    best = "best" if checkpoint is not None and checkpoint.best_model_path else None
    tested = trainer.test(module, datamodule=datamodule, ckpt_path=best, verbose=False)[0]
    test = {k.split("/", 1)[1]: float(v) for k, v in tested.items() if k.startswith("test/")}

    metrics = {
        "status": "completed",
        "best_val_loss": module.best_val_loss,
        "test": test,
        "epochs": trainer.current_epoch,
        "global_step": trainer.global_step,
        "n_params": sum(p.numel() for p in module.net.parameters()),
        **run_info(plain),
        "wall_time_s": round(time.perf_counter() - start, 3),
    }
    if trainer.is_global_zero:
        _report(trainer, module, datamodule, plain, metrics, run_dir)
    return metrics


def _test_times(plain: dict, n_windows: int):
    """The time of each test window's first target, when the series has a time column."""
    from lstm_lab.data.csv_file import time_axis
    from lstm_lab.data.windows import split_bounds

    data = plain["data"]
    times = time_axis(data["series"])
    if times is None:
        return None
    start = split_bounds(len(times), data["split"]["train"], data["split"]["val"])["test"][0]
    first = start + data["window"]
    return times[first : first + n_windows]


def _report(trainer, module, datamodule, plain, metrics, run_dir: Path) -> None:
    from lstm_lab.evaluation.plots import plot_prediction

    x, y = datamodule.tensors["test"]
    scaler = datamodule.scaler
    # With several horizon steps, the plot shows the first: a continuous line, one per window.
    pred = scaler.inverse_target(predict(module.net, x)[:, 0])
    true = scaler.inverse_target(y[:, 0].cpu().numpy())
    horizon, test = plain["data"]["horizon"], metrics["test"]
    if horizon == 1:
        title = f"Test split: one-step predictions (MSE {test['mse']:.3g})"
    else:
        title = (
            f"Test split: step 1 of {horizon}-step predictions "
            f"(step-1 MSE {test['mse_step1']:.3g}, all steps {test['mse']:.3g})"
        )
    fig = plot_prediction(
        true,
        pred,
        title,
        run_dir / "plots" / "test_prediction.png",
        time=_test_times(plain, len(y)),
    )

    hp_metrics = {
        "hp/best_val_loss": metrics["best_val_loss"],
        **{f"hp/test_{k}": v for k, v in metrics["test"].items()},
    }
    for logger in trainer.loggers:
        if isinstance(logger, L.pytorch.loggers.TensorBoardLogger):
            logger.experiment.add_figure("test/prediction", fig, trainer.global_step)
            logger.log_hyperparams(hparams_of(plain), hp_metrics, step=trainer.global_step)
        logger.finalize("success")
    write_json(run_dir / "metrics.json", metrics)
    print_summary(metrics, run_dir)
