"""`threads: auto`: one thread for small models, more only where they pay and cores are free."""

from __future__ import annotations

import os

import pytest

from helpers import QUICK, cli, read_metrics, run_dirs
from lstm_lab.config import ConfigError, validate
from lstm_lab.training.threads import (
    WORK_PER_THREAD,
    choose_threads,
    idle_cores,
    shape_of,
    step_work,
)

DEFAULT = dict(hidden_size=32, num_layers=1, batch_size=16, window=10, n_features=1)
BIG = dict(hidden_size=512, num_layers=2, batch_size=1024, window=10, n_features=1)


def never_asked() -> int:
    raise AssertionError("a small model needs no sample of the free cores")


def test_a_small_model_gets_one_thread_without_sampling_the_cores():
    choice = choose_threads("auto", **DEFAULT, free_cores=never_asked)
    assert choice.threads == 1
    assert choice.why.startswith("auto: 1 (small model")


def test_a_big_model_gets_more_threads_when_cores_are_free():
    assert step_work(**BIG) >= 8 * WORK_PER_THREAD
    choice = choose_threads("auto", **BIG, free_cores=8)
    assert choice.threads == 8
    assert choice.why.startswith("auto: 8 (")


def test_busy_cores_mean_fewer_threads_never_none():
    assert choose_threads("auto", **BIG, free_cores=3).threads == 3
    busy = choose_threads("auto", **BIG, free_cores=0)
    assert busy.threads == 1
    assert "0 free cores" in busy.why


def test_threads_grow_with_the_work_not_the_cores():
    medium = dict(BIG, hidden_size=64, num_layers=1, batch_size=64)  # ~1 M multiply-adds
    assert choose_threads("auto", **medium, free_cores=64).threads == 1
    two = dict(medium, batch_size=int(2 * WORK_PER_THREAD / step_work(**medium) * 64) + 1)
    assert choose_threads("auto", **two, free_cores=64).threads == 2


def test_an_explicit_count_is_obeyed_and_null_is_torchs_default():
    assert choose_threads(3, **DEFAULT, free_cores=never_asked).threads == 3
    assert choose_threads(1, **BIG, free_cores=8).threads == 1
    assert choose_threads(None, **BIG, free_cores=8).threads is None


def test_idle_cores_stays_within_this_process_cores():
    assert 0 <= idle_cores(0.01) <= len(os.sched_getaffinity(0))


def test_shape_of_reads_window_and_stateful_configs(compose_train):
    window = shape_of(validate(compose_train()), 1000, 1)
    assert (window["batch_size"], window["window"]) == (16, 10)
    whole = shape_of(validate(compose_train("data.batch_size=null")), 1000, 1)
    assert whole["batch_size"] == 700
    stateful = shape_of(validate(compose_train("experiment=stateful")), 1000, 1)
    assert stateful["window"] == validate(compose_train("experiment=stateful"))["model"]["bptt"]


def test_a_network_of_the_users_is_sized_by_its_largest_weight_matrix(compose_train):
    plain = validate(compose_train())
    model = {k: plain["model"][k] for k in ("carry_state", "stateful", "bptt", "streams")}
    # test_memory.Wide: a (window x inputs -> hidden) layer and a (hidden -> horizon) one
    wide = {"_target_": "test_memory.Wide", "window": 10, "hidden": 100_000, "steps_per_call": 1}
    shape = shape_of({**plain, "model": {**model, **wide}}, 1000, 1)
    assert shape["per_sample"] == 10 * 100_000
    choice = choose_threads("auto", **shape, free_cores=2)
    assert choice.threads == 2  # 16 x 1 M multiply-adds: four threads would pay, two are free
    assert choice.why == "auto: 2 (16 M multiply-adds, 2 free cores)"


@pytest.mark.parametrize("value,expected", [("auto", "auto"), ("1", 1), ("4", 4), ("null", None)])
def test_valid_thread_settings(compose_train, value, expected):
    assert validate(compose_train(f"threads={value}"))["threads"] == expected


@pytest.mark.parametrize("value", ["0", "-2", "many", "1.5", "true"])
def test_bad_thread_settings_are_refused_in_one_line(compose_train, value):
    with pytest.raises(ConfigError) as info:
        validate(compose_train(f"threads={value}"))
    assert info.value.key == "threads"
    assert "must be auto, an integer >= 1, or null" in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.slow
def test_a_run_records_and_prints_its_thread_choice_and_phases(tmp_path):
    auto = [o for o in QUICK if not o.startswith("threads=")]
    proc = cli(*auto, "trainer.max_epochs=1", "model.hidden_size=8", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_dir,) = run_dirs(tmp_path)
    metrics = read_metrics(run_dir)
    assert metrics["threads"] == 1
    assert metrics["threads_choice"].startswith("auto: 1 (small model")
    assert "Threads:       1 (auto: 1 (small model" in proc.stdout
    phases = metrics["phases_s"]
    assert set(phases) == {"startup", "train", "test", "report"}
    assert all(v >= 0 for v in phases.values())
    assert phases["startup"] == pytest.approx(metrics["time_to_first_step_s"], abs=0.01)
