"""lstm-predict's work as a library function: the next `steps` values after the end of a series,
from a trained run.

The series is the run's own data or a .csv/.npy file; it is scaled with the run's scaler
(fitted on the run's training split), its last window is rolled out with predictions fed
back, and the forecast is written to a CSV in original units.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from lstm_lab.config import ConfigError, validate_tool
from lstm_lab.data.windows import MAX_MAGNITUDE, as_columns
from lstm_lab.files import written_whole


def predict_from_config(cfg: DictConfig) -> Path:
    """lstm-predict's config (configs/predict.yaml) -> the forecast CSV written, its path."""
    return predict(validate_tool(cfg, "predict"))


def read_values(path: Path) -> np.ndarray:
    """A (time, features) float array from a .npy file or a numeric CSV (header optional)."""
    if path.is_dir():
        raise ConfigError("input", f"{path}: is a folder; give a .csv or .npy file")
    if path.exists() and not path.is_file():  # /dev/null, a pipe: no series to read
        raise ConfigError(
            "input", f"{path}: not a regular file (a device, a pipe); give a .csv or .npy file"
        )
    if not path.is_file():
        raise ConfigError("input", f"{path}: no such file")
    try:
        if path.suffix == ".npy":
            values = np.load(path, allow_pickle=False)
        else:
            try:
                values = np.loadtxt(path, delimiter=",", ndmin=2, dtype=np.float64)
            except ValueError:  # a header line
                values = np.loadtxt(path, delimiter=",", ndmin=2, dtype=np.float64, skiprows=1)
        values = np.asarray(values, dtype=np.float64)
    except (ValueError, OSError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise ConfigError("input", f"{path}: not a numeric .csv or .npy series ({first})") from None
    if values.ndim not in (1, 2) or not np.all(np.isfinite(values)):
        raise ConfigError("input", f"{path}: must be a 1-D or 2-D array of finite numbers")
    peak = float(np.abs(values).max()) if values.size else 0.0
    if peak >= MAX_MAGNITUDE:  # as the training CSV reader refuses it (1e39 became inf)
        raise ConfigError(
            "input",
            f"{path}: holds values up to {peak:.3g}; lstm-lab runs in float32 and needs values "
            f"below {MAX_MAGNITUDE:g} in size: rescale the series as the run's data was",
        )
    return as_columns(values)


def forecast_after(run, values: np.ndarray, steps: int) -> np.ndarray:
    """Roll the network out from the last window of `values` (original units) for `steps`;
    a stateful network from the state it reaches over all of `values`."""
    from lstm_lab.evaluation.forecast import network_forecaster, rollout

    data, scaler = run.plain["data"], run.scaler  # fitted on the run's training split
    if run.stateful:  # the state warmed up over the whole series, then carried on
        import torch

        from lstm_lab.evaluation.stream_forecast import stream_rollout

        x = torch.from_numpy(np.ascontiguousarray(scaler.transform(values), dtype=np.float32))
        pred = stream_rollout(run.net, x, steps, data["eval_batch_size"])
        return scaler.inverse_target(pred.astype(np.float64))
    window = scaler.transform(values)[-data["window"] :][None]
    pred = rollout(network_forecaster(run.net), window, steps)[0]
    return scaler.inverse_target(pred.astype(np.float64))


def write_csv(path: Path, forecast: np.ndarray) -> None:
    rows = np.column_stack([np.arange(1, len(forecast) + 1), forecast])
    with written_whole(path) as tmp:  # a reader never sees half a file
        np.savetxt(
            tmp, rows, delimiter=",", header="step,forecast", comments="", fmt=["%d", "%.9g"]
        )


def check_output(output: str | None) -> None:
    """Refuse, before any work, an output= that names a folder or lies under a file."""
    if not output:
        return
    path = Path(output)
    try:
        folder = path.is_dir()
        nearest = next(p for p in path.parents if p.exists())  # '.' or '/' at the latest
    except OSError as error:  # a name too long, say
        raise ConfigError("output", f"{output}: cannot be written ({error.strerror})") from None
    if folder:
        raise ConfigError("output", f"{output}: is a folder; give a file: <folder>/forecast.csv")
    if not nearest.is_dir():
        raise ConfigError("output", f"{output}: {nearest} is a file, not a folder")


# a step's forecast in memory: float32 from the network, float64 in original units, and its
# CSV row (step, forecast) as two float64 and the step's int64
BYTES_PER_STEP = 4 + 8 + 16 + 8


def check_steps_fit(steps: int) -> None:
    """Refuse a `steps` whose forecast cannot be held in the RAM there is (it was a traceback
    from numpy or torch's allocator)."""
    from lstm_lab.training.memory import available_ram, gb

    free, need = available_ram(), steps * BYTES_PER_STEP
    if free is not None and need > free:
        raise ConfigError(
            "steps",
            f"got {steps}; its forecast needs {gb(need)} of memory, more than the {gb(free)} "
            "of RAM available; lower steps",
        )


def predict(plain: dict) -> Path:
    """lstm-predict's work on its validated keys: the forecast CSV written, its path."""
    from lstm_lab.evaluation.forecast import rollout_refusal
    from lstm_lab.records.restore import restore  # torch from here on

    check_output(plain["output"])
    check_steps_fit(plain["steps"])
    run = restore(plain["run_dir"], plain["ckpt_path"])
    values = run.series if plain["input"] is None else read_values(Path(plain["input"]))
    window, n_features = run.plain["data"]["window"], run.series.shape[1]
    window = 1 if run.stateful else window
    key = "input" if plain["input"] else "run_dir"
    if values.shape[1] != n_features:
        raise ConfigError(
            key, f"{plain['input']}: has {values.shape[1]} columns; the model reads {n_features}"
        )
    if len(values) < window:
        raise ConfigError(key, f"{len(values)} values are fewer than one window ({window})")
    refusal = rollout_refusal(n_features)
    if refusal:
        raise ConfigError(key, refusal)

    from lstm_lab.training.threads import set_threads, shape_of

    setting = run.plain.get("threads") if plain["threads"] is None else plain["threads"]
    # a rollout feeds one window at a time: a batch of one
    set_threads(setting, {**shape_of(run.plain, *run.series.shape[:2]), "batch_size": 1})
    forecast = forecast_after(run, values, plain["steps"])
    output = Path(plain["output"]) if plain["output"] else run.run_dir / "forecast.csv"
    try:
        write_csv(output, forecast)
    except OSError as error:  # a folder that cannot be made or written to: no file, no tmp
        raise ConfigError("output", f"{output}: cannot be written ({error.strerror})") from None
    source = plain["input"] or "the run's own series"
    print(f"Forecast of the {plain['steps']} values after the end of {source}: {output}")
    return output
