"""One training run, from a validated config to the files in its run directory."""

from __future__ import annotations

import math
import os
import signal
import time
import warnings
from pathlib import Path
from typing import Any, NoReturn

import lightning as L
import numpy as np
import torch
from hydra.utils import instantiate
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig

from lstm_lab.config import ConfigError, schema
from lstm_lab.models.build import build_network, check_network
from lstm_lab.models.module import RegressionModule, ScheduleMismatch, run_length_kwargs
from lstm_lab.models.nonfinite import NonFiniteLoss
from lstm_lab.models.stateful import StatefulRegressionModule
from lstm_lab.records.hparams_tab import log_hparams
from lstm_lab.records.report import hparams_of, print_summary, process_age_s, run_info, write_json
from lstm_lab.records.rundirs import checkpoint_dir, resume_command
from lstm_lab.training.checkpoint_io import use_local_checkpoint_io
from lstm_lab.training.distributed import RunProgress, load_tested_weights, progress, run_progress
from lstm_lab.training.failures import failure_reason
from lstm_lab.training.finishing import finish_before_stopping, signal_name, stop_if_signalled
from lstm_lab.training.memory import is_out_of_memory
from lstm_lab.training.safeguards import (
    CheckpointOnInterrupt,
    ExactResume,
    RecordRunConfig,
    StopOnNonFiniteLoss,
    ctrl_c_stops_after_batch,
)
from lstm_lab.training.step import use_direct_step
from lstm_lab.training.stopped import RunStopped
from lstm_lab.training.strategies import steps_per_call
from lstm_lab.training.threads import set_threads, shape_of

# Lightning loads checkpoints (fit's ckpt_path, test's "best") with torch's safe unpickler only.
WEIGHTS_ONLY = True

# Lightning 2.6 builds torch's LeafSpec, which torch 2.13 deprecates; nothing to set on our side.
warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated")

DEFAULT_DATAMODULE = schema.Data._target_  # the data option's DataModule, as the schema states it

# Keys of a scheduler config that are Lightning's lr_scheduler options, not the scheduler's.
SCHEDULER_OPTIONS = ("interval", "frequency", "monitor")


def instantiate_all(group: DictConfig | None) -> list[Any]:
    """Build every `_target_` node of a group (callbacks, loggers), in config order."""
    nodes = (group or {}).values()
    return [
        instantiate(node) for node in nodes if isinstance(node, DictConfig) and "_target_" in node
    ]


def build_module(
    plain: dict, cfg: DictConfig, n_features: int, scaler, transform_scale: float = 1.0
) -> RegressionModule:
    model, data = plain["model"], plain["data"]
    net = build_network(
        schema.network_section(model),
        n_features,
        data["horizon"],
        data.get("transform", "none"),
        transform_scale,
    )
    window = model["bptt"] if model["stateful"] else data["window"]
    check_network(net, model, window, n_features, data["horizon"])
    scheduler_cfg = dict(plain.get("scheduler") or {})
    options = {k: scheduler_cfg.pop(k) for k in SCHEDULER_OPTIONS if k in scheduler_cfg}
    optimizer = instantiate(cfg.optimizer)
    scheduler = instantiate(scheduler_cfg) if scheduler_cfg else None
    _try_factories(optimizer, scheduler)
    module_class = StatefulRegressionModule if model["stateful"] else RegressionModule
    return module_class(
        net,
        optimizer=optimizer,
        scheduler=scheduler,
        scheduler_options=options,
        carry_state=model["carry_state"],
        target_mean=float(scaler.mean[0]),
        target_std=float(scaler.std[0]),
        steps_per_call=steps_per_call(plain),
        horizon=data["horizon"],
        log_every_n_steps=(plain.get("logger") or {}).get("log_every_n_steps"),
    )


def mode_of(plain: dict) -> str:
    """How the data is fed: independent windows, or contiguous streams with carried state."""
    return "stateful" if plain["model"]["stateful"] else "window"


