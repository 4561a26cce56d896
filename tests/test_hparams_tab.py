"""The HParams tab of a sweep: the declared columns, and every run's values in them."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import yaml
from tensorboard import context
from tensorboard.backend.event_processing import data_provider
from tensorboard.backend.event_processing import plugin_event_multiplexer as pem
from tensorboard.plugins.hparams import api_pb2, backend_context, list_session_groups
from torch.utils.tensorboard import SummaryWriter

from lstm_lab.records.hparams_tab import log_hparams
from lstm_lab.records.runnames import write_swept

HPARAMS = {"model.hidden_size": 8, "model.num_layers": 1, "optimizer.lr": 0.01, "mode": "window"}


def test_every_run_declares_the_same_columns_and_keeps_its_values(tmp_path):
    write_swept(tmp_path, ["optimizer"])  # as a sweep over the optimizer group would
    for name, optimizer, mse in (("optimizer=adam", "adam", 0.1), ("optimizer=sgd", "sgd", 0.2)):
        run_dir = tmp_path / name
        (run_dir / ".hydra").mkdir(parents=True)
        overrides = [f"optimizer={optimizer}", "trainer.max_epochs=3", "threads=1"]
        (run_dir / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
        writer = SummaryWriter(run_dir)
        writer.add_scalar("test/mse", mse, 7)  # as Lightning's test loop logs it
        hparams = {**HPARAMS, "trainer.max_epochs": 3}
        log_hparams(writer, hparams, {"hp/best_val_loss": mse, "test/mse": mse}, 7, run_dir)
        writer.close()

    # What TensorBoard's HParams plugin serves for this --logdir.
    multiplexer = pem.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(str(tmp_path))
    multiplexer.Reload()
    provider = data_provider.MultiplexerDataProvider(multiplexer, str(tmp_path))
    ctx = backend_context.Context(SimpleNamespace(data_provider=provider, multiplexer=multiplexer))
    request = context.RequestContext()
    experiment = ctx.experiment_from_metadata(
        request,
        "",
        include_metrics=True,
        hparams_run_to_tag_to_content=ctx.hparams_metadata(request, ""),
        data_provider_hparams=None,
    )
    names = [h.name for h in experiment.hparam_infos]
    # the swept group and the key hyperparameters first, then the other overrides (not threads)
    assert names == [
        "mode",
        "model.hidden_size",
        "model.num_layers",
        "optimizer",
        "optimizer.lr",
        "trainer.max_epochs",
    ]
    assert [h.differs for h in experiment.hparam_infos] == [True] * 5 + [False]
    metrics = [m.name.tag for m in experiment.metric_infos]
    assert metrics == ["hp/best_val_loss", "test/mse", "hp/rollout_mse", "hp/skill"]

    groups = list_session_groups.Handler(
        request,
        ctx,
        "",
        api_pb2.ListSessionGroupsRequest(
            start_index=0, slice_size=10, allowed_statuses=[api_pb2.STATUS_SUCCESS]
        ),
    ).run()
    by_name = {g.name: g for g in groups.session_groups}
    assert set(by_name) == {"optimizer=adam", "optimizer=sgd"}  # Trial ID: the run's name
    assert {g.hparams["optimizer"].string_value for g in by_name.values()} == {"adam", "sgd"}
    values = {m.name.tag: m.value for m in by_name["optimizer=sgd"].metric_values}
    assert values == pytest.approx({"hp/best_val_loss": 0.2, "test/mse": 0.2})
