"""The data's series: built from a validated config (the function data.series._target_ names),
checked against the window, the horizon, the split and the streams. Used before training and by
every command that brings a trained run back."""

from __future__ import annotations

from lstm_lab.config import ConfigError


def build_series(plain: dict):
    """The data's series (numpy), checked against the window and split lengths."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    from lstm_lab.data.csv_file import SeriesFileError
    from lstm_lab.data.windows import check_split_lengths, split_bounds

    data = plain["data"]
    for key, value in data["series"].items():
        if value == "???":
            raise ConfigError(
                f"data.series.{key}", f"not set; add data.series.{key}=... to the command"
            )
    try:
        series = instantiate(data["series"])
    except InstantiationException as error:
        if isinstance(error.__cause__, SeriesFileError):
            raise error.__cause__.within("data.series") from None
        raise
    series = _checked_series(series, data["series"]["_target_"])
    bounds = split_bounds(len(series), data["split"]["train"], data["split"]["val"])
    source = data["series"].get("path")
    rows = f"{source} has {len(series)} usable rows: " if source else ""
    stateful = plain["model"]["stateful"]
    # stateful mode reads no windows (data.window is unused there): a split needs its targets
    window = 0 if stateful else data["window"]
    try:
        check_split_lengths(bounds, window, data["horizon"])
    except ValueError as error:
        key, lower = _too_long(window, data["horizon"], bounds)
        raise ConfigError(key, f"{rows}{error}; {lower}, or give the split more") from None
    if stateful:
        from lstm_lab.data.streams import check_stream_lengths

        try:
            check_stream_lengths(
                len(series), data["horizon"], data["split"]["train"], plain["model"]["streams"]
            )
        except ValueError as error:
            raise ConfigError("model.streams", f"{error}; lower model.streams") from None
    return series


def _too_long(window: int, horizon: int, bounds: dict) -> tuple[str, str]:
    """The key to name for windows that do not fit the shortest split, and what to lower: the
    one that does not fit even beside a 1-step other, else both (their sum is too long)."""
    shortest = min(b - a for a, b in bounds.values())
    window_alone, horizon_alone = window + 1 > shortest, horizon + 1 > shortest
    if window_alone and not horizon_alone:
        return "data.window", f"lower data.window (at most {shortest - horizon} here)"
    if horizon_alone and not window_alone:
        return "data.horizon", f"lower data.horizon (at most {shortest - window} here)"
    return "data.window + data.horizon", "lower data.window or data.horizon"


def _checked_series(series, target: str):
    """What a series function returned, checked: (time,) or (time, features) numbers, finite.
    Returned as (time, features) float32, the form every DataModule reads."""
    import numpy as np

    from lstm_lab.data.windows import MAX_MAGNITUDE, as_columns

    try:  # float64 first: a value beyond float32's range is refused, not cast to inf
        array = np.asarray(series, dtype=np.float64)
    except (TypeError, ValueError):
        array = None
    if array is None or array.ndim not in (1, 2) or not array.size:
        what = f"shape {array.shape}" if array is not None else type(series).__name__
        raise ConfigError(
            "data.series._target_",
            f"{target} returned {what}; a series is a numeric array of shape (time,) "
            "or (time, features), the target in column 0",
        )
    if not np.isfinite(array).all():
        raise ConfigError("data.series._target_", f"{target} returned NaN or infinite values")
    peak = float(np.abs(array).max())
    if peak >= MAX_MAGNITUDE:
        raise ConfigError(
            "data.series._target_",
            f"{target} returned values up to {peak:.3g}; lstm-lab trains in float32 and needs "
            f"values below {MAX_MAGNITUDE:g} in size: rescale the series",
        )
    return as_columns(array)
