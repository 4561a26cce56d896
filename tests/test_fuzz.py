"""Generated bad inputs, run through lstm-train's entry point in this process: bad values for
every schema key, broken YAML config files, broken CSV files, truncated and foreign checkpoints.

Each input must end either in exit status 2 with one line on stderr (`lstm-train: error: ...`),
no traceback and no run directory, or in a finished run (status completed in metrics.json), or,
for a valid setting that makes the loss diverge, in the NaN stop (exit 1, its line, status failed).

Budget: 26 inputs in all (`fuzz(n)` on each test: 6 values, 12 config files, 4 CSV files,
4 checkpoints), `derandomize=True` (the same inputs on every machine and in CI, no example
database), no deadline. Each input composes the config (about 0.7 s of CPU, Hydra's composition;
a broken config file is refused before it, in milliseconds); a run an input lets through is cut
to two training steps. About 12 s of CPU for the file, measured with
`.venv-dev/bin/python -m pytest -n 0 tests/test_fuzz.py`.
"""

from __future__ import annotations

import io
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import QUICK, read_metrics, run, run_dirs


def fuzz(examples: int):
    """A fixed budget: `examples` inputs, the same ones on every run (no example database)."""
    return settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )


# However the generated input sets epochs and sizes, a run it lets through stops after two
# steps of one batch, with one validation batch, and tests one batch.
SHORT = [
    *QUICK,
    "+trainer.max_steps=2",
    "+trainer.limit_train_batches=2",
    "+trainer.limit_val_batches=1",
    "+trainer.limit_test_batches=1",
]


def ends_cleanly(proc, root: Path) -> None:
    """A finished run, or one line and exit 2 with nothing left behind."""
    output = proc.stdout + proc.stderr
    assert "Traceback" not in output, output[-3000:]
    if proc.returncode == 0:
        (run_dir,) = run_dirs(root)
        assert read_metrics(run_dir)["status"] == "completed"
        shutil.rmtree(run_dir)
        return
    lines = proc.stderr.strip().splitlines()
    if proc.returncode == 1:  # a valid setting that diverges (optimizer.lr=1e17): the NaN stop
        assert len(lines) == 1 and "training stopped: loss became nan" in lines[0], output
        (run_dir,) = run_dirs(root)
        assert read_metrics(run_dir)["status"] == "failed"
        shutil.rmtree(run_dir)
        return
    assert proc.returncode == 2, output[-3000:]
    assert len(lines) == 1 and lines[0].startswith("lstm-train: error: "), proc.stderr
    assert not run_dirs(root), "a refused input must leave no run directory"


def schema_keys() -> list[str]:
    """Every key the schema states (lstm-train's sections and the built-in networks')."""
    from lstm_lab.config.keyspec import describe_keys
    from lstm_lab.config.schema import NETWORKS, SECTIONS

    keys = [row[0] for prefix, kind in SECTIONS.items() for row in describe_keys(prefix, kind)]
    keys += [row[0] for row in describe_keys("model", NETWORKS)]
    # resume/ckpt_path name files (their own tests below); _target_ keys name code to import;
    # callbacks.*.monitor stands for every callback's (tests/test_schema.py sets it on one)
    skip = ("resume", "ckpt_path", "task_name")
    return sorted(k for k in set(keys) if k not in skip and "*" not in k)


BAD_WORDS = ["", "null", "nan", "-nan", "inf", "-inf", "1e308", "-1", "0", "[]", "{}", "abc"]
VALUES = st.one_of(
    st.sampled_from(BAD_WORDS),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=8),
)


@fuzz(6)
@given(key=st.sampled_from(schema_keys()), value=VALUES)
def test_bad_values_of_every_key(key, value):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ends_cleanly(run(*SHORT, f"{key}={value}", cwd=root), root)


YAML_FRAGMENTS = st.sampled_from(
    ["model:", "  hidden_size: 8", "- a", "  - b", "[", "]", "{x: 1", ": :", "'", '"', "\t",
     "${oops}", "defaults:", "  - /model: nope", "data: {window: 0}", "&a *b", "!!python/none"]
)  # fmt: skip


@fuzz(12)  # refused before Hydra starts: milliseconds each
@given(
    content=st.one_of(
        st.lists(YAML_FRAGMENTS, max_size=6).map(lambda ls: "\n".join(ls).encode()),
        st.binary(max_size=24),
    )
)
def test_broken_config_files(content):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "cfg" / "experiment").mkdir(parents=True)
        (root / "cfg" / "experiment" / "x.yaml").write_bytes(content)
        ends_cleanly(run("--config-dir", "cfg", "+experiment=x", *SHORT, cwd=root), root)


CELLS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-5, 5).map(str),
    st.sampled_from(["", "x", "NA", '"', "1,5"]),
)


@fuzz(4)
@given(
    header=st.sampled_from(["y", "t,y", "y,y", "", "x"]),
    rows=st.lists(st.lists(CELLS, min_size=1, max_size=3), max_size=40),
)
def test_broken_csv_files(header, rows):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        lines = [header, *(",".join(row) for row in rows)]
        (root / "f.csv").write_text("\n".join(lines) + "\n")
        csv = ["data=csv", "data.series.path=f.csv", "data.series.target=y"]
        ends_cleanly(run(*csv, *SHORT, cwd=root), root)


PLAIN = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


def checkpoint_bytes() -> bytes:
    """A small checkpoint with every part of a training state."""
    import torch

    buffer = io.BytesIO()
    state = {"optimizer_states": [], "loops": {}, "epoch": 0, "global_step": 0}
    torch.save({"state_dict": {"net.w": torch.zeros(3)}, **state}, buffer)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def real_checkpoint() -> bytes:
    return checkpoint_bytes()


@fuzz(4)
@given(data=st.data())
def test_truncated_and_foreign_checkpoints(real_checkpoint, data):
    import torch

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if data.draw(st.booleans(), label="truncated"):
            cut = data.draw(st.integers(0, len(real_checkpoint) - 1), label="cut at")
            (root / "c.ckpt").write_bytes(real_checkpoint[:cut])
        else:
            torch.save(data.draw(PLAIN, label="foreign object"), root / "c.ckpt")
        ends_cleanly(run(*SHORT, "ckpt_path=c.ckpt", cwd=root), root)
