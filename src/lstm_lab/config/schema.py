"""Every config key stated once: its name, default, type, range and one-line doc.

Hydra's defaults for the `data`, `model` and `evaluation` options and the commands' top-level
keys come from here (`register` puts them in its ConfigStore), and so do the checks
(`lstm_lab.config.validate`), their one-line errors, and the key list of `lstm-train --help`.
configs/ holds only what sits on top: other options (data/sine_noisy.yaml), experiments, and
the open `_target_` groups (optimizer, scheduler, trainer, logger, callbacks), whose keys are
their class's keyword arguments. The nodes given to Hydra are untyped on purpose: a bad value
reaches our message ("model.hidden_size: got 'abc'; must be an integer >= 1"), not OmegaConf's.

Adding a key is one edit here: a field in its section's dataclass, in the order it should
appear in the config. The annotation is the type (`| None`: null allowed, `null=` says what it
means), the check the range (`at_least`, `above`, `between`, `one_of`, or any
`Check(test, says)`), and the error line is built from both; `valid=` rewords it:

    transform: str = key("none", "what the model sees", one_of("none", "diff", "window_relative"))
    window: int = key(10, "input steps per window", at_least(1))
    batch_size: int | None = key(16, "windows per batch", at_least(1), null="for the whole split")
    auto = Check(lambda v: v == "auto" or v >= 1, "")  # keyspec.Check: any test
    threads: int | str | None = key(None, "torch threads", auto, valid="an integer >= 1 or auto")

The key then has its default in the composed config, is refused in one line naming it when
bad, is listed by --help, and tests/test_schema.py covers it. Other cases:
- A key of an open group (e.g. `logger.*.log_every_n_steps`): its default goes in the group's
  YAML option(s); its range check here, as a field without default in an `Open` section listed
  in SECTIONS under its prefix ("logger.*": every entry of the logger mapping).
- Sections chosen by `_target_` (series sources, and the model once it has `_target_`): one
  dataclass per target, with its `_target_` default, joined in the union the parent field or
  SECTIONS entry is typed with (`series: SineSeries | CsvSeries`; `"model": LSTM | GRU`); a
  node without `_target_` (an older run's) is the first variant's, and an `Open` variant with no
  `_target_` default takes any other class with its own keyword arguments. To make it a
  group option (`model=gru`), add an instance to OPTIONS.
- Rules that tie keys together (t_end > t_start, split fractions) stay in lstm_lab.config.

Imports neither torch nor Lightning: `--help`, `--cfg job` and config errors stay fast.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

from lstm_lab.config.keyspec import (
    Check,
    Open,
    above,
    as_node,
    at_least,
    between,
    describe_keys,
    key,
    one_of,
)
from lstm_lab.models.build import DEFAULT_TARGET  # torch-free: only the class's path

DOTTED = "a dotted import path"
# threads: "auto" or a count (a str compared with 1 raises TypeError: refused as well)
AUTO_OR_COUNT = Check(lambda v: v == "auto" or v >= 1, "")


@dataclass
class ModelKeys(Open):
    """How any network is trained (lstm-lab's own keys of the model section, never passed to the
    network; the network's own keys come with the model option, e.g. model/lstm). Stateful mode
    (truncated BPTT) replaces windows: the train split is cut into `streams` contiguous streams,
    each batch is their next `bptt` steps, and the state is carried from batch to batch,
    detached in between; val and test are walked from the start of the series, so their state
    is warmed up (data.window, batch_size and shuffle are then unused). `steps_per_call` groups
    optimizer steps so Lightning's per-batch hooks run once per group: same steps, same results
    as 1; it is 1 under DDP, in stateful mode, with gradient clipping, accumulation or
    16-mixed precision, and with a trainer setting that counts training batches
    (val_check_interval, limit_train_batches, overfit_batches)."""

    carry_state: bool = key(
        False, "feed one training batch's detached (h, c) into the next (the classic tutorial's)"
    )
    stateful: bool = key(False, "stateful mode (truncated BPTT) instead of windows")
    bptt: int = key(20, "stateful mode: steps per chunk, how far back gradients reach", at_least(1))
    streams: int = key(4, "stateful mode: parallel streams, the batch size", at_least(1))
    steps_per_call: int = key(
        16, "optimizer steps per Lightning training batch (same results as 1)", at_least(1)
    )


@dataclass
class TrainKeys(Open):
    """lstm-train's own keys, at the top of its config (the groups sit beside them)."""

    task_name: str = key("train", "the command's name")
    seed: int = key(42, "seeds torch, numpy and Python (weights, shuffling, dropout)")
    threads: int | str | None = key(
        "auto",
        "torch threads for this run: auto gives one unless the model and batch are large "
        "enough for more to pay, never more than the cores idle now (lstm_lab/training/threads.py)",
        AUTO_OR_COUNT,
        valid="auto, an integer >= 1",
        null="for torch's default",
    )
    resume: str | None = key(
        None,
        "continue a stopped run in its own directory, with its saved config",
        valid="a run directory (outputs/runs/<run>)",
        null="",
    )
    ckpt_path: str | None = key(
        None,
        "start a new run from a checkpoint's weights and training state",
        valid="a .ckpt file",
        null="",
    )
    model: ModelKeys = key(ModelKeys(), "how any network is trained")


@dataclass
class LSTM:
    """LSTMRegressor: nn.LSTM(batch_first=True) + an nn.Linear head to data.horizon outputs;
    the input size follows from the data. `_target_` may name any nn.Module class of yours
    (models/build.py: built with its model option's keys plus input_size and horizon)."""

    _target_: str = key(DEFAULT_TARGET, "the network class", valid=DOTTED)
    hidden_size: int = key(32, "units in the hidden state", at_least(1))
    num_layers: int = key(1, "stacked recurrent layers", at_least(1))
    dropout: float = key(
        0.0, "dropout between layers (needs num_layers > 1)", between(0, 1, high_open=True)
    )
    linear_skip: int = key(
        0,
        "the window's last N steps also feed a linear map added to the head (LSTNet's "
        "highway: at least a linear AR); 0: none; window mode only, N <= data.window",
        at_least(0),
    )


@dataclass
class GRU(LSTM):
    """GRURegressor: nn.GRU(batch_first=True) + an nn.Linear head, built like a network of
    your own: `lstm-train model=gru`, or `lstm-train -m model=lstm,gru` to compare the two."""

    _target_: str = key("lstm_lab.models.gru.GRURegressor", "the network class", valid=DOTTED)


# The built-in networks' own keys, by model._target_ (a class of the user's is checked against
# its constructor's signature instead, in lstm_lab.config). Their defaults are the
# constructors' too: tests/test_schema.py fails when the two disagree.
NETWORKS = LSTM | GRU


def network_section(model: dict) -> dict:
    """The model section less lstm-lab's own keys (ModelKeys): the network's `_target_` and the
    keys its constructor is given (models/build.py)."""
    training = {field.name for field in dataclasses.fields(ModelKeys)}
    return {k: v for k, v in model.items() if k not in training}


@dataclass
class Wave:
    frequency: float = key(1.0, "radians per unit t")
    amplitude: float = key(1.0, "the wave's peak")
    phase: float = key(0.0, "radians at t = 0")


@dataclass
class SineSeries:
    """A sum of waves, amplitude * sin(frequency * t + phase), with optional Gaussian noise;
    the default is the classic tutorial's: 1000 points of sin(t), t in [0, 100]."""

    _target_: str = key("lstm_lab.data.series.sine_series", "a generated series", valid=DOTTED)
    n_points: int = key(1000, "points in the series", at_least(2))
    t_start: float = key(0.0, "t of the first point")
    t_end: float = key(100.0, "t of the last point (> t_start)")
    waves: list[Wave] = key([Wave()], "the waves summed")
    trend: float = key(0.0, "plus a straight line rising this much per unit of t")
    noise: float = key(0.0, "standard deviation of added Gaussian noise", at_least(0))
    seed: int = key(0, "the noise's own seed")


@dataclass
class CsvSeries:
    """Your own series from a CSV file with a header row: the model reads the target and the
    feature columns (input size = their number)."""

    _target_: str = key(
        "lstm_lab.data.csv_file.csv_series", "a series from a CSV file", valid=DOTTED
    )
    path: str = key(
        MISSING,
        "the CSV file; a relative path is looked up here, then in lstm-lab's bundled data",
        valid="the path of a CSV file",
    )
    target: str = key(MISSING, "the column to predict (always an input too)", valid="a column name")
    features: list[str] = key(
        [], "more input columns, e.g. [temperature,humidity]", valid="a list of column names"
    )
    time: str | None = key(
        None,
        "a column of increasing numbers or ISO dates: checks order, labels plots",
        valid="a column name",
        null="",
    )
    missing: str = key(
        "fail",
        "blank or NA cells: fail, drop (the row) or interpolate (linearly in time)",
        one_of("fail", "drop", "interpolate"),
    )


@dataclass
class UserSeries(Open):
    """A series function of yours (`data.series._target_`): it takes its keys here and returns
    a (time,) or (time, features) array, the target first; lstm_lab.config checks its
    signature."""


SERIES = SineSeries | CsvSeries | UserSeries


@dataclass
class Split:
    train: float = key(0.7, "fraction for training, from the start", between(0, 1))
    val: float = key(0.15, "fraction for validation, after it", between(0, 1))


@dataclass
class Data:
    """A series cut into windows: `window` inputs -> the next `horizon` values, on
    chronological train/val/test splits."""

    _target_: str = key("lstm_lab.data.datamodule.WindowDataModule", "the DataModule", valid=DOTTED)
    series: SERIES = key(SineSeries(), "the series, by its _target_")
    window: int = key(10, "input steps per window", at_least(1))
    horizon: int = key(1, "predict the next `horizon` values at once", at_least(1))
    split: Split = key(
        Split(),
        "chronological fractions; the rest is the held-out test split",
        valid="a mapping of train and val fractions",
    )
    batch_size: int | None = key(
        16, "training windows per batch", at_least(1), null="for the whole split"
    )
    eval_batch_size: int = key(1024, "windows per batch in validation and test", at_least(1))
    shuffle: bool = key(True, "shuffle the training windows each epoch (val and test never are)")
    transform: str = key(
        "none",
        "what the network reads of the target: its level, its changes (diff) or its values "
        "minus the window's last one (window_relative); forecasts stay in its units",
        one_of("none", "diff", "window_relative"),
    )


@dataclass
class Evaluation:
    """Forecasts on the test split, at the end of training and by lstm-eval: one-step and
    rolled-out, against persistence, seasonal-naive, training-mean and linear-AR baselines."""

    rollout_steps: int | None = key(
        None,
        "predictions fed back as inputs for this many steps",
        at_least(0),
        valid="an integer >= 0 (0: no rollout)",
        null="for the whole test split",
    )
    period: int | None = key(
        None,
        "seasonal-naive period in steps (null: from the autocorrelation)",
        at_least(1),
        null="to estimate it from the training split",
    )
    max_origins: int = key(
        256, "rollouts start from at most this many points of the test split", at_least(1)
    )


@dataclass
class Optimizer(Open):
    """Any torch.optim class via `_target_`; its other keys are that class's arguments."""

    lr: float = key(doc="learning rate", check=above(0))
    weight_decay: float = key(doc="weight decay", check=at_least(0))


# The metrics logged every epoch of a fit (models/module.py), which a plateau scheduler or a
# callback (early stopping, checkpoints) can monitor.
MONITORED = ("val/loss", "train/loss")


@dataclass
class Scheduler(Open):
    """Any torch.optim.lr_scheduler class via `_target_`; its other keys are that class's
    arguments, but for Lightning's lr_scheduler options, read by lstm-lab and not passed on."""

    interval: str = key(
        doc="step the scheduler every optimizer step or every epoch", check=one_of("step", "epoch")
    )
    frequency: int = key(doc="step it every this many intervals", check=at_least(1))
    monitor: str = key(doc="the metric a plateau scheduler reads", check=one_of(*MONITORED))


@dataclass
class Callback(Open):
    """Any Lightning callback via `_target_`; its other keys are that class's arguments. The
    ones early stopping and checkpoints read once training runs are checked before it."""

    monitor: str | None = key(doc="the metric it watches", check=one_of(*MONITORED), null="")
    patience: int = key(doc="epochs without improvement before it acts", check=at_least(0))


@dataclass
class Trainer(Open):
    """lightning.Trainer arguments; add any other with `+trainer.<arg>=<value>`."""

    max_epochs: int = key(doc="training epochs", check=at_least(1))


@dataclass
class Logger(Open):
    """The loggers (their entries are `_target_` nodes), and how often the curves get a point;
    its default is in configs/logger/tensorboard.yaml."""

    log_every_n_steps: int | None = key(
        doc="train/loss_step every this many optimizer steps",
        check=at_least(1),
        null="for no per-step curve",
    )


def _run_dir() -> Any:
    return key(None, "the trained run to use", valid="a run directory made by lstm-train")


def _ckpt_path() -> Any:
    return key(None, "null: <run_dir>/checkpoints/best.ckpt", valid="a checkpoint file")


def _threads() -> Any:
    return key(
        "auto",
        "torch threads: auto as lstm-train's",
        AUTO_OR_COUNT,
        valid="auto, an integer >= 1",
        null="for the run's own setting",
    )


@dataclass
class EvalKeys(Open):
    """lstm-eval's own keys (its `evaluation.*` override the run's saved settings)."""

    run_dir: str | None = _run_dir()
    ckpt_path: str | None = _ckpt_path()
    threads: int | str | None = _threads()


@dataclass
class PredictKeys(Open):
    """lstm-predict's keys."""

    run_dir: str | None = _run_dir()
    ckpt_path: str | None = _ckpt_path()
    steps: int = key(50, "how many values to forecast after the end of the series", at_least(1))
    input: str | None = key(
        None,
        "one value per line (a header allowed); null: the run's own data",
        valid="a .csv or .npy file",
    )
    output: str | None = key(
        None, "null: <run_dir>/forecast.csv", valid="the path of a .csv file to write"
    )
    threads: int | str | None = _threads()


# What lstm-train checks, by section ("": the top level).
SECTIONS: dict[str, type] = {
    "": TrainKeys,
    "data": Data,
    "model": ModelKeys,
    "optimizer": Optimizer,
    "scheduler": Scheduler,
    "trainer": Trainer,
    "logger": Logger,
    "callbacks.*": Callback,
    "evaluation": Evaluation,
}
# A trending CSV series leaves the training range; window_relative keeps a stationary one as
# accurate as none (measured: docs/transforms.md).
CSV_DATA = Data(series=CsvSeries(), transform="window_relative")
# The options of the groups whose defaults are stated here, as Hydra sees them (`model=lstm`).
OPTIONS: dict[str, dict[str, object]] = {
    "data": {"sine": Data(), "csv": CSV_DATA},
    "model": {"lstm": LSTM(), "gru": GRU()},
    "evaluation": {"default": Evaluation()},
}
# The commands' own top-level keys, pulled in by the defaults lists of train/eval/predict.yaml.
COMMAND_KEYS: dict[str, object] = {
    "train_keys": TrainKeys(),
    "eval_keys": EvalKeys(),
    "predict_keys": PredictKeys(),
}
COMMAND_SECTIONS = {"train": SECTIONS, "eval": {"": EvalKeys, "evaluation": Evaluation}}
COMMAND_SECTIONS["predict"] = {"": PredictKeys}


def help_template(command: str) -> str:
    """`lstm-<command> --help` (Hydra fills in the $ names): the groups, every key with its
    doc, what is valid and its default, then the composed config."""
    sections = list(COMMAND_SECTIONS[command].items())
    if command == "train":  # the built-in networks' own keys, after lstm-lab's model keys
        sections.insert(1 + list(SECTIONS).index("model"), ("model", NETWORKS))
    rows = [row for prefix, section in sections for row in describe_keys(prefix, section)]
    # once each: the model's training keys (in TrainKeys and SECTIONS), GRU's keys (LSTM's)
    rows = list(dict.fromkeys(rows))
    named = [
        (name if default == "-" else f"{name}={default}", f"{doc}; {valid}")
        for name, default, valid, doc in rows
    ]
    width = min(max(len(n) for n, _ in named), 40)
    keys = "\n".join(f"{n:<{width}}  {says}" for n, says in named)
    return (
        f"lstm-{command}: override any key with key=value, swap a group with group=option\n\n"
        "== Configuration groups ==\n$APP_CONFIG_GROUPS\n\n"
        "== Keys (src/lstm_lab/config/schema.py): key=default  doc; what is valid ==\n"
        f"{keys}\n\n== Config ==\n$CONFIG\n"
    )


def register() -> None:
    """Put the groups' defaults into Hydra's ConfigStore, and `--help`'s template resolver;
    call before composing (the entry points and lstm_lab.config do, on import)."""
    store = ConfigStore.instance()
    for group, options in OPTIONS.items():
        for name, section in options.items():
            store.store(group=group, name=name, node=as_node(section))
    for name, section in COMMAND_KEYS.items():
        store.store(name=name, node=as_node(section))
    OmegaConf.register_new_resolver("lstm_lab.help", help_template, replace=True)
