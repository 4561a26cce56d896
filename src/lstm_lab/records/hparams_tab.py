"""A run's row in TensorBoard's HParams tab, with the columns declared so the table opens on
what matters: the hyperparameters the sweep varies, model size, layers, lr and mode, then the
best val loss, test MSE, rollout MSE and skill against the best baseline that is not exact.

TensorBoard's HParams plugin shows the columns one run declares (an experiment summary; it takes
the first it finds, so every run of a sweep declares the same columns, without value domains a
single run cannot know), puts the hyperparameters marked `differs` first and opens with five
ticked. Each run then writes its session: its values for every column, and its end.
Written as TensorBoard's hparams plugin data (its public protos and metadata helpers; its
summary module needs TensorFlow) through SummaryWriter's public `file_writer`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml
from tensorboard.compat.proto import summary_pb2
from tensorboard.plugins.hparams.metadata import (
    EXPERIMENT_TAG,
    NULL_TENSOR,
    SESSION_END_INFO_TAG,
    SESSION_START_INFO_TAG,
    create_summary_metadata,
)

from lstm_lab.records.runnames import is_named, read_swept

# The hyperparameters every table shows first, with their column names.
KEY_HPARAMS = {
    "model.hidden_size": "hidden size",
    "model.num_layers": "layers",
    "optimizer.lr": "lr",
    "mode": "mode",
}
# The metric columns: (scalar tag, column name). test/mse is Lightning's own test scalar.
METRICS = (
    ("hp/best_val_loss", "best val loss (scaled)"),
    ("test/mse", "test MSE"),
    ("hp/rollout_mse", "rollout MSE"),
    ("hp/skill", "skill vs best baseline"),
)


def run_overrides(run_dir: Path) -> list[str]:
    """The run's own command-line overrides, as Hydra saved them."""
    try:
        return [str(o) for o in yaml.safe_load((run_dir / ".hydra" / "overrides.yaml").read_text())]
    except (OSError, TypeError, yaml.YAMLError):
        return []


def columns(hparams: dict[str, Any], swept: list[str], overrides: list[str]) -> tuple[dict, list]:
    """The values and the declared columns: swept and key hyperparameters first (`differs`),
    then the run's other overrides; an override that is no config leaf (a config group
    choice, `optimizer=sgd`) gets a column of its own."""
    from tensorboard.plugins.hparams import api_pb2

    values = dict(hparams)
    override_keys = []
    for override in overrides:
        key, _, value = override.lstrip("+~").partition("=")
        if key and is_named(key):
            values.setdefault(key, value)
            override_keys.append(key)
    first = [k for k in dict.fromkeys([*swept, *KEY_HPARAMS]) if k in values]
    rest = [k for k in dict.fromkeys(override_keys) if k not in first]
    types = {bool: api_pb2.DATA_TYPE_BOOL, str: api_pb2.DATA_TYPE_STRING}
    infos = [
        api_pb2.HParamInfo(
            name=key,
            display_name=KEY_HPARAMS.get(key, key),
            type=types.get(type(values[key]), api_pb2.DATA_TYPE_FLOAT64),
            differs=key in first,
        )
        for key in [*first, *rest]
    ]
    return values, infos


def _session_start(values: dict[str, Any]):
    """The session's start: its hyperparameter values, each by its kind. No group name: the
    session's group, the table's "Trial ID", is the run's own name."""
    from tensorboard.plugins.hparams import plugin_data_pb2 as data

    start = data.SessionStartInfo(start_time_secs=time.time())
    for key, value in values.items():
        if isinstance(value, bool):
            start.hparams[key].bool_value = value
        elif isinstance(value, (int, float)):
            start.hparams[key].number_value = value
        else:
            start.hparams[key].string_value = str(value)
    return start


def log_hparams(
    writer,
    hparams: dict[str, Any],
    metrics: dict[str, float],
    step: int,
    run_dir,
    status: str = "completed",
):
    """Declare the columns, write this run's session and its metric scalars (test/mse is
    already logged by the test loop and is not written twice). A run that failed ends its
    session as failed (TensorBoard's Status column), so it never reads as a finished run."""
    from tensorboard.plugins.hparams import api_pb2
    from tensorboard.plugins.hparams import plugin_data_pb2 as data

    run_dir = Path(run_dir)
    reopened = None
    if writer.file_writer is None:  # closed: Lightning finalizes its loggers after a fit/test
        from torch.utils.tensorboard import SummaryWriter

        writer = reopened = SummaryWriter(log_dir=writer.log_dir)  # a new file, the same run
    values, infos = columns(hparams, read_swept(run_dir.parent) or [], run_overrides(run_dir))
    metric_infos = [
        api_pb2.MetricInfo(name=api_pb2.MetricName(tag=tag), display_name=name)
        for tag, name in METRICS
    ]
    start = _session_start(values)
    for tag, plugin_data in (
        (
            EXPERIMENT_TAG,
            data.HParamsPluginData(
                experiment=api_pb2.Experiment(hparam_infos=infos, metric_infos=metric_infos)
            ),
        ),
        (SESSION_START_INFO_TAG, data.HParamsPluginData(session_start_info=start)),
        (
            SESSION_END_INFO_TAG,
            data.HParamsPluginData(
                session_end_info=data.SessionEndInfo(
                    status=api_pb2.STATUS_SUCCESS
                    if status == "completed"
                    else api_pb2.STATUS_FAILURE,
                    end_time_secs=time.time(),
                )
            ),
        ),
    ):
        summary = summary_pb2.Summary()
        summary.value.add(
            tag=tag, metadata=create_summary_metadata(plugin_data), tensor=NULL_TENSOR
        )
        writer.file_writer.add_summary(summary, step)
    for tag, value in metrics.items():
        if tag != "test/mse":
            writer.add_scalar(tag, value, step)
    if reopened is not None:
        reopened.close()
