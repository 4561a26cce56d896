"""lstm-eval and lstm-predict on the shared short run (conftest's `quick_run`): once each in a
subprocess as a user runs them, the other cases through the same entry points in this process."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from helpers import QUICK, cli, copy_run, load_events, read_metrics, run, run_dirs
from lstm_lab.records.report import flatten

FIGURES = ("prediction", "rollout", "error_vs_horizon")


@pytest.fixture(scope="module")
def trained(quick_run, tmp_path_factory):
    """A copy of the shared run, which the tests of this file (one worker's) write into."""
    root = tmp_path_factory.mktemp("eval")
    return copy_run(quick_run.run_dir, root / "outputs" / "runs" / quick_run.run_dir.name), root


@pytest.fixture
def evaluated(quick_run, made_once):
    """lstm-eval of (a copy of) the shared run's best checkpoint, as a user runs it."""

    def make(root):
        run_dir = copy_run(quick_run.run_dir, root / "outputs" / "runs" / quick_run.run_dir.name)
        proc = cli(f"run_dir={run_dir}", cwd=root, prog="lstm-eval")
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        return str(run_dir), proc.stdout

    run_dir, stdout = made_once("evaluated", make)
    return Path(run_dir), SimpleNamespace(stdout=stdout)


def image_tags(run_dir) -> set[str]:
    return set(load_events(run_dir).Tags()["images"])


def test_training_records_forecasts_baselines_skill_and_plots(trained):
    run_dir, _ = trained
    forecast = read_metrics(run_dir)["forecast"]
    assert set(forecast["baselines"]) == {
        "persistence",
        "seasonal_naive",
        "training_mean",
        "linear_ar",
    }
    assert forecast["rollout"]["steps"] == 45 and forecast["rollout"]["origins"] == 1
    assert forecast["period"] == 62  # sin(t) sampled every 30/299: 2 pi / 0.1003 steps
    for kind in ("one_step", "rollout"):
        for name, value in forecast["skill"][kind].items():
            base = forecast["baselines"][name][kind]["mse"]
            if name in forecast["exact_baselines"][kind]:
                assert value is None  # the noise-free sine: no ratio of rounding errors
            else:
                assert value == pytest.approx(1 - forecast[kind]["mse"] / base)
        best = forecast["best_baseline"][kind]
        inexact = set(forecast["skill"][kind]) - set(forecast["exact_baselines"][kind])
        assert best["name"] == min(inexact, key=lambda b: forecast["baselines"][b][kind]["mse"])
        assert best["skill"] == forecast["skill"][kind][best["name"]]
    for name in FIGURES:
        assert (run_dir / "plots" / f"test_{name}.png").stat().st_size > 10_000
    assert {f"test/{name}" for name in FIGURES} <= image_tags(run_dir)


def test_eval_reproduces_what_training_recorded(evaluated):
    run_dir, proc = evaluated
    metrics = read_metrics(run_dir)
    result = json.loads((run_dir / "eval" / "best" / "evaluation.json").read_text())
    # The one-step forecasts are training's test metrics (torchmetrics, float32) ...
    assert result["test"] == pytest.approx(metrics["test"], rel=1e-4)
    # ... and every forecast number equals the one recorded at the end of training.
    recorded, again = flatten(metrics["forecast"]), flatten(result["forecast"])
    assert recorded.keys() == again.keys()
    for key, value in recorded.items():
        if isinstance(value, float):
            assert again[key] == pytest.approx(value, rel=1e-6, abs=1e-12), key
        elif isinstance(value, list) and all(isinstance(v, float) for v in value):
            np.testing.assert_allclose(again[key], value, rtol=1e-6, atol=1e-12, err_msg=key)
        else:
            assert again[key] == value, key
    assert result["checkpoint"] == str(run_dir / "checkpoints" / "best.ckpt")
    # the noise-free sine: the linear AR is exact, said so instead of a skill in the millions
    assert "linear_ar" in result["forecast"]["exact_baselines"]["one_step"]
    assert "exact baseline" in proc.stdout
    assert "Skill (1-step) vs the best inexact baseline" in proc.stdout
    assert 0 < result["global_step"] <= metrics["global_step"]
    out = proc.stdout
    assert f"mse {metrics['test']['mse']:.4g}" in out
    for name in ("persistence", "seasonal naive P=62", "training mean", "linear ar", "rollout"):
        assert name in out


def test_eval_writes_plots_and_tensorboard_images(evaluated):
    run_dir, _ = evaluated
    for name in FIGURES:
        assert (run_dir / "eval" / "best" / "plots" / f"test_{name}.png").stat().st_size > 10_000
    assert {f"eval/best/{name}" for name in FIGURES} <= image_tags(run_dir)


def test_a_run_without_its_tensorboard_logger_gets_no_tensorboard_from_eval_either(tmp_path):
    """`~logger.tensorboard`: training wrote no events yet printed the TensorBoard command, and
    lstm-eval wrote its images into a new event file in the run directory."""
    proc = run(*QUICK, "~logger.tensorboard", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (run_dir,) = run_dirs(tmp_path)
    evaluated = run(f"run_dir={run_dir}", cwd=tmp_path, prog="lstm-eval")
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    assert (run_dir / "eval" / "best" / "plots" / "test_rollout.png").is_file()
    assert "TensorBoard:" not in proc.stdout + evaluated.stdout
    assert not list(run_dir.rglob("*.tfevents.*"))


def test_eval_of_another_checkpoint_with_overridden_settings(trained):
    run_dir, root = trained
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    proc = run(f"ckpt_path={ckpt}", "evaluation.rollout_steps=10", cwd=root, prog="lstm-eval")
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads((run_dir / "eval" / "last" / "evaluation.json").read_text())
    assert result["checkpoint"] == str(ckpt)
    assert result["forecast"]["rollout"]["steps"] == 10
    assert result["forecast"]["rollout"]["origins"] == 36  # every origin of a 45-step split
    assert result["evaluation"]["period"] is None  # the run's own setting, not overridden


def corrupt(path):
    data = (path.parent / "best.ckpt").read_bytes()
    path.write_bytes(data[: len(data) // 3])


def unsafe(path):
    checkpoint = torch.load(path.parent / "best.ckpt", weights_only=True)
    checkpoint["hyper_parameters"] = {"callback": np.dtype("float32")}  # pickles numpy objects
    torch.save(checkpoint, path)


def reshaped(path):
    checkpoint = torch.load(path.parent / "best.ckpt", weights_only=True)
    checkpoint["state_dict"]["net.head.weight"] = torch.zeros(1, 5)
    torch.save(checkpoint, path)


def rescaled(path):
    checkpoint = torch.load(path.parent / "best.ckpt", weights_only=True)
    checkpoint["state_dict"]["target_std"] = torch.tensor(3.0)
    torch.save(checkpoint, path)


@pytest.mark.parametrize(
    "make,expected",
    [
        (None, "no such checkpoint file"),
        (corrupt, "corrupt, truncated or not a PyTorch checkpoint"),
        (unsafe, "refusing to unpickle it (checkpoints are loaded with weights_only=True)"),
        (reshaped, "does not fit the model of the run's config: head.weight has shape (1, 5)"),
        (rescaled, "was trained on data with target mean"),
    ],
    ids=["missing", "corrupt", "unsafe", "incompatible", "other-data"],
)
def test_bad_checkpoints_are_one_line_naming_the_file(trained, make, expected):
    run_dir, root = trained
    ckpt = run_dir / "checkpoints" / f"bad_{make.__name__ if make else 'missing'}.ckpt"
    if make:
        make(ckpt)
    try:
        proc = run(f"ckpt_path={ckpt}", cwd=root, prog="lstm-eval")
    finally:
        ckpt.unlink(missing_ok=True)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"lstm-eval: error: {ckpt}: ") and expected in lines[0]
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not (run_dir / "eval" / ckpt.stem).exists()


@pytest.mark.parametrize(
    "args,expected",
    [
        ([], "run_dir: give run_dir=<a run directory> or ckpt_path=<a checkpoint in one>"),
        (["run_dir=nowhere"], "run_dir: nowhere: no such run directory"),
        (["run_dir=."], "run_dir: .: no .hydra/config.yaml"),
        (
            ["RUN", "evaluation.rollout_steps=46"],
            "evaluation.rollout_steps: got 46; the test split",
        ),
        (["RUN", "evaluation.period=-1"], "evaluation.period: got -1; must be an integer >= 1"),
    ],
)
def test_bad_eval_settings_are_one_line(trained, args, expected):
    run_dir, root = trained
    args = [f"run_dir={run_dir}" if a == "RUN" else a for a in args]
    proc = run(*args, cwd=root, prog="lstm-eval")
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith(f"lstm-eval: error: {expected}"), proc.stderr


@pytest.mark.parametrize(
    "given,expected",
    [
        (
            "ckpt_path=TMP/kept/loose.ckpt",
            "ckpt_path: TMP/kept/loose.ckpt: not in the checkpoints/ folder of a run directory "
            "made by lstm-train (TMP has no .hydra/config.yaml); give its run too: run_dir=<run>",
        ),
        ("ckpt_path=TMP/nope.ckpt", "TMP/nope.ckpt: no such checkpoint file"),
        ("ckpt_path=RUN/checkpoints", "RUN/checkpoints: not a file (a checkpoint is a .ckpt file)"),
        ("run_dir=RUN/metrics.json", "run_dir: RUN/metrics.json: not a directory"),
    ],
    ids=["loose", "missing", "folder", "file-as-run"],
)
def test_a_checkpoint_outside_a_run_is_named_not_the_folder_it_was_looked_for_in(
    trained, tmp_path, given, expected
):
    """A checkpoint given alone finds its run two folders up: it named that folder (`.`,
    `no .hydra/config.yaml`), not the checkpoint or what was wrong with it."""
    run_dir, root = trained
    (tmp_path / "kept").mkdir()
    shutil.copy(run_dir / "checkpoints" / "best.ckpt", tmp_path / "kept" / "loose.ckpt")
    fill = {"TMP": str(tmp_path), "RUN": str(run_dir)}
    for name, path in fill.items():
        given, expected = given.replace(name, path), expected.replace(name, path)
    for prog in ("lstm-eval", "lstm-predict"):
        proc = run(given, cwd=root, prog=prog)
        assert proc.returncode == 2
        assert proc.stderr.strip() == f"{prog}: error: {expected}"


def read_forecast(path) -> np.ndarray:
    assert path.read_text().splitlines()[0] == "step,forecast"
    table = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    np.testing.assert_array_equal(table[:, 0], np.arange(1, len(table) + 1))
    return table[:, 1]


def test_predict_continues_the_runs_own_series_and_a_given_file(trained, tmp_path):
    run_dir, root = trained
    proc = cli(f"run_dir={run_dir}", "steps=7", cwd=root, prog="lstm-predict")
    assert proc.returncode == 0, proc.stderr[-2000:]
    own = read_forecast(run_dir / "forecast.csv")
    assert len(own) == 7

    from lstm_lab.evaluation.forecast import network_forecaster
    from lstm_lab.records.restore import restore

    restored = restore(str(run_dir), None)
    series = restored.series[:, 0]
    # The first forecast is the network's one-step prediction from the last window.
    window = (series[-10:] - restored.series[:210, 0].mean()) / restored.series[:210, 0].std()
    first = network_forecaster(restored.net)(window[None, :, None].astype(np.float32))[0, 0]
    first = first * restored.series[:210, 0].std() + restored.series[:210, 0].mean()
    assert own[0] == pytest.approx(first, rel=1e-4, abs=1e-5)

    # The same series from a CSV (with a header) and from .npy gives the same forecast.
    csv, npy = tmp_path / "series.csv", tmp_path / "series.npy"
    csv.write_text("value\n" + "\n".join(f"{v:.9g}" for v in series) + "\n")
    np.save(npy, series)
    for source in (csv, npy):
        out = tmp_path / f"{source.suffix[1:]}.csv"
        proc = run(
            f"run_dir={run_dir}", "steps=7", f"input={source}", f"output={out}",
            cwd=root, prog="lstm-predict",
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-2000:]
        np.testing.assert_allclose(read_forecast(out), own, rtol=1e-5, atol=1e-6)

    # A different series gets a different forecast.
    np.save(npy, series[:-20])
    proc = run(f"run_dir={run_dir}", "steps=7", f"input={npy}", f"output={out}", cwd=root,
               prog="lstm-predict")  # fmt: skip
    assert proc.returncode == 0 and not np.allclose(read_forecast(out), own)


FOLDER, DEVICE = object(), object()  # lstm-predict inputs that exist but are no file


@pytest.mark.parametrize(
    "content,expected",
    [
        (None, "input: {path}: no such file"),
        ("1,2\n3,4\n" * 10, "input: {path}: has 2 columns; the model reads 1"),
        ("1\n2\n3\n", "input: 3 values are fewer than one window (10)"),
        ("a,b\nc,d\n", "input: {path}: not a numeric .csv or .npy series"),
        # refused as the training CSV reader refuses them (1e39 became inf in float32)
        ("1\n" * 10 + "-1e15\n", "input: {path}: holds values up to 1e+15; lstm-lab runs in"),
        ("1\n" * 10 + "1e39\n", "input: {path}: holds values up to 1e+39;"),
        # paths that exist but are no file were refused as 'no such file'
        (FOLDER, "input: {path}: is a folder; give a .csv or .npy file"),
        (DEVICE, "input: {path}: not a regular file (a device, a pipe); give a .csv or .npy"),
    ],
)
def test_bad_predict_inputs_are_one_line(trained, tmp_path, content, expected):
    run_dir, root = trained
    path = Path("/dev/null") if content is DEVICE else tmp_path / "in.csv"
    if content is FOLDER:
        path.mkdir()
    elif content is not None and content is not DEVICE:
        path.write_text(content)
    out = tmp_path / "out.csv"
    proc = run(f"run_dir={run_dir}", f"input={path}", f"output={out}", cwd=root,
               prog="lstm-predict")  # fmt: skip
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1
    assert proc.stderr.startswith(f"lstm-predict: error: {expected.format(path=path)}")
    assert not out.exists()


@pytest.mark.parametrize(
    "output,expected",
    [
        (".", "output: {out}: is a folder; give a file: <folder>/forecast.csv"),
        ("afile/forecast.csv", "output: {out}: {tmp}/afile is a file, not a folder"),
        ("x" * 300 + ".csv", "output: {out}: cannot be written (File name too long)"),
    ],
)
def test_bad_predict_outputs_are_one_line(trained, tmp_path, output, expected):
    run_dir, root = trained
    (tmp_path / "afile").write_text("")
    out = tmp_path / output
    proc = run(f"run_dir={run_dir}", f"output={out}", cwd=root, prog="lstm-predict")
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"lstm-predict: error: {expected.format(out=out, tmp=tmp_path)}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]  # no temporary file left


def test_predict_refuses_more_steps_than_memory_holds(trained, tmp_path):
    run_dir, root = trained
    out = tmp_path / "out.csv"
    proc = run(f"run_dir={run_dir}", "steps=1000000000000000", f"output={out}", cwd=root,
               prog="lstm-predict")  # fmt: skip
    assert proc.returncode == 2
    line = proc.stderr.strip()
    assert line.startswith("lstm-predict: error: steps: got 1000000000000000; its forecast needs ")
    assert line.endswith("of RAM available; lower steps") and "\n" not in line
    assert not list(tmp_path.iterdir())


def test_eval_of_a_copied_run_directory(trained, tmp_path):
    """The run directory may move: nothing in it depends on where it was made."""
    run_dir, _ = trained
    moved = tmp_path / "moved"
    shutil.copytree(run_dir, moved, ignore=shutil.ignore_patterns("eval", "events.out.*"))
    proc = run(f"run_dir={moved}", "evaluation.rollout_steps=0", cwd=tmp_path, prog="lstm-eval")
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads((moved / "eval" / "best" / "evaluation.json").read_text())
    assert result["forecast"]["rollout"] is None
    assert list(moved.glob("events.out.tfevents.*"))  # the eval images, in the moved run


@pytest.mark.parametrize("prog", ["lstm-eval", "lstm-predict"])
def test_a_sweep_jobs_directory_is_named_quoted_and_refused_unquoted(trained, tmp_path, prog):
    """A sweep job's directory holds `=` and `,`: typed bare, Hydra's grammar refuses it, in one
    line giving the quoted form; quoted, it works."""
    job = tmp_path / "hidden_size=8,num_layers=1"
    shutil.copytree(trained[0], job, ignore=shutil.ignore_patterns("eval", "events.out.*"))
    proc = run(f"run_dir={job}", "threads=1", cwd=tmp_path, prog=prog)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        f"{prog}: error: run_dir: got '{job}', which Hydra's override grammar cannot read "
        f"(mismatched input '=' expecting <EOF>); quote it: \"run_dir='{job}'\""
    )
    proc = run(f"run_dir='{job}'", "threads=1", cwd=tmp_path, prog=prog)
    assert proc.returncode == 0, proc.stderr[-2000:]


@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM"])
def test_a_signal_during_lstm_eval_lets_the_evaluation_finish_first(
    trained, tmp_path, monkeypatch, name
):
    import os
    import signal
    import time

    import lstm_lab.evaluation.run_report as run_report

    run_dir = copy_run(trained[0], tmp_path / "run")
    signum = getattr(signal, name)
    real = run_report.window_report

    def signalled(*args, **kwargs):  # the signal arrives as the evaluation starts
        os.kill(os.getpid(), signum)
        time.sleep(0.05)  # (the handler runs at the next bytecode)
        return real(*args, **kwargs)

    monkeypatch.setattr(run_report, "window_report", signalled)
    proc = run(f"run_dir={run_dir}", cwd=tmp_path, prog="lstm-eval")
    out = run_dir / "eval" / "best"
    how = "Ctrl-C" if name == "SIGINT" else "SIGTERM"
    assert proc.returncode == 128 + signum, proc.stderr[-2000:]
    assert "Interrupted: finishing the evaluation first" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        f"lstm-eval: error: interrupted by {how}; the evaluation was finished first: "
        f"{out / 'evaluation.json'}"
    )
    # everything the evaluation writes is there, whole
    assert json.loads((out / "evaluation.json").read_text())["test"]["mse"] > 0
    assert sorted(p.name for p in (out / "plots").iterdir()) == sorted(
        f"test_{figure}.png" for figure in FIGURES
    )
    assert {f"eval/best/{figure}" for figure in FIGURES} <= image_tags(run_dir)
