"""lstm-eval's work as a library function: a trained run's checkpoint on its own test split,
against naive baselines.

Loads the checkpoint safely (weights only) with the run's saved config, rebuilds the same
split and scaler (records/restore.py), and reports one-step and rollout metrics, skill against
each baseline, and three plots (PNG in the run directory, images in its TensorBoard).
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from lstm_lab.config import validate_tool


def evaluate_checkpoint(cfg: DictConfig) -> dict:
    """lstm-eval's config (configs/eval.yaml) -> the evaluation it wrote (evaluation.json)."""
    plain = validate_tool(cfg, "eval")
    from lstm_lab.records.restore import restore  # torch from here on

    run = restore(plain["run_dir"], plain["ckpt_path"], command_line_evaluation(cfg))
    return evaluate_restored(run, plain["threads"])


def command_line_evaluation(cfg: DictConfig) -> dict:
    """The `evaluation.*` keys typed on the command line (they override the run's own)."""
    from hydra.core.hydra_config import HydraConfig

    typed = {o.split("=", 1)[0].lstrip("+~") for o in HydraConfig.get().overrides.task}
    return {k: cfg.evaluation[k] for k in cfg.evaluation if f"evaluation.{k}" in typed}


def evaluate_restored(run, threads: int | str | None = None) -> dict:
    """The evaluation of a restored run: written, printed and returned. A Ctrl-C or SIGTERM
    while it is made lets it finish (its plots, images and evaluation.json: a second or two),
    then stops the command with the signal's status."""
    from lstm_lab.training.finishing import finish_before_stopping, stop_if_signalled

    with finish_before_stopping(what="the evaluation") as stopped:
        result = _evaluate(run, threads)
    written = run.run_dir / "eval" / run.ckpt_path.stem / "evaluation.json"
    stop_if_signalled(
        stopped, f"interrupted by {{how}}; the evaluation was finished first: {written}"
    )
    return result


def _evaluate(run, threads: int | str | None) -> dict:
    from torch.utils.tensorboard import SummaryWriter

    from lstm_lab.evaluation.metrics import errors_by_step
    from lstm_lab.evaluation.run_report import window_report
    from lstm_lab.records.report import (
        STATEFUL_NOTE,
        print_forecast,
        write_json,
    )
    from lstm_lab.training.threads import set_threads, shape_of

    setting = run.plain.get("threads") if threads is None else threads  # null: the run's own
    set_threads(setting, shape_of(run.plain, *run.series.shape[:2]))
    name = run.ckpt_path.stem
    out_dir = run.run_dir / "eval" / name
    step = run.checkpoint_info.get("global_step") or 0
    # beside the run's own events: one TensorBoard run; none for a run trained without them
    tensorboard = trained_with_tensorboard(run.run_dir)
    writers = [SummaryWriter(str(run.run_dir))] if tensorboard else []
    try:
        if run.stateful:
            summary, plots = evaluate_stream(run, out_dir / "plots", writers, f"eval/{name}", step)
        else:
            evaluation, plots = window_report(
                run.net, run.split, run.plain, out_dir / "plots", writers, f"eval/{name}", step
            )
            summary = evaluation.summary
            one = evaluation.one_step  # the test metrics, per step ahead too, as training's
            summary["one_step"] = errors_by_step(one.true, one.pred["model"])
    finally:
        for writer in writers:
            writer.close()
    result = {
        "run_dir": str(run.run_dir),
        "checkpoint": str(run.ckpt_path),
        **run.checkpoint_info,
        # the settings the forecasts used; a stateful run's use none (STATEFUL_NOTE)
        "evaluation": None if run.stateful else run.plain["evaluation"],
        "test": summary["one_step"],
        "forecast": summary,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / "evaluation.json", result)

    print(
        f"Checkpoint {run.ckpt_path} (epoch {run.checkpoint_info.get('epoch')}, step {step}) "
        "on the test split of its run"
    )
    for kind in ("one_step", "rollout"):
        if summary[kind]:
            scores = "  ".join(f"{k} {summary[kind][k]:.4g}" for k in ("mse", "rmse", "mae"))
            print(f"{kind.replace('_', '-'):>9} (original units): {scores}")
    if run.stateful:
        print(f"Forecasts:   {STATEFUL_NOTE}")
    else:
        print_forecast(summary)
    print(f"Results:     {out_dir / 'evaluation.json'}")
    print(f"Plots:       {', '.join(str(p) for p in plots)}")
    if tensorboard:
        print(
            f"TensorBoard: tensorboard --logdir {run.run_dir.parent}  "
            f"(run {run.run_dir.name}, images under eval/{name}/)"
        )
    return result


def trained_with_tensorboard(run_dir: Path) -> bool:
    """Whether the run's saved config (.hydra/config.yaml) has a TensorBoard logger, not
    `~logger.tensorboard`: read from the config, so a run copied without its event files still
    gets the images."""
    import yaml

    saved = yaml.safe_load((run_dir / ".hydra" / "config.yaml").read_text()) or {}
    loggers = saved.get("logger") or {}
    return any(
        isinstance(node, dict) and str(node.get("_target_", "")).endswith("TensorBoardLogger")
        for node in loggers.values()
    )


def evaluate_stream(run, plot_dir, writers, tag: str, step: int):
    """A stateful run's one-step forecasts of its test split, its state warmed up over every
    step before (as training tested it): metrics in original units (per step ahead too) and
    the prediction plot. Its rollout and baselines need windows from zero state: not made."""
    import numpy as np
    import torch

    from lstm_lab.data.streams import make_streams
    from lstm_lab.evaluation.metrics import errors_by_step
    from lstm_lab.evaluation.run_report import stream_report

    data = run.plain["data"]
    split = data["split"]
    test = make_streams(run.split.scaled, data["horizon"], split["train"], split["val"], 1)["test"]
    x = torch.from_numpy(np.ascontiguousarray(test.x))
    true, pred, plots = stream_report(
        run.net,
        (x, test.y, test.scored),
        data["eval_batch_size"],
        run.scaler,
        plot_dir,
        writers,
        tag,
        step,
    )
    return {"mode": "stateful", "one_step": errors_by_step(true, pred), "rollout": None}, plots
