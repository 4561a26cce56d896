"""The bad config folders and checkpoints of docs/errors.md's rows on files a user brings.

Config folders (each holds one kind of fault, since lstm-train reads every file of a folder):
`syntax/` a YAML syntax error, `latin1/` a file that is not UTF-8, `listed/` a file that holds
a list, `mine/` good YAML whose interpolation or group choice does not resolve.

Checkpoints with a full training state but written with other settings than the default run's
(`run_config`, as every checkpoint lstm-train writes records them): another hidden size, another
network class, other windows, horizon and transform, stateful mode, three features, a linear
skip.
"""

from __future__ import annotations

from pathlib import Path

CONFIG_FOLDERS = {
    "syntax/experiment/bad.yaml": b"model:\n  hidden_size: [16\n",
    "latin1/experiment/bad.yaml": "# caf\u00e9\nmodel:\n  hidden_size: 16\n".encode("latin-1"),
    "listed/experiment/bad.yaml": b"- model.hidden_size=16\n",
    "mine/experiment/dangling.yaml": (
        b"# @package _global_\nmodel:\n  hidden_size: ${model.width}\n"
    ),
    "mine/experiment/other_model.yaml": (
        b"# @package _global_\ndefaults:\n  - override /model: lstm_big\n"
    ),
}

LSTM = "lstm_lab.models.lstm.LSTMRegressor"
OTHER_SETTINGS = {
    "hidden8.ckpt": {"model._target_": LSTM, "model.hidden_size": 8},
    "gru.ckpt": {"model._target_": "lstm_lab.models.gru.GRURegressor"},
    "windowed.ckpt": {"data.window": 20, "data.horizon": 3, "data.transform": "diff"},
    "stateful.ckpt": {"model.stateful": True},
    "features.ckpt": {"n_features": 3},
    "skip4.ckpt": {"model.linear_skip": 4},
}


def write_bad_inputs(root: Path) -> list[str]:
    """Write the folders and checkpoints above under `root`; the checkpoints' names."""
    import torch

    for name, content in CONFIG_FOLDERS.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    state = {"state_dict": {}, "optimizer_states": [], "loops": {}, "epoch": 0, "global_step": 0}
    for name, settings in OTHER_SETTINGS.items():
        torch.save({**state, "run_config": settings}, root / name)
    return sorted(OTHER_SETTINGS)
