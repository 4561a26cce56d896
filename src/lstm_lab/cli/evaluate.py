"""lstm-eval: a trained run's checkpoint on its own test split, against naive baselines.
Hydra composes the config from the command line; lstm_lab.evaluate runs it
(evaluation/of_checkpoint.py); a refusal is printed as one line.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from lstm_lab import CONFIG_DIR
from lstm_lab.cli.shell import run_cli
from lstm_lab.user_errors import command_errors_as_exits


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="eval")
def evaluate_app(cfg: DictConfig) -> dict:
    from lstm_lab import api

    with command_errors_as_exits():
        return api.evaluate(cfg)


def main() -> None:
    run_cli(evaluate_app, prog="lstm-eval")


if __name__ == "__main__":
    main()
