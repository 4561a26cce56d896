"""lstm-train: Hydra composes the config from the command line; lstm_lab.train runs it (a
sweep's jobs each isolated, cli/sweep_job.py); a refusal is printed as one line.

Only Hydra and numpy are imported until the config has passed validation, so `--help`,
`--cfg job` and config errors answer in about a second.
"""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig

from lstm_lab import CONFIG_DIR
from lstm_lab.cli.shell import run_cli
from lstm_lab.hydra_job import register_launchers, register_resolvers
from lstm_lab.records import sweep
from lstm_lab.user_errors import command_errors_as_exits

PROG = "lstm-train"

register_resolvers()  # the run-directory resolvers configs/hydra/default.yaml uses
register_launchers()  # launcher=joblib's (configs/launcher/joblib.yaml)


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="train")
def train_app(cfg: DictConfig) -> float:
    from lstm_lab import api

    if sweep.in_multirun():
        return _sweep_job(cfg)
    with command_errors_as_exits():
        return api.train(cfg).metrics.get("best_val_loss")


def _sweep_job(cfg: DictConfig) -> float:
    """One job of a sweep: its failure stops only itself; its value goes to the sweeper."""
    from hydra.core.hydra_config import HydraConfig

    from lstm_lab.api import sweep_job_done
    from lstm_lab.cli.sweep_job import run_isolated
    from lstm_lab.commands.train import train_from_config

    value = run_isolated(lambda: train_from_config(cfg)["best_val_loss"], PROG)
    sweep_job_done(Path(HydraConfig.get().runtime.output_dir))
    return value


def main() -> None:
    run_cli(train_app, prog=PROG)


if __name__ == "__main__":
    main()
