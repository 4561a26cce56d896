"""lstm-train the way a user runs it: one shared run in a subprocess (conftest's `quick_run`),
the refusals and --help through the same entry point in this process."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml
from tensorboard.plugins.hparams import plugin_data_pb2

from helpers import cli, hparams_session, load_events, read_metrics, run, run_dirs


@pytest.fixture
def short_run(quick_run):
    """The shared run: QUICK with 12 hidden units, 2 layers, batches of 32."""
    return quick_run.run_dir, quick_run.root


def test_saved_config_shows_the_overrides(short_run):
    run_dir, _ = short_run
    saved = yaml.safe_load((run_dir / ".hydra" / "config.yaml").read_text())
    assert saved["model"]["hidden_size"] == 12 and saved["model"]["num_layers"] == 2
    assert saved["trainer"]["max_epochs"] == 2
    assert "model.hidden_size=12" in (run_dir / ".hydra" / "overrides.yaml").read_text()


def test_the_run_log_holds_the_command_its_directory_and_how_it_ended(quick_run):
    run_dir = quick_run.run_dir
    log = (run_dir / "train.log").read_text()
    typed = yaml.safe_load((run_dir / ".hydra" / "overrides.yaml").read_text())
    metrics = read_metrics(run_dir)
    assert f"[lstm_lab.run][INFO] lstm-train {' '.join(typed)}\n" in log
    assert f"[lstm_lab.run][INFO] run directory: {run_dir}\n" in log
    steps, mse = metrics["global_step"], metrics["test"]["mse"]
    assert f"[lstm_lab.run][INFO] completed: 2 epochs, {steps} optimizer steps, " in log
    assert "test (original units): mae " in log and f"mse {mse:.4g}" in log
    # the log file alone: the console shows the run as its tables
    assert "run directory: " not in quick_run.proc.stdout + quick_run.proc.stderr


def test_run_directory_holds_every_artefact(short_run):
    run_dir, root = short_run
    assert run_dir.parent == root / "outputs" / "runs"
    assert (run_dir / "checkpoints" / "best.ckpt").is_file()
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert (run_dir / "plots" / "test_prediction.png").stat().st_size > 10_000
    # events beside the run's files, so TensorBoard names the run by its directory
    assert list(run_dir.glob("events.out.tfevents.*"))
    assert not (run_dir / "tensorboard").exists()
    metrics = read_metrics(run_dir)
    assert metrics["status"] == "completed"
    assert set(metrics["test"]) == {"mse", "rmse", "mae"}
    assert metrics["test"]["rmse"] == pytest.approx(metrics["test"]["mse"] ** 0.5, rel=1e-4)
    assert metrics["seed"] == 42 and metrics["epochs"] == 2
    assert metrics["versions"]["torch"] and metrics["versions"]["lightning"]
    assert "git_commit" in metrics and metrics["wall_time_s"] > 0


def test_a_run_prints_no_warning(quick_run):
    # Lightning warned on every run that `.test(ckpt_path="best")` picks the first of the two
    # ModelCheckpoint callbacks (best.ckpt's and last.ckpt's); the run now names the file
    output = quick_run.proc.stdout + quick_run.proc.stderr
    warned = [line for line in output.splitlines() if "warn" in line.lower()]
    assert not warned, warned
    assert "ModelCheckpoint" not in output
    # the model summary, without the FLOPs column Lightning filled with zeros (training/summary.py)
    assert "Total params" in output and "FLOPs" not in output


def test_tensorboard_has_curves_images_and_real_hparams(short_run):
    run_dir, _ = short_run
    events = load_events(run_dir)
    scalars = events.Tags()["scalars"]
    # Each epoch has fewer batches than Lightning's default logging interval (50);
    # the curves must be there anyway, one point per epoch.
    assert len(events.Scalars("train/loss")) == 2
    assert len(events.Scalars("val/loss")) == 2
    assert {"test/mse", "test/rmse", "test/mae"} <= set(scalars)
    assert "test/prediction" in events.Tags()["images"]
    hparams = hparams_session(events)
    assert hparams["model.hidden_size"] == 12 and hparams["model.num_layers"] == 2
    metrics = read_metrics(run_dir)
    (mse,) = events.Scalars("test/mse")
    assert mse.value == pytest.approx(metrics["test"]["mse"], rel=1e-5)
    assert "hp/test_mse" not in scalars  # not twice
    assert events.Scalars("hp/best_val_loss")[0].value == pytest.approx(
        metrics["best_val_loss"], rel=1e-5
    )
    assert "hp_metric" not in scalars  # no -1 placeholder
    assert events.Scalars("hp/skill")[0].value == pytest.approx(
        metrics["forecast"]["best_baseline"]["one_step"]["skill"], rel=1e-5
    )
    # the columns are declared: the key hyperparameters first, then the run's overrides
    content = events.PluginTagToContent("hparams")["_hparams_/experiment"]
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content).experiment
    first = {h.name for h in experiment.hparam_infos if h.differs}
    assert first == {"model.hidden_size", "model.num_layers", "optimizer.lr", "mode"}
    assert [m.name.tag for m in experiment.metric_infos] == [
        "hp/best_val_loss",
        "test/mse",
        "hp/rollout_mse",
        "hp/skill",
    ]


def test_summary_prints_metrics_run_dir_and_tensorboard_command(quick_run):
    proc, run_dir = quick_run.proc, quick_run.run_dir
    assert "test/mse" in proc.stdout
    assert f"Run directory: {run_dir}" in proc.stdout
    # TensorBoard on the runs folder names this run by its time stamp
    assert f"tensorboard --logdir {run_dir.parent}  (this run: {run_dir.name})" in proc.stdout


def test_a_launcher_whose_extra_is_missing_says_how_to_install_it(tmp_path):
    # dev installs the parallel, optuna and slurm extras, not ray
    proc = run("-m", "launcher=ray", "model.hidden_size=8", cwd=tmp_path)
    assert proc.returncode == 2
    line = proc.stderr.strip().splitlines()[-1]
    assert "Could not find 'hydra/launcher/ray'" in line
    assert line.endswith("it comes with the `ray` extra: pip install -e '.[ray]'")


@pytest.mark.parametrize(
    "missing,extra",
    [("hydra/sweeper/optuna", "optuna"), ("hydra/launcher/joblib", "parallel")],
)
def test_plugin_hint_names_the_extra_and_the_make_command(missing, extra):
    from lstm_lab.user_errors import plugin_hint

    hint = plugin_hint(f"In 'hydra/config': Could not find '{missing}'")
    assert hint == f"; it comes with the `{extra}` extra: make extras EXTRAS={extra}"
    assert plugin_hint("In 'train': Could not find 'model/nope'") == ""


@pytest.mark.parametrize(
    "override,expected",
    [
        ("model.hidden_sise=64", "model.hidden_sise: unknown key (did you mean 'hidden_size'?)"),
        ("model.hidden_size=0", "model.hidden_size: got 0; must be an integer >= 1"),
        ("optimizer.lr=-1", "optimizer.lr: got -1; must be a number > 0"),
        ("data.window=200", "data.window: the val split has 150 steps"),
        ("model=nope", "Could not find 'model/nope'; available: gru, lstm"),
        ("+optimizer.foo=1", "optimizer: Adam.__init__() got an unexpected keyword argument 'foo'"),
    ],
)
def test_config_errors_are_one_line_and_leave_nothing(tmp_path, override, expected):
    proc = run(override, cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("lstm-train: error: ") and expected in lines[0]
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not run_dirs(tmp_path), "a refused config must not leave a run directory"


# What makes a refusal quick (measured by `make bench`, never timed here): the config is
# composed and validated before torch and Lightning are imported.
REFUSED_EARLY = [
    "model.hidden_sise=64",
    "model.hidden_size=0",
    "optimizer.lr=-1",
    "data.window=200",
    "model=nope",
    "data=csv",
    "resume=nowhere",
]
IMPORTS_AFTER_REFUSALS = """
import contextlib, io, json, os, sys
from hydra.core.global_hydra import GlobalHydra
from lstm_lab.cli.train import main
codes = []
for override in sys.argv[1:]:
    sys.argv = ["lstm-train", override]
    os.environ.pop("HYDRA_FULL_ERROR", None)  # set by the previous call
    GlobalHydra.instance().clear()
    with contextlib.redirect_stderr(io.StringIO()):
        try:
            main()
        except SystemExit as stop:
            codes.append(stop.code)
