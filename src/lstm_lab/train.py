"""lstm-train: compose the config, validate it, then train, test and report.

Only Hydra and numpy are imported until the config has passed validation, so `--help`,
`--cfg job` and config errors answer in about a second.
"""

from __future__ import annotations

import functools

import hydra
from omegaconf import DictConfig

from lstm_lab import CONFIG_DIR
from lstm_lab.cli import run_cli, user_task
from lstm_lab.config import ConfigError, check_targets, validate


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
            raise ConfigError(f"data.series.{error.__cause__.key}", str(error.__cause__)) from None
        raise
    bounds = split_bounds(len(series), data["split"]["train"], data["split"]["val"])
    try:
        check_split_lengths(bounds, data["window"], data["horizon"])
    except ValueError as error:
        source = data["series"].get("path")
        rows = f"{source} has {len(series)} usable rows: " if source else ""
        raise ConfigError(
            "data.window",
            f"{rows}{error}; lower data.window or data.horizon, or give the split more",
        ) from None
    return series


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="train")
@functools.partial(user_task, prog="lstm-train")
def _train(cfg: DictConfig) -> float:
    plain = validate(cfg)
    series = build_series(plain)
    check_targets(plain)
    from lstm_lab.run import train_and_test  # torch and Lightning from here on

    return train_and_test(cfg, plain, series)["best_val_loss"]


def main() -> None:
    run_cli(_train, prog="lstm-train")


if __name__ == "__main__":
    main()
