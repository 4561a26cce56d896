"""The model summary (training/summary.py): Lightning's table without the FLOPs column where it
counted none, and Lightning's own where it did."""

from __future__ import annotations

from types import SimpleNamespace

import lightning as L
import torch

from helpers import fit_objects
from lstm_lab.training.summary import ModelTable


class CountedNet(L.LightningModule):
    """A network of a user's own with an example input: Lightning counts its FLOPs."""

    def __init__(self) -> None:
        super().__init__()
        self.head = torch.nn.Linear(8, 2)
        self.example_input_array = torch.zeros(4, 8)

    def forward(self, x):
        return self.head(x)


def printed_summary(module, capsys) -> str:
    # the summary's hook reads only the strategy (DeepSpeed's stage 3 or not) and the rank
    ModelTable().on_fit_start(SimpleNamespace(strategy=None, is_global_zero=True), module)
    return capsys.readouterr().out


def test_no_flops_column_where_none_were_counted(compose_train, tmp_path, capsys):
    cfg = compose_train("~callbacks.progress_bar", f"paths.run_dir={tmp_path}")
    _, module, _ = fit_objects(cfg)
    out = printed_summary(module, capsys)
    assert "FLOPs" not in out
    assert "LSTMRegressor" in out and "Params" in out and "Mode" in out
    params = sum(p.numel() for p in module.parameters())
    assert f"Total params: {params / 1000:.1f} K" in out
    assert "Non-trainable params: 0" in out and "Modules in eval mode: 0" in out


def test_lightnings_summary_where_flops_were_counted(capsys):
    out = printed_summary(CountedNet(), capsys)
    # a linear layer of 8 -> 2 on 4 rows: 2 * 4 * 8 * 2 FLOPs
    assert "FLOPs" in out and "Total FLOPs: 128" in out