def build_datamodule(cfg: DictConfig, plain: dict, series: np.ndarray) -> L.LightningDataModule:
    """Window mode: `data._target_`, WindowDataModule or a subclass of the user's (lstm-eval,
    lstm-predict and the forecasts rebuild its windows, split and scaler as WindowDataModule's).
    Stateful mode: the streams of StreamDataModule."""
    from lstm_lab.data.datamodule import WindowDataModule

    target = plain["data"]["_target_"]
    if mode_of(plain) == "window":
        datamodule = instantiate(
            cfg.data, series=series, seed=plain["seed"], steps_per_call=steps_per_call(plain)
        )
        if not isinstance(datamodule, WindowDataModule):
            raise ConfigError(
                "data._target_",
                f"{target} is not a subclass of lstm_lab.data.datamodule.WindowDataModule, "
                "whose windows, split and scaler evaluation and lstm-eval rebuild; extend it, "
                "or bring your own series with data.series._target_",
            )
        return datamodule
    if target != DEFAULT_DATAMODULE:
        raise ConfigError(
            "data._target_",
            f"got {target} with model.stateful=true; stateful mode cuts the series into its "
            "own streams (StreamDataModule): use data.series._target_ for your own series",
        )
    from lstm_lab.data.stream_datamodule import StreamDataModule

    data, model = plain["data"], plain["model"]
    return StreamDataModule(
        series,
        horizon=data["horizon"],
        split=data["split"],
        bptt=model["bptt"],
        streams=model["streams"],
        eval_batch_size=data["eval_batch_size"],
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


def build_trainer(cfg: DictConfig, plain: dict, **overrides: Any) -> L.Trainer:
    """The Trainer of a run: the configured callbacks and loggers, plus the safeguards every
    run carries (NaN stop, exact-resume state, checkpoint on interrupt, the process's torch
    settings: threads, deterministic algorithms without the fill of new tensors), and for a
    32-bit run the shorter optimizer step (training/step.py)."""
    trainer = instantiate(
        cfg.trainer,
        callbacks=[
            *instantiate_all(cfg.get("callbacks")),
            StopOnNonFiniteLoss(),
            ExactResume(),
            RecordRunConfig(plain),
            CheckpointOnInterrupt(checkpoint_dir(plain) / "last.ckpt"),
            RunProgress(plain.get("threads")),
        ],
        logger=instantiate_all(cfg.get("logger")),
        **overrides,
    )
    use_direct_step(trainer)
    use_local_checkpoint_io(trainer)
    return trainer


def train_and_test(
    cfg: DictConfig, plain: dict, series: np.ndarray, ckpt_path: str | None = None
) -> dict[str, Any]:
    """Fit (from `ckpt_path` when given), test the best checkpoint, write metrics.json, HParams
    and a prediction plot. When training stops early: metrics.json, then RunStopped; running
    out of memory too (a one-line reason instead of torch's traceback)."""
    start = time.perf_counter()
    try:
        return _train_and_test(cfg, plain, series, ckpt_path, start)
    except (RuntimeError, MemoryError) as error:  # torch.OutOfMemoryError is a RuntimeError
        if not (isinstance(error, MemoryError) or is_out_of_memory(error)):
            raise
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        reason = f"out of memory: {first}"
        if int(os.environ.get("RANK", "0")) == 0:
            metrics = {"status": "failed", "reason": reason, **run_info(plain)}
            metrics["wall_time_s"] = round(time.perf_counter() - start, 3)
            write_json(Path(plain["paths"]["run_dir"]) / "metrics.json", metrics)
        raise RunStopped(
            f"training failed, {reason}; lower model.hidden_size, data.batch_size or data.window",
            exit_code=1,
        ) from None


def _train_and_test(
    cfg: DictConfig, plain: dict, series: np.ndarray, ckpt_path: str | None, start: float
) -> dict[str, Any]:
    origin = _phase_origin(process_age_s())
    choice = set_threads(plain["threads"], shape_of(plain, *series.shape))
    plain = {**plain, "threads": choice.threads, "threads_choice": choice.why}
    L.seed_everything(plain["seed"], workers=True, verbose=False)

    datamodule = build_datamodule(cfg, plain, series)
    module = build_module(
        plain,
        cfg,
        datamodule.n_features,
        datamodule.scaler,
        getattr(datamodule, "transform_scale", 1.0),
    )
    trainer = build_trainer(cfg, plain)
    if plain.get("resume"):
        from lstm_lab.training.resumed_curves import written_points

        module.written_points = written_points(trainer, Path(plain["paths"]["run_dir"]))
    _fit(trainer, module, datamodule, plain, ckpt_path, start)
    run_dir = Path(plain["paths"]["run_dir"])
    on_interrupt = checkpoint_on_interrupt(trainer)
    # (a signal noted in the last batch of training had no batch left to stop after)
    with finish_before_stopping(noted=on_interrupt.got) as stopped:
        try:
            metrics = _test_and_report(trainer, module, datamodule, plain, start, origin)
        except SIGTERMException:  # Lightning ends a test of several batches on SIGTERM
            reason = "interrupted by SIGTERM in the test, after training"
            _stop(trainer, module, plain, run_dir, start, "interrupted", reason)
            raise RunStopped(
                f"{reason}; test and report with: {resume_command(run_dir)}",
                exit_code=128 + signal.SIGTERM,
            ) from None
        except Exception as error:  # a bug in the test or report: marked failed, as in fit
            _fail(trainer, module, plain, start, error, None, "testing")
    # the run is complete; a sweep's next jobs do not start
    stop_if_signalled(
        stopped,
        "interrupted by {how} after training; the test and report were finished first, "
        f"the run is complete: {run_dir}",
    )
    return metrics


def _test_and_report(trainer, module, datamodule, plain: dict, start: float, origin) -> dict:
    """Test the best checkpoint, then metrics.json, HParams and the plots (rank 0)."""
    run_dir = Path(plain["paths"]["run_dir"])
    trained_at = process_age_s()
    fitted = progress(trainer, module)  # read before test: a spawned test resets the metrics
    module.fitted_steps = fitted["global_step"]  # the step of test/* (a spawned test's is 0)
    # the path itself, not "best": with last.ckpt's ModelCheckpoint beside best.ckpt's,
    # "best" makes Lightning warn on every run that it picks the first checkpoint callback
    best = _best_path(trainer)
    if "fit" not in run_progress(trainer).ran_here:  # the test's processes are new ones too
        from lstm_lab.training.resumed_curves import keep_fitted_csv_rows

        keep_fitted_csv_rows(trainer)
    tested = trainer.test(
        module, datamodule=datamodule, ckpt_path=best, verbose=False, weights_only=WEIGHTS_ONLY
    )[0]
    load_tested_weights(trainer, module, best)
    test = {k.split("/", 1)[1]: float(v) for k, v in tested.items() if k.startswith("test/")}

    metrics = {
        "status": "completed",
        "mode": mode_of(plain),
        "best_val_loss": fitted["best_val_loss"],
        "test": test,
        "epochs": fitted["epochs"],
        "global_step": fitted["global_step"],
        "n_params": sum(p.numel() for p in module.net.parameters()),
        **run_info(plain),
        "time_to_first_step_s": fitted["time_to_first_step_s"],
        "wall_time_s": round(time.perf_counter() - start, 3),
        # a spawned or forked process's age is not this one's: no phases then
        "phases_s": {}
        if "fit" not in run_progress(trainer).ran_here
        else _phases(origin, fitted["time_to_first_step_s"], trained_at, process_age_s()),
    }
    if trainer.is_global_zero:
        _report(trainer, module, datamodule, plain, metrics, run_dir, origin)
    return metrics


def checkpoint_on_interrupt(trainer: L.Trainer) -> CheckpointOnInterrupt:
    """The CheckpointOnInterrupt every run's Trainer carries (build_trainer)."""
    return next(c for c in trainer.callbacks if isinstance(c, CheckpointOnInterrupt))


def _fit(trainer, module, datamodule, plain: dict, ckpt_path: str | None, start: float) -> None:
    """trainer.fit; a run that stops early writes its metrics.json and raises RunStopped."""
    run_dir = Path(plain["paths"]["run_dir"])
    on_interrupt = checkpoint_on_interrupt(trainer)
    try:
        with ctrl_c_stops_after_batch() as interrupted:
            trainer.fit(
                module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=WEIGHTS_ONLY
            )
    except ScheduleMismatch as error:
        raise ConfigError("ckpt_path", str(error)) from None
    except NonFiniteLoss as error:
        _stop(trainer, module, plain, run_dir, start, "failed", f"non-finite loss: {error}")
        raise RunStopped(
            f"training stopped: {error}; best checkpoint so far: "
            f"{_best_path(trainer) or 'none (no epoch finished)'}",
            exit_code=1,
        ) from None
    except SIGTERMException:
        signum = signal.SIGINT if interrupted.get("signal") == signal.SIGINT else signal.SIGTERM
        epoch, step = on_interrupt.stopped_at or (trainer.current_epoch, trainer.global_step)
        reason = f"interrupted by {signal_name(signum)} at epoch {epoch}, step {step}"
        _stop(trainer, module, plain, run_dir, start, "interrupted", reason, on_interrupt.recovered)
        saved = f"checkpoint saved: {on_interrupt.saved}; " if on_interrupt.saved else ""
        raise RunStopped(
            f"{reason}; {saved}continue with: {resume_command(run_dir)}",
            exit_code=128 + signum,
        ) from None
    except Exception as error:  # anything else: the run is marked failed, never left as is
        _fail(trainer, module, plain, start, error, ckpt_path, "training")


def _fail(
    trainer, module, plain, start: float, error: Exception, ckpt_path, phase: str
) -> NoReturn:
    """A run that failed in `phase` (a bug, not a refusal): metrics.json and HParams say so,
    then RunStopped with its one line (exit 1). Out of memory keeps train_and_test's line."""
    if isinstance(error, MemoryError) or is_out_of_memory(error):
        raise error
    reason = failure_reason(error, ckpt_path)
    _stop(trainer, module, plain, Path(plain["paths"]["run_dir"]), start, "failed", reason)
    raise RunStopped(f"{phase} failed: {reason}", exit_code=1) from error


_RUNS_IN_PROCESS = []  # a sweep's jobs share a process with the basic launcher


def _phase_origin(age_at_start: float | None) -> float | None:
    """Where a run's start-up phase begins, as a process age: the process start for its first
    run (imports included), the run's own start for a sweep's later jobs, which find
    everything loaded; so a sweep's first job and the others compare."""
    _RUNS_IN_PROCESS.append(age_at_start)
    if age_at_start is None:
        return None
    return 0.0 if len(_RUNS_IN_PROCESS) == 1 else age_at_start


def _phases(
    origin: float | None,
    first_step: float | None,
    trained_at: float | None,
    tested_at: float | None,
) -> dict:
    """Seconds of the run before its first training step (from `origin`), in training, in the
    test pass (the report's share is added when it is done); empty where a time is unknown."""
    if None in (origin, first_step, trained_at, tested_at) or not math.isfinite(first_step):
        return {}
    return {
        "startup": round(max(0.0, first_step - origin), 2),
        "train": round(trained_at - first_step, 2),
        "test": round(tested_at - trained_at, 2),
    }


def _best_path(trainer: L.Trainer) -> str | None:
    checkpoint = trainer.checkpoint_callback
    return (checkpoint.best_model_path or None) if checkpoint is not None else None


def _stop(
    trainer, module, plain, run_dir: Path, start: float, status: str, reason: str, recovered=None
) -> None:
    """metrics.json for a run that stopped early; checkpoints written so far stay as they are.
    `recovered`: the progress fields, where the processes that trained were others."""
    metrics = {
        "status": status,
        "reason": reason,
        "best_val_loss": module.best_val_loss,
        "best_checkpoint": _best_path(trainer),
        "epochs": trainer.current_epoch,
        "global_step": trainer.global_step,
        **run_info(plain),
        "wall_time_s": round(time.perf_counter() - start, 3),
        **(recovered or {}),
    }
    if trainer.is_global_zero:
        for logger in trainer.loggers:
            if status == "failed" and isinstance(logger, L.pytorch.loggers.TensorBoardLogger):
                hparams = {**hparams_of(plain), "mode": mode_of(plain)}
                best = {"hp/best_val_loss": metrics["best_val_loss"]}
                log_hparams(logger.experiment, hparams, best, trainer.global_step, run_dir, status)
            logger.finalize(status)
        write_json(run_dir / "metrics.json", metrics)


def _report(trainer, module, datamodule, plain, metrics, run_dir: Path, origin=None) -> None:
    from lstm_lab.evaluation.run_report import window_report

    writers = [
        logger.experiment
        for logger in trainer.loggers
        if isinstance(logger, L.pytorch.loggers.TensorBoardLogger)
    ]
    if isinstance(module, StatefulRegressionModule):
        # The forecast suite reads windows from zero state; a stateful network needs its
        # warmed-up stream, so it gets the one-step picture and the test metrics only.
        _stream_prediction_figure(module, datamodule, run_dir, writers, trainer.global_step)
    else:
        step = trainer.global_step
        evaluation, _ = window_report(
            module.net, datamodule.split, plain, run_dir / "plots", writers, "test", step
        )
        metrics["forecast"] = evaluation.summary

    hp_metrics = {
        "hp/best_val_loss": metrics["best_val_loss"],
        "test/mse": metrics["test"]["mse"],
        **forecast_hp_metrics(metrics.get("forecast") or {}),
    }
    for logger in trainer.loggers:
        if isinstance(logger, L.pytorch.loggers.TensorBoardLogger):
            hparams = {**hparams_of(plain), "mode": metrics["mode"]}
            log_hparams(logger.experiment, hparams, hp_metrics, trainer.global_step, run_dir)
        logger.finalize("success")
    if metrics.get("phases_s") and process_age_s() is not None:
        metrics["phases_s"]["report"] = round(
            max(0.0, process_age_s() - origin - sum(metrics["phases_s"].values())), 2
        )
    write_json(run_dir / "metrics.json", metrics)
    print_summary(metrics, run_dir)


def forecast_hp_metrics(summary: dict) -> dict[str, float]:
    """Rollout MSE and the one-step skill against the best baseline that is not exact."""
    out = {}
    if summary.get("rollout"):
        out["hp/rollout_mse"] = summary["rollout"]["mse"]
    best = (summary.get("best_baseline") or {}).get("one_step")
    if best and best["skill"] is not None:
        out["hp/skill"] = best["skill"]
    return out


def _stream_prediction_figure(module, datamodule, run_dir: Path, writers, step: int) -> None:
    """True vs one-step predictions of the warmed-up test stream, in original units."""
    from lstm_lab.evaluation.run_report import stream_report

    x, y, scored = datamodule.tensors["test"]
    test = (x, y.cpu().numpy(), scored.cpu().numpy())
    stream_report(
        module.net,
        test,
        datamodule.eval_batch_size,
        datamodule.scaler,
        run_dir / "plots",
        writers,
        "test",
        step,
    )