heavy = sorted(m for m in ("torch", "lightning", "matplotlib") if m in sys.modules)
print(json.dumps({"codes": codes, "heavy": heavy}))
"""


def test_config_errors_are_answered_before_torch_and_lightning_are_imported(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", IMPORTS_AFTER_REFUSALS, *REFUSED_EARLY],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["codes"] == [2] * len(REFUSED_EARLY)
    assert result["heavy"] == [], "a refused config paid for heavy imports"
    assert not run_dirs(tmp_path)


@pytest.mark.parametrize("args", [["model.hidden_size=0"], ["--cfg", "job", "seed=7"]])
def test_in_process_runs_answer_as_the_console_script_does(tmp_path, args):
    """helpers.run (most tests' way to call an entry point) against the installed script."""
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    here, there = run(*args, cwd=tmp_path / "a"), cli(*args, cwd=tmp_path / "b")
    assert here.returncode == there.returncode
    assert here.stdout == there.stdout and here.stderr == there.stderr


def test_verbose_shows_the_traceback(tmp_path):
    proc = run("model.hidden_size=0", "--verbose", cwd=tmp_path)
    assert proc.returncode != 0 and "Traceback" in proc.stderr
    assert run_dirs(tmp_path) == [], "a refused run leaves its directory behind"


@pytest.mark.parametrize("prog", ["lstm-train", "lstm-eval", "lstm-predict"])
@pytest.mark.parametrize("override", ["=3", "+=3", "~=3", "-m =3"])
def test_an_override_without_a_key_is_one_line_for_every_command(tmp_path, prog, override):
    """Hydra's defaults list failed on a keyless override with a ValueError traceback."""
    proc = run(*override.split(), cwd=tmp_path, prog=prog)
    assert proc.returncode == 2
    key = override.split()[-1]
    assert proc.stderr.strip() == (
        f"{prog}: error: {key}: an override without a key; write key=value, +key=value to add "
        "a key, ~key to remove one"
    )
    assert not list(tmp_path.iterdir()), "a refused command leaves nothing"


def test_multirun_flag_after_overrides_is_taken_as_hydra_takes_it_first(tmp_path):
    """`lstm-train a=1 -m b=2,3`: argparse ends the overrides at the flag, and refused what
    followed with Hydra's usage text; now the sweep's first job is composed (and refused)."""
    proc = run("trainer.max_epochs=1", "-m", "model.hiden_size=4,8", cwd=tmp_path)
    assert proc.returncode == 2
    expected = "lstm-train: error: model.hiden_size: unknown key (did you mean 'hidden_size'?)"
    assert proc.stderr.strip() == expected


@pytest.mark.parametrize(
    "args,expected",
    [
        ("--cfg jobb", "--cfg: got 'jobb'; must be one of job, hydra, all"),
        ("seed=1 --cfg", "--cfg: needs a value; must be one of job, hydra, all"),
        ("-m --cfg job", "--cfg: cannot go with --multirun; give one of --run, --multirun, "
         "--cfg, --info, --shell-completion"),
    ],
)  # fmt: skip
def test_a_bad_hydra_flag_is_one_line_not_hydras_usage_text(tmp_path, args, expected):
    """argparse printed Hydra's eight lines of usage before its error; two modes: a traceback."""
    proc = run(*args.split(), cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"lstm-train: error: {expected}"


@pytest.mark.parametrize("prog", ["lstm-train", "lstm-eval", "lstm-predict"])
def test_an_unknown_flag_is_one_line_for_every_command(tmp_path, prog):
    """argparse printed Hydra's eight lines of usage before `unrecognized arguments`."""
    proc = run("seed=1", "--bogus", cwd=tmp_path, prog=prog)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1
    assert proc.stderr.startswith(
        f"{prog}: error: --bogus: unknown flag; the flags are --help/-h, --hydra-help, "
    )
    assert "--multirun/-m" in proc.stderr and "key=value" in proc.stderr
    assert not list(tmp_path.iterdir()), "a refused command leaves nothing"


def test_hydras_flags_joined_to_their_value_or_shortened_still_pass(tmp_path):
    """As argparse takes them: `--cfg=job`, `-cjob`, `--cf job` (an unambiguous prefix)."""
    for args in (["--cfg=job"], ["-cjob"], ["--cf", "job"]):
        proc = run(*args, "seed=7", cwd=tmp_path)
        assert proc.returncode == 0, (args, proc.stderr)
        assert yaml.safe_load(proc.stdout)["seed"] == 7


def test_a_flag_with_a_value_after_overrides_is_taken_as_if_first(tmp_path):
    """`seed=5 --cfg job threads=2`: argparse ended the overrides at the flag and refused
    `threads=2` with Hydra's usage text."""
    proc = run("seed=5", "--cfg", "job", "threads=2", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    config = yaml.safe_load(proc.stdout)
    assert (config["seed"], config["threads"]) == (5, 2)


def test_help_lists_the_config_groups(tmp_path):
    proc = run("--help", cwd=tmp_path)
    assert proc.returncode == 0
    for group in ("data", "model", "optimizer", "scheduler", "trainer", "experiment"):
        assert f"{group}:" in proc.stdout


def test_ctrl_c_where_no_stop_was_arranged_ends_in_one_line(monkeypatch, capsys):
    """Ctrl-C while a command starts (its imports, Hydra's composition): exit 130, one line,
    no traceback; with --verbose the traceback."""
    from lstm_lab.cli.shell import run_cli

    def app():
        raise KeyboardInterrupt

    monkeypatch.setattr(sys, "argv", ["lstm-train"])
    monkeypatch.setenv("HYDRA_FULL_ERROR", "0")
    monkeypatch.setenv("LSTM_LAB_VERBOSE", "0")
    with pytest.raises(SystemExit) as stopped:
        run_cli(app, "lstm-train")
    assert stopped.value.code == 130
    assert capsys.readouterr().err.strip() == "lstm-train: error: interrupted by Ctrl-C"
    monkeypatch.setenv("LSTM_LAB_VERBOSE", "1")
    with pytest.raises(KeyboardInterrupt):
        run_cli(app, "lstm-train")


@pytest.mark.parametrize(
    ("rank", "code", "status", "line"),
    [
        (0, 143, 143, True),  # rank 0 reports the run
        (1, 143, 0, False),  # DDP rank 1 stopped with it: quiet, so the launcher lets rank 0 end
        (1, 130, 0, False),
        (1, 1, 1, True),  # a failure of its own (out of memory, say) still fails the process
    ],
)
def test_a_ddp_rank_other_than_0_leaves_a_signal_stop_to_rank_0(
    monkeypatch, capsys, rank, code, status, line
):
    """Lightning's plain-ddp launcher SIGKILLs rank 0 when a rank it started exits non-zero,
    while rank 0 may still be writing the report after a signal stopped them all."""
    from lightning.pytorch.utilities import rank_zero_only

    from lstm_lab.cli.shell import run_cli
    from lstm_lab.training.stopped import RunStopped
    from lstm_lab.user_errors import command_errors_as_exits, refusals_as_command_errors

    def app():  # as lstm-train's task leaves: RunStopped -> CommandError -> CommandExit
        with command_errors_as_exits(), refusals_as_command_errors():
            raise RunStopped("interrupted by SIGTERM after training", exit_code=code)

    monkeypatch.setattr(sys, "argv", ["lstm-train"])
    monkeypatch.setenv("LSTM_LAB_VERBOSE", "0")
    monkeypatch.setattr(rank_zero_only, "rank", rank)
    with pytest.raises(SystemExit) as stopped:
        run_cli(app, "lstm-train")
    assert stopped.value.code == status
    err = capsys.readouterr().err.strip()
    assert err == ("lstm-train: error: interrupted by SIGTERM after training" if line else "")
