"""The commands as library functions: each takes a composed config, or the command line's
overrides (composed with Hydra's compose API), and returns its result.

    import lstm_lab
    result = lstm_lab.train(["model.hidden_size=64", "trainer.max_epochs=5"])
    result.metrics["test"]["mse"], result.run_dir, result.best_checkpoint
    lstm_lab.evaluate([f"run_dir={result.run_dir}"])            # the evaluation summary
    lstm_lab.predict([f"run_dir={result.run_dir}", "steps=20"])  # the forecast CSV's path

    cfg = lstm_lab.compose("train", ["model=gru"])  # Hydra's compose API (hydra_job.py)
    lstm_lab.train(cfg)                             # the same run

A run lands where the command's would (./outputs/runs/<time>, with .hydra/ and its log); a
config composed without its `hydra` node gets the command's. Nothing reads or changes
`sys.argv`. Where the command would print `prog: error: <line>` and exit, the function raises
CommandError with that line and the exit status. `--config-dir DIR` leads the overrides as on the
command line. A sweep (`-m`, or a config that sets hydra.mode=MULTIRUN) runs Hydra's own app in
this process (its launcher and sweeper), as the command line does: one result per job.

The console scripts (lstm_lab/cli/) are Hydra apps that call these functions and print.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lstm_lab.user_errors import CommandError, CommandExit, refusals_as_command_errors

if TYPE_CHECKING:
    from omegaconf import DictConfig

__all__ = ["CommandError", "TrainResult", "evaluate", "predict", "train"]

# The results of a sweep's jobs run in this process (Hydra's app returns none of them).
SWEEP_RESULTS: ContextVar[list | None] = ContextVar("SWEEP_RESULTS", default=None)

MULTIRUN_FLAGS = ("-m", "--multirun")


@dataclass
class TrainResult:
    run_dir: Path
    metrics: dict[str, Any]  # the run's metrics.json

    @property
    def best_checkpoint(self) -> Path | None:
        path = self.run_dir / "checkpoints" / "best.ckpt"
        return path if path.is_file() else None


def train(config: DictConfig | Sequence[str] = ()) -> TrainResult | list[TrainResult]:
    """Train and test one run of a composed config (or of these overrides); its run directory
    and metrics. A sweep: one result per job, in job order (the jobs the basic launcher runs
    in this process; a parallel launcher's run elsewhere)."""
    from lstm_lab.commands.train import train_from_config
    from lstm_lab.records.rundirs import remove_refused_run_dir
    from lstm_lab.training.stopped import RunStopped
    from lstm_lab.user_errors import USER_ERRORS

    def run(cfg: DictConfig, run_dir: Path) -> TrainResult:
        with refusals_as_command_errors(lambda: remove_refused_run_dir(run_dir)):
            try:
                metrics = train_from_config(cfg)
            except (*USER_ERRORS, RunStopped):
                raise  # a refusal (its directory removed above), or a run that stopped
            except (Exception, KeyboardInterrupt):  # a bug, or Ctrl-C while starting
                remove_refused_run_dir(run_dir)  # no half run
                raise
        return TrainResult(run_dir, _metrics_of(metrics, run_dir))

    return _command("train", config, run, app="lstm_lab.cli.train:train_app")


def evaluate(config: DictConfig | Sequence[str] = ()) -> dict[str, Any]:
    """Evaluate a trained run's checkpoint again (lstm-eval); the evaluation it wrote."""

    def run(cfg: DictConfig, _: Path) -> dict[str, Any]:
        from lstm_lab.commands.evaluate import evaluate_checkpoint

        with refusals_as_command_errors():
            return evaluate_checkpoint(cfg)

    return _command("eval", config, run, app="lstm_lab.cli.evaluate:evaluate_app")


def predict(config: DictConfig | Sequence[str] = ()) -> Path:
    """Forecast past the end of a series with a trained run (lstm-predict); the CSV's path."""

    def run(cfg: DictConfig, _: Path) -> Path:
        from lstm_lab.commands.predict import predict_from_config

        with refusals_as_command_errors():
            return predict_from_config(cfg)

    return _command("predict", config, run, app="lstm_lab.cli.predict:predict_app")


def _metrics_of(metrics: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    """The run's metrics.json as written (the returned dict, where there is none)."""
    import json

    path = run_dir / "metrics.json"
    return json.loads(path.read_text()) if path.is_file() else metrics


def _command(name: str, config, run: Callable[[DictConfig, Path], Any], app: str) -> Any:
    """Compose (unless given a config), set up the job as Hydra's app would, run it. Inside a
    job Hydra's app started, run it there; a sweep goes to the app itself."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import DictConfig

    from lstm_lab.hydra_job import complete, compose_config, hydra_job, in_app_job

    if isinstance(config, DictConfig) and in_app_job(config):
        return _collected(run(config, Path(HydraConfig.get().runtime.output_dir)))
    if isinstance(config, str):
        raise TypeError("overrides is a list of strings, e.g. ['model.hidden_size=64']")
    args = None if isinstance(config, DictConfig) else [str(a) for a in config]
    config_dir, overrides = _config_dir(args or [])
    with refusals_as_command_errors():
        from lstm_lab import CONFIG_DIR
        from lstm_lab.config.files import check_command_line

        # as the command line: the files Hydra will read, and where lstm-train puts its run
        check_command_line(args or [], CONFIG_DIR, train=name == "train")
    if args is not None and any(a.startswith("-") for a in overrides):  # -m, --cfg, ...
        return _run_app(app, name, args)
    with refusals_as_command_errors():
        cfg = (
            complete(config, name) if args is None else compose_config(name, overrides, config_dir)
        )
    if cfg.hydra.mode == RunMode.MULTIRUN:  # a sweep config
        if args is None:
            raise TypeError("a sweep runs from overrides: lstm_lab.train([..., '-m'])")
        return _run_app(app, name, args)
    if name == "train":  # as Hydra's app does (records/rundirs.py, ChosenDirCheck)
        with refusals_as_command_errors():
            from lstm_lab.config.files import check_chosen_dirs

            check_chosen_dirs(cfg, "run")
    with hydra_job(cfg) as (task, output_dir):
        return run(task, output_dir)


def _config_dir(args: list[str]) -> tuple[str | None, list[str]]:
    """`--config-dir DIR` (or `-cd DIR`) taken off the overrides."""
    for flag in ("--config-dir", "-cd"):
        if flag in args[:-1]:
            at = args.index(flag)
            return args[at + 1], args[:at] + args[at + 2 :]
    return None, args


def _collected(result: Any) -> Any:
    """A job run by Hydra's app for `_run_app` hands its result over."""
    collected = SWEEP_RESULTS.get()
    if collected is not None:
        collected.append(result)
    return result


def sweep_job_done(run_dir: Path) -> None:
    """A sweep's job (done or failed) hands its result over, when `_run_app` asks."""
    _collected(TrainResult(run_dir, _metrics_of({}, run_dir)))


def _run_app(app: str, name: str, args: list[str]) -> Any:
    """A sweep, or another of the command line's flags: Hydra's own app, run in this process.
    Hydra's app parses sys.argv and nothing else, so only here is it set, and restored after;
    the jobs' results (those of the jobs run in this process) are collected."""
    import os
    import sys
    from importlib import import_module

    from hydra.core.global_hydra import GlobalHydra

    from lstm_lab.records.sweep import remove_refused_sweeps

    module, _, function = app.partition(":")
    prog = {"train": "lstm-train", "eval": "lstm-eval", "predict": "lstm-predict"}[name]
    saved_argv, saved_full = sys.argv, os.environ.get("HYDRA_FULL_ERROR")
    from lstm_lab.config.files import flags_first

    sys.argv = [prog, *flags_first(args)]
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra re-raises instead of printing its report
    GlobalHydra.instance().clear()
    results: list[Any] = []
    token = SWEEP_RESULTS.set(results)
    try:
        with refusals_as_command_errors(on_refusal=remove_refused_sweeps):
            getattr(import_module(module), function)()
    except CommandExit as stop:  # a job's refusal, on its way out of Hydra's app
        raise CommandError(stop.message, int(stop.code)) from None
    finally:
        SWEEP_RESULTS.reset(token)
        sys.argv = saved_argv
        if saved_full is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = saved_full
        GlobalHydra.instance().clear()
    multirun = "-m" in args or "--multirun" in args or len(results) != 1
    return results if multirun and name == "train" else results[-1]
