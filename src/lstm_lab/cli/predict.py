"""lstm-predict: the next `steps` values after the end of a series, from a trained run.
Hydra composes the config from the command line; lstm_lab.predict runs it (commands/predict.py);
a refusal is printed as one line.
"""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig

from lstm_lab import CONFIG_DIR
from lstm_lab.cli.shell import run_cli
from lstm_lab.user_errors import command_errors_as_exits


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="predict")
def predict_app(cfg: DictConfig) -> Path:
    from lstm_lab import api

    with command_errors_as_exits():
        return api.predict(cfg)


def main() -> None:
    run_cli(predict_app, prog="lstm-predict")


if __name__ == "__main__":
    main()
