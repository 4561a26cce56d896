"""lstm-eval: a trained run's checkpoint on its own test split, against naive baselines.
Hydra composes the config from the command line; lstm_lab.evaluate runs it
(commands/evaluate.py); a refusal is printed as one line.
"""

from __future__ import annotations

from lstm_lab.cli.shell import command_app, run_cli

evaluate_app = command_app("eval", "evaluate", __name__)


def main() -> None:
    run_cli(evaluate_app, prog="lstm-eval")


if __name__ == "__main__":
    main()
