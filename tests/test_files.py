"""Files written whole (lstm_lab/files.py): renamed into place when complete, so a signal or an
error while one is written leaves the file before and no temporary file, for every writer of
a run's or a command's outputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import lstm_lab.files
from lstm_lab.files import written_whole


def test_the_file_appears_whole_in_a_folder_made_for_it(tmp_path):
    path = tmp_path / "new" / "metrics.json"
    with written_whole(path) as tmp:
        assert tmp.parent == path.parent and tmp.name.startswith(".metrics.json.")
        tmp.write_text("{}\n")
        assert not path.exists()  # nothing under the name until the block ends
    assert path.read_text() == "{}\n"
    assert [p.name for p in path.parent.iterdir()] == ["metrics.json"]


@pytest.mark.parametrize("stop", [KeyboardInterrupt, OSError])
def test_a_stop_while_writing_keeps_the_file_before_and_leaves_no_temporary(tmp_path, stop):
    path = tmp_path / "metrics.json"
    path.write_text("before\n")
    with pytest.raises(stop), written_whole(path) as tmp:
        tmp.write_text("half")
        raise stop
    assert path.read_text() == "before\n"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def write_metrics(path):
    from lstm_lab.records.report import write_json

    write_json(path, {"status": "completed"})


def write_forecast(path):
    from lstm_lab.commands.predict import write_csv

    write_csv(path, np.arange(3.0))


def write_comparison(path):
    from lstm_lab.records.comparison import write_csv

    write_csv(path, ["run", "mse"], [["a", 0.5]])


def write_figure(path):
    import matplotlib.pyplot as plt

    from lstm_lab.evaluation.plots import save_figure

    save_figure(plt.figure(figsize=(1, 1)), path)


def write_sweep_record(path):
    from lstm_lab.records.runnames import write_swept

    write_swept(path.parent, ["model.hidden_size"])


def write_checkpoint(path):
    from lstm_lab.training.checkpoint_io import LocalCheckpointIO

    LocalCheckpointIO().save_checkpoint({"state_dict": {"w": torch.zeros(2)}}, path)


@pytest.mark.parametrize(
    "write,name",
    [
        (write_metrics, "metrics.json"),
        (write_forecast, "forecast.csv"),
        (write_comparison, "comparison.csv"),
        (write_figure, "mse_by_hidden.png"),
        (write_checkpoint, "last.ckpt"),
        (write_sweep_record, "swept.yaml"),
    ],
)
def test_every_writer_keeps_the_file_before_when_stopped_at_the_rename(
    tmp_path, monkeypatch, write, name
):
    path = tmp_path / name
    write(path)  # the first version, whole
    before = path.read_bytes()

    def signal_arrives(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(lstm_lab.files.os, "replace", signal_arrives)
    with pytest.raises(KeyboardInterrupt):
        write(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [name]
    if name.endswith(".json"):
        assert json.loads(before) == {"status": "completed"}
