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
    from hydra.utils import instantiate

    from lstm_lab.data.windows import check_split_lengths, split_bounds

    data = plain["data"]
    series = instantiate(data["series"])
    bounds = split_bounds(len(series), data["split"]["train"], data["split"]["val"])
    try:
        check_split_lengths(bounds, data["window"], data["horizon"])
    except ValueError as error:
        raise ConfigError(
            "data.window", f"{error}; lower data.window or data.horizon, or give the split more"
        ) from None
    if plain["model"]["stateful"]:
        from lstm_lab.data.streams import check_stream_lengths

        try:
            check_stream_lengths(
                len(series), data["horizon"], data["split"]["train"], plain["model"]["streams"]
            )
        except ValueError as error:
            raise ConfigError("model.streams", f"{error}; lower model.streams") from None
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
