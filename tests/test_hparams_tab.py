"""The HParams tab of a sweep lists every run, string-valued hyperparameters included."""

from __future__ import annotations

from types import SimpleNamespace

from tensorboard import context
from tensorboard.backend.event_processing import data_provider
from tensorboard.backend.event_processing import plugin_event_multiplexer as pem
from tensorboard.plugins.hparams import backend_context
from torch.utils.tensorboard import SummaryWriter

from lstm_lab.run import _log_hparams


def test_tensorboard_builds_the_table_from_every_run(tmp_path):
    for name, optimizer, mse in (("adam_run", "adam", 0.1), ("sgd_run", "sgd", 0.2)):
        writer = SummaryWriter(tmp_path / name)
        _log_hparams(
            SimpleNamespace(experiment=writer), {"optimizer": optimizer}, {"hp/mse": mse}, 7
        )
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
    (info,) = [h for h in experiment.hparam_infos if h.name == "optimizer"]
    assert {v.string_value for v in info.domain_discrete.values} == {"adam", "sgd"}
    assert "hp/mse" in {m.name.tag for m in experiment.metric_infos}
