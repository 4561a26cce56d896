"""lstm-predict: the next `steps` values after the end of a series, from a trained run.
Hydra composes the config from the command line; lstm_lab.predict runs it (commands/predict.py);
a refusal is printed as one line.
"""

from __future__ import annotations

from lstm_lab.cli.shell import command_app, run_cli

predict_app = command_app("predict", "predict", __name__)


def main() -> None:
    run_cli(predict_app, prog="lstm-predict")


if __name__ == "__main__":
    main()
