"""The warm server (lstm-warm): commands handed to it run as they run cold (files, exit status,
errors, signals), and anything that would make a forked run differ from a cold one runs cold.

One server for the file (its start costs the imports once, a few seconds); the test that makes
it stale runs last. Every command here is a real subprocess, as a user types it.
"""

from __future__ import annotations

import json
import os
import re
import resource
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from helpers import BIN, QUICK, _env, cli, read_metrics, run_dirs, sweep_dirs
from lstm_lab import records
from lstm_lab.records.report import count_age_from, process_age_s
from lstm_lab.warm import wire

ONE_EPOCH = [*(o for o in QUICK if not o.startswith("trainer.max_epochs")), "trainer.max_epochs=1"]


README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
# README's lstm-warm commands, by subcommand: the tests below run each of them as written
LSTM_WARM = {}
for block in re.findall(r"```bash\n(.*?)```", README, flags=re.S):
    for line in block.splitlines():
        if line.startswith("lstm-warm "):
            args = shlex.split(line.split("#")[0])[1:]
            LSTM_WARM.setdefault(args[0], []).append(args)


def lstm_warm(args: list[str], env: dict) -> subprocess.CompletedProcess:
    return cli(*args, cwd=Path.cwd(), prog="lstm-warm", extra_env=env)


