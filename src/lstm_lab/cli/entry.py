"""The console scripts' entry points: each hands its command to this environment's warm server
when one runs (lstm_lab/warm/client.py, stdlib only), else imports its command and runs it cold.
"""

from __future__ import annotations

from lstm_lab.warm.client import hand_over


def train() -> None:
    hand_over("train", "lstm-train")
    from lstm_lab.cli.train import main

    main()


def evaluate() -> None:
    hand_over("evaluate", "lstm-eval")
    from lstm_lab.cli.evaluate import main

    main()


def predict() -> None:
    hand_over("predict", "lstm-predict")
    from lstm_lab.cli.predict import main

    main()


def compare() -> None:
    hand_over("compare", "lstm-compare")
    from lstm_lab.cli.compare import main

    main()
