"""Where does a second torch thread start to pay for an LSTM training step on this machine?

Times one LSTM forward + backward + Adam step at 1 and at 2 threads over a grid of hidden and
batch sizes, alternating the two counts and taking medians, and prints the speed-up of 2
threads with the work measure that src/lstm_lab/training/threads.py decides by. Run it on a quiet
machine: another busy process makes the 2-thread figures pessimistic.

    python scripts/thread_threshold.py                       # the grid (about a minute)
    python scripts/thread_threshold.py --hidden 64 256 --batch 16 1024 --repeats 7
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from lstm_lab.training.threads import WORK_PER_THREAD, step_work


def step_seconds(hidden: int, batch: int, window: int, layers: int, threads: int, steps: int):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(1, hidden, layers, batch_first=True)
    head = torch.nn.Linear(hidden, 1)
    params = [*lstm.parameters(), *head.parameters()]
    opt = torch.optim.Adam(params, lr=1e-3)
    x, y = torch.randn(batch, window, 1), torch.randn(batch, 1)

    def step():
        out, _ = lstm(x)
        loss = torch.nn.functional.mse_loss(head(out[:, -1]), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    step()  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, nargs="+", default=[16, 32, 64, 128, 256])
    parser.add_argument("--batch", type=int, nargs="+", default=[16, 64, 256, 1024])
    parser.add_argument("--window", type=int, default=10)
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--budget", type=float, default=0.1, help="seconds per timing")
    args = parser.parse_args()

    print(
        f"{'hidden':>6} {'batch':>6} {'work':>10} {'1 thread ms':>12} {'2 threads ms':>13} "
        f"{'speed-up':>9}"
    )
    gains = []  # (work, speed-up) of every cell
    for hidden in args.hidden:
        for batch in args.batch:
            shape = (hidden, batch, args.window, args.layers)
            probe = step_seconds(*shape, 1, 2)
            steps = max(2, int(args.budget / max(probe, 1e-5)))
            times = {1: [], 2: []}
            for _ in range(args.repeats):
                for threads in (1, 2):
                    times[threads].append(step_seconds(*shape, threads, steps))
            one, two = (statistics.median(times[t]) for t in (1, 2))
            work = step_work(hidden, args.layers, batch, args.window, 1)
            gains.append((work, one / two))
            print(
                f"{hidden:>6} {batch:>6} {work:>10.3g} {one * 1e3:>12.3f} {two * 1e3:>13.3f} "
                f"{one / two:>9.2f}",
                flush=True,
            )
    # The line: the smallest work from which every larger cell gains at least 20 % with 2.
    paying = [w for w, _ in gains if all(g >= 1.2 for w2, g in gains if w2 >= w)]
    line = f"{min(paying):.3g}" if paying else "none in this grid (2 threads never paid)"
    print(f"2 threads pay from: {line}  (threads.WORK_PER_THREAD = {WORK_PER_THREAD:.3g})")


if __name__ == "__main__":
    main()
