"""How many torch threads a run uses: `threads: auto` chooses by the size of the work.

An LSTM step is a chain of small matrix products, one per time step and layer. torch splits
each product between its threads, and every product waits for the slowest of them; when one
of those threads shares a core with another busy process, each product waits for a scheduler
time slice, and a run that takes 15 s with one thread takes minutes with two. So `auto` gives
one thread unless the products are large enough for a second thread to pay, and never more
threads than the cores that are idle right now.

Measured with scripts/thread_threshold.py on the project's quiet 2-core machine (x86_64,
torch 2.13, see docs/benchmarks.md): a second thread gains nothing below about 1 M
multiply-adds per product (batch x 4 hidden x (hidden + inputs)), 25-40 % around 4 M and about
half from 8 M on. `auto` gives one thread per WORK_PER_THREAD (4 M), so a second from 8 M:
where a core that another process takes later (the idle cores are sampled once) would cost
far more than the second thread gains, small runs stay on one. The default run (hidden 32,
batch 16: 0.07 M) is far below it. Imports neither torch nor Lightning.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from lstm_lab.models.build import network_class, target_of

# Multiply-adds of one LSTM matrix product from which each extra thread pays (see above).
WORK_PER_THREAD = 4_000_000


@dataclass(frozen=True)
class Choice:
    threads: int | None  # None: torch's default
    why: str  # for the summary and metrics.json: "auto: 1 (small model: ...)"


def step_work(hidden_size: int, num_layers: int, batch_size: int, window: int, n_features: int):
    """Multiply-adds of the largest matrix product of an LSTM step: one time step of one layer,
    the whole batch, four gates. (The window multiplies how many there are, not their size.)"""
    del window  # more products of the same size: more waits, not more work per wait
    widest_input = n_features if num_layers == 1 else max(n_features, hidden_size)
    return batch_size * 4 * hidden_size * (hidden_size + widest_input)


def available_cores() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return list(range(os.cpu_count() or 1))


def idle_cores(sample_s: float = 0.1) -> int:
    """The cores of this process's affinity set that were idle during a short sample of
    /proc/stat (a core counts as busy from half its time used); all of them off Linux."""
    cores = available_cores()

    def read() -> dict[int, tuple[int, int]]:
        times = {}
        with open("/proc/stat") as stat:
            for line in stat:
                name, *fields = line.split()
                if name.startswith("cpu") and name != "cpu":
                    values = [int(v) for v in fields]
                    times[int(name[3:])] = (values[3] + values[4], sum(values))  # idle+iowait
        return times

    try:
        before = read()
        time.sleep(sample_s)
        after = read()
    except (OSError, ValueError):
        return len(cores)
    busy = 0
    for core in cores:
        if core in before and core in after:
            idle = after[core][0] - before[core][0]
            total = after[core][1] - before[core][1]
            busy += total > 0 and idle / total < 0.5
    return len(cores) - busy


def choose_threads(
    setting: int | str | None,
    *,
    hidden_size: int | None,
    num_layers: int | None,
    batch_size: int,
    window: int,
    n_features: int,
    free_cores: int | Callable[[], int] = idle_cores,
    per_sample: int | None = None,
) -> Choice:
    """The thread count for `setting`: an integer is obeyed, None is torch's default, and
    "auto" is one thread per WORK_PER_THREAD of `step_work` (or of `batch_size` x
    `per_sample`, where given), at most the free cores (a callable is asked only when more
    than one thread would pay), at least one."""
    if isinstance(setting, int):
        return Choice(setting, f"threads={setting}")
    if setting is None:
        return Choice(None, "torch's default (threads=null)")
    if per_sample is None:
        work = step_work(hidden_size, num_layers, batch_size, window, n_features)
    else:
        work = batch_size * per_sample
    worth = max(1, int(work // WORK_PER_THREAD))
    if worth == 1:
        return Choice(1, f"auto: 1 (small model: {work / 1e6:.2g} M multiply-adds per product)")
    free = free_cores() if callable(free_cores) else free_cores
    threads = max(1, min(worth, free))
    limit = f", {free} free core{'s' * (free != 1)}" if threads < worth else ""
    return Choice(threads, f"auto: {threads} ({work / 1e6:.3g} M multiply-adds{limit})")


def shape_of(plain: dict, n_points: int, n_features: int) -> dict[str, int | None]:
    """choose_threads' model and batch arguments from a run's plain config: a network that
    declares `size_key` (a recurrent stack, see RecurrentRegressor) by its hidden size and
    layers, any other by its largest weight matrix (built on the meta device)."""
    model, data = plain["model"], plain["data"]
    if model["stateful"]:
        batch, window = model["streams"], model["bptt"]
    else:
        # null batch size: the whole training split (about its share of the windows)
        batch = data["batch_size"] or max(1, int(n_points * data["split"]["train"]))
        window = data["window"]
    shape = {"batch_size": batch, "window": window, "n_features": n_features}
    if getattr(network_class(target_of(model)), "size_key", None):  # a recurrent stack's
        return {"hidden_size": model["hidden_size"], "num_layers": model["num_layers"], **shape}
    # a network of the user's: its largest product is the one with its largest weight matrix
    from lstm_lab.training.memory import built_network

    net = built_network(model, n_features, plain["data"]["horizon"])
    largest = max((p.numel() for p in net.parameters() if p.dim() > 1), default=0)
    return {"hidden_size": None, "num_layers": None, **shape, "per_sample": largest}


def set_threads(setting: int | str | None, shape: dict[str, int]) -> Choice:
    """Choose, and set torch's intra-op thread count (torch imported here, not above)."""
    choice = choose_threads(setting, **shape)
    if choice.threads is not None:
        import torch

        torch.set_num_threads(choice.threads)
    return choice