@pytest.fixture(scope="module")
def warm():
    """The environment (LSTM_LAB_WARM_DIR: a short path, as sockets need) of a server started
    by README's `lstm-warm start` commands (the second finds it running)."""
    assert sorted(LSTM_WARM) == ["start", "status", "stop"]
    directory = Path(tempfile.mkdtemp(prefix="lstm-warm-"))
    env = {wire.DIR: str(directory / "sock"), wire.OFF: "1"}
    first, *more = LSTM_WARM["start"]
    proc = lstm_warm(first, env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("lstm-warm: started server ")
    for args in more:
        proc = lstm_warm(args, env)
        assert proc.stdout.startswith("lstm-warm: already running: server "), proc.stdout
    yield env
    for args in LSTM_WARM["stop"]:
        assert lstm_warm(args, env).returncode == 0
    for log in (directory / "sock").glob("*.log"):
        print(log.read_text())  # the server's own errors, if any
    shutil.rmtree(directory, ignore_errors=True)


def served(env: dict) -> int:
    """How many runs the server has forked (README's status), or -1 when none is running."""
    (status,) = LSTM_WARM["status"]
    proc = lstm_warm(status, env)
    if proc.returncode != 0:
        assert proc.stdout.startswith("lstm-warm: no server for ")
        return -1
    return int(proc.stdout.split(": ")[2].split(" runs served")[0])


def test_a_run_forked_by_the_server_is_the_run_a_cold_start_makes(warm, tmp_path):
    before = served(warm)
    proc = cli(*ONE_EPOCH, cwd=tmp_path, extra_env=warm)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert served(warm) == before + 1, "it did not run in the server"
    (run_dir,) = run_dirs(tmp_path)
    metrics = read_metrics(run_dir)
    assert metrics["status"] == "completed" and metrics["epochs"] == 1
    assert metrics["time_to_first_step_s"] > 0 and metrics["phases_s"]["startup"] > 0
    assert f"Run directory: {run_dir}" in proc.stdout
    assert (run_dir / "checkpoints" / "best.ckpt").is_file()

    # a config error: the cold line and status, nothing written
    proc = cli("model.hidden_size=0", cwd=tmp_path, extra_env=warm)
    assert (proc.returncode, proc.stderr) == (
        2,
        "lstm-train: error: model.hidden_size: got 0; must be an integer >= 1\n",
    )
    proc = cli(f"run_dir={run_dir}", cwd=tmp_path, prog="lstm-eval", extra_env=warm)
    assert proc.returncode == 0, proc.stderr[-3000:]
    evaluation = json.loads((run_dir / "eval" / "best" / "evaluation.json").read_text())
    assert evaluation["test"]["mse"] == pytest.approx(metrics["test"]["mse"], rel=1e-4)
    proc = cli(f"run_dir={run_dir}", "steps=5", cwd=tmp_path, prog="lstm-predict", extra_env=warm)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len((run_dir / "forecast.csv").read_text().splitlines()) == 1 + 5
    proc = cli(
        str(tmp_path / "outputs" / "runs"), cwd=tmp_path, prog="lstm-compare", extra_env=warm
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert run_dir.name in proc.stdout
    assert served(warm) == before + 5
    assert run_dirs(tmp_path) == [run_dir]


def long_run(env: dict, cwd: Path) -> subprocess.Popen:
    """A long run through the server, once its first epoch is saved. Its client has a process
    group of its own, whose parent (this process) is in another group of the same session: the
    kernel discards a stop signal (Ctrl-Z) to an orphaned group, as pytest's is when started in
    the background by a shell that has since exited."""
    client = subprocess.Popen(
        [str(BIN / "lstm-train"), *QUICK, "trainer.max_epochs=200"],
        cwd=cwd,
        env=_env(env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        process_group=0,
    )
    deadline = time.monotonic() + 120
    while not list(cwd.glob("outputs/runs/*/checkpoints/last.ckpt")):
        assert client.poll() is None and time.monotonic() < deadline, "no epoch ended"
        time.sleep(0.05)
    return client


def stop_with(signum: int, env: dict, cwd: Path) -> tuple[int, str, Path]:
    """A long run through the server, signalled at its client once an epoch is saved."""
    client = long_run(env, cwd)
    client.send_signal(signum)
    _, err = client.communicate(timeout=120)
    (run_dir,) = run_dirs(cwd)
    return client.returncode, err, run_dir


@pytest.mark.slow
@pytest.mark.parametrize(
    "signum,status,how",
    # (SIGTERM: after Ctrl-Z and fg, below)
    [(signal.SIGINT, 130, "Ctrl-C"), (signal.SIGKILL, -9, "")],
)
def test_a_signal_to_the_client_stops_the_warm_run_as_it_stops_a_cold_one(
    warm, tmp_path, signum, status, how
):
    code, err, run_dir = stop_with(signum, warm, tmp_path)
    assert code == status, err[-3000:]
    if signum == signal.SIGKILL:  # the client died: the server stops its run (as SIGTERM)
        deadline = time.monotonic() + 60
        while not (run_dir / "metrics.json").is_file() and time.monotonic() < deadline:
            time.sleep(0.1)
        how = "SIGTERM"
    else:
        last = err.strip().splitlines()[-1]
        assert last.startswith(f"lstm-train: error: interrupted by {how} at epoch ")
        assert "Traceback" not in err
    metrics = read_metrics(run_dir)
    assert metrics["status"] == "interrupted" and how in metrics["reason"]
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    if signum == signal.SIGKILL:  # README's next step, through the server as well
        before = served(warm)
        proc = cli(f"resume={run_dir}", cwd=tmp_path, extra_env=warm)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert served(warm) == before + 1, "it did not run in the server"
        metrics = read_metrics(run_dir)
        assert (metrics["status"], metrics["epochs"]) == ("completed", 200)
        assert run_dirs(tmp_path) == [run_dir]


@pytest.mark.parametrize("launcher", [[], ["launcher=joblib", "hydra.launcher.n_jobs=2"]])
def test_a_sweep_runs_in_the_server(warm, tmp_path, launcher):
    before = served(warm)
    proc = cli("-m", *QUICK, *launcher, "model.hidden_size=4,8", cwd=tmp_path, extra_env=warm)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert served(warm) == before + 1, "it did not run in the server"
    (sweep,) = sweep_dirs(tmp_path)
    jobs = sorted(p.name for p in sweep.iterdir() if (p / "metrics.json").is_file())
    assert jobs == ["hidden_size=4", "hidden_size=8"]
    assert all(read_metrics(sweep / job)["status"] == "completed" for job in jobs)


def state(pid: int) -> str:
    """A process's state letter (T: stopped), from /proc."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.parametrize("then", ["fg", "kill -9"])
def test_ctrl_z_stops_the_warm_run_fg_continues_it_and_sigterm_stops_it(
    warm, tmp_path, monkeypatch, then
):
    """Ctrl-Z, then `fg` and SIGTERM; or, stopped, the command killed (SIGKILL): its run,
    stopped too, is still ended as on SIGTERM, with a checkpoint, and leaves no process."""
    from lstm_lab.cli.warm import ask

    monkeypatch.setenv(wire.DIR, warm[wire.DIR])
    client = long_run(warm, tmp_path)
    (run,) = ask({"status": True})["runs"]
    client.send_signal(signal.SIGTSTP)
    wait_for(lambda: state(client.pid) == "T" and state(run) == "T", "Ctrl-Z stopped nothing")
    if then == "kill -9":
        client.kill()
        client.communicate(timeout=120)
        wait_for(lambda: not Path(f"/proc/{run}").exists() or state(run) == "Z", "run left")
        (run_dir,) = run_dirs(tmp_path)
        metrics = read_metrics(run_dir)
        assert metrics["status"] == "interrupted" and "SIGTERM" in metrics["reason"]
        assert (run_dir / "checkpoints" / "last.ckpt").is_file()
        return
    client.send_signal(signal.SIGCONT)
    wait_for(lambda: state(client.pid) != "T" and state(run) != "T", "fg continued nothing")
    client.send_signal(signal.SIGTERM)
    _, err = client.communicate(timeout=120)
    assert client.returncode == 143, err[-3000:]
    assert err.strip().splitlines()[-1].startswith("lstm-train: error: interrupted by SIGTERM at ")
    (run_dir,) = run_dirs(tmp_path)
    metrics = read_metrics(run_dir)
    assert metrics["status"] == "interrupted" and "SIGTERM" in metrics["reason"]


def test_what_would_make_a_forked_run_differ_runs_cold(warm, tmp_path):
    before = served(warm)
    error = "lstm-train: error: model.hidden_size: got 0; must be an integer >= 1"
    proc = cli("model.hidden_size=0", cwd=tmp_path, extra_env={**warm, "OMP_NUM_THREADS": "3"})
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "lstm-train: warm server not used: OMP_NUM_THREADS differ from the server's (it "
        "imported under its own); running cold",
        error,
    ]
    proc = cli("model.hidden_size=0", cwd=tmp_path, extra_env={**warm, wire.OFF: "0"})
    assert (proc.returncode, proc.stderr.strip()) == (2, error)
    files = resource.getrlimit(resource.RLIMIT_NOFILE)[0] // 2  # `ulimit -n`, lower
    command = f"ulimit -Sn {files} && exec {BIN / 'lstm-train'} model.hidden_size=0"
    proc = subprocess.run(
        ["bash", "-c", command], cwd=tmp_path, env=_env(warm), capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("lstm-train: warm server not used: its resource limits (")
    assert "RLIMIT_NOFILE" in proc.stderr.splitlines()[0]
    assert served(warm) == before


def test_stale_code_stops_the_server(tmp_path):
    """A server of its own, on a copy of the package (PYTHONPATH): a change to a module of the
    checkout itself would stop the servers other tests use on the other xdist workers."""
    source = Path(records.__file__).parents[1]  # src/lstm_lab
    checkout = tmp_path / "checkout"
    shutil.copytree(
        source, checkout / "src" / "lstm_lab", ignore=shutil.ignore_patterns("__pycache__")
    )
    for name in ("configs", "data"):
        (checkout / name).symlink_to(source.parents[1] / name)
    directory = Path(tempfile.mkdtemp(prefix="lstm-warm-"))
    env = {wire.DIR: str(directory / "sock"), wire.OFF: "1", "PYTHONPATH": str(checkout / "src")}
    (start, *_), (stop,) = LSTM_WARM["start"], LSTM_WARM["stop"]
    try:
        proc = lstm_warm(start, env)
        assert proc.stdout.startswith("lstm-warm: started server "), proc.stderr
        assert served(env) == 0
        module = checkout / "src" / "lstm_lab" / "records" / "__init__.py"  # any module
        stat = module.stat()
        os.utime(module, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
        proc = cli("model.hidden_size=0", cwd=tmp_path, extra_env=env)
        assert proc.returncode == 2
        assert "lstm-lab's code, Python or the installed packages changed" in proc.stderr
        assert served(env) == -1, "a stale server stopped"
        proc = lstm_warm(stop, env)
        assert (proc.returncode, proc.stdout.startswith("lstm-warm: no server for ")) == (0, True)
    finally:
        lstm_warm(stop, env)
        shutil.rmtree(directory, ignore_errors=True)


def test_an_age_counts_from_the_client_start_it_is_given():
    own = wire.process_start_s()
    assert own is not None and 0 <= process_age_s() < 10**6
    try:
        count_age_from(own - 100.0)
        assert process_age_s() >= 100.0
    finally:
        count_age_from(own)


def test_sockets_are_per_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(wire.DIR, str(tmp_path))
    here = wire.socket_path()
    monkeypatch.setattr("sys.prefix", str(tmp_path / "another-venv"))
    assert wire.socket_path() != here and wire.socket_path().parent == tmp_path
    assert wire.env_differences({"OMP_NUM_THREADS": "1", "HOME": "a"}, {"HOME": "b"}) == [
        "OMP_NUM_THREADS"
    ]


def documented_refusals() -> dict[str, str]:
    """docs/errors.md's lstm-warm table: command -> the line it prints."""
    text = (Path(__file__).resolve().parents[1] / "docs" / "errors.md").read_text()
    rows = re.findall(r"^\| `(lstm-warm [^`]+)` \| [^|]+ \| `(.+)` \|$", text, flags=re.M)
    return dict(rows)


def test_with_a_gpu_there_is_no_server(monkeypatch, capsys, tmp_path):
    from lstm_lab.cli import warm

    monkeypatch.setenv(wire.DIR, str(tmp_path))
    monkeypatch.setattr("lstm_lab.training.preload.can_fork", lambda: False)
    with pytest.raises(SystemExit) as stop:
        warm.serve(1.0)  # what `start` runs; it prints the line after "lstm-warm: error: "
    assert stop.value.code == 2
    line = capsys.readouterr().out.strip()
    assert f"lstm-warm: error: {line}" == documented_refusals()["lstm-warm start"]
    assert not list(tmp_path.iterdir()), "nothing was left behind"


def test_a_bad_idle_time_is_refused_as_documented(capsys):
    from lstm_lab.cli import warm

    command = "lstm-warm start --idle-minutes 0"
    with pytest.raises(SystemExit) as stop:
        warm.main(shlex.split(command)[1:])
    assert stop.value.code == 2
    assert capsys.readouterr().err.strip() == documented_refusals()[command]


def test_the_combination_table_names_the_tests_that_run_its_cells():
    table = (Path(__file__).resolve().parents[1] / "docs" / "combinations.md").read_text()
    section = table.split("\n## Under the warm server\n", 1)[1]
    rows = [line for line in section.splitlines() if line.startswith("| ")][1:]
    named = {name for row in rows for name in re.findall(r"`(test_\w+)`", row.split(" | ")[-1])}
    assert named and all(callable(globals().get(name)) for name in named), named
    assert all(row.split(" | ")[-1].strip(" |") for row in rows)


def test_one_server_an_environment_holds_the_lock(tmp_path):
    from lstm_lab.warm.server import take_lock

    first = take_lock(tmp_path / "warm.sock")
    assert first is not None and take_lock(tmp_path / "warm.sock") is None
    first.close()  # a server that stops (or dies) lets the next one start
    again = take_lock(tmp_path / "warm.sock")
    assert again is not None
    again.close()
