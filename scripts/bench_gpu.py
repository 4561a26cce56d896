"""GPU throughput: lstm-lab's `trainer=gpu` against a hand-written loop that keeps the data on
the GPU too, at 32-true and bf16-mixed precision. One command on a machine with a CUDA GPU:

    python scripts/bench_gpu.py                      # hidden 16, 100 and 256; about a minute
    python scripts/bench_gpu.py --hidden 100 --steps 2000 --repeats 5
    python scripts/bench_gpu.py --quick              # only checks that it runs

Both contenders train the same network on the same windows with the same optimizer for the
same number of steps, alternated, medians. The hand-written loop is what one writes for a GPU
when the data fits on it: the windows moved to the device once, a fresh permutation on the
device each epoch, batches sliced there, torch's default Adam, `torch.autocast` for bf16.
lstm-lab runs its usual Trainer (callbacks, checkpoints, validation, TensorBoard) with
`trainer=gpu trainer.precision=<precision>`. Prints a table and writes outputs/bench_gpu.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRECISIONS = ("32-true", "bf16-mixed")


def shuffled_batches(n: int, batch: int, device):
    """Index batches of a fresh permutation on `device` per epoch, for as long as asked."""
    import torch

    while True:
        order = torch.randperm(n, device=device)
        yield from (order[first : first + batch] for first in range(0, n, batch))


def hand_loop(x, y, hidden: int, batch: int, steps: int, lr: float, precision: str) -> float:
    """Seconds for `steps` optimizer steps of a hand-written on-device loop."""
    import torch

    from lstm_lab.models.lstm import LSTMRegressor

    torch.manual_seed(0)
    torch.cuda.synchronize()
    start = time.perf_counter()
    net = LSTMRegressor(x.shape[-1], hidden, 1, 0.0, y.shape[-1]).cuda()
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    bf16 = precision == "bf16-mixed"
    for idx in itertools.islice(shuffled_batches(len(x), batch, x.device), steps):
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
            loss = torch.nn.functional.mse_loss(net(x[idx]).float(), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    torch.cuda.synchronize()
    return time.perf_counter() - start


def measure(hidden: int, steps: int, repeats: int, precision: str, workdir: Path) -> dict:
    """Windows per second of both contenders at one hidden size and precision."""
    import torch

    sys.path.insert(0, str(Path(__file__).parent))
    from bench_profile import build

    extra = ["trainer=gpu", f"trainer.precision={precision}"]
    times: dict[str, list[float]] = {"project": [], "handwritten": []}
    for _ in range(repeats):
        dm, module, trainer = build(hidden, steps, workdir / f"h{hidden}", extra)
        x, y = (t.cuda() for t in dm.tensors["train"])
        lr = module.optimizer_factory.keywords["lr"]
        times["handwritten"].append(hand_loop(x, y, hidden, dm.batch_size, steps, lr, precision))
        torch.manual_seed(0)
        start = time.perf_counter()
        trainer.fit(module, datamodule=dm)
        torch.cuda.synchronize()
        times["project"].append(time.perf_counter() - start)
    rate = {k: steps * dm.batch_size / statistics.median(v) for k, v in times.items()}
    return {
        "hidden_size": hidden,
        "precision": precision,
        "steps": steps,
        "seconds": times,
        "windows_per_s": rate,
        "ratio": rate["project"] / rate["handwritten"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hidden", type=int, nargs="+", default=[16, 100, 256])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="tiny settings: checks it runs")
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "bench_gpu.json")
    args = parser.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print("bench_gpu: no CUDA GPU visible to torch; nothing to measure", file=sys.stderr)
        return 2
    if args.quick:
        args.hidden, args.steps, args.repeats = [8], 20, 1
    precisions = [p for p in PRECISIONS if p == "32-true" or torch.cuda.is_bf16_supported()]
    with tempfile.TemporaryDirectory() as tmp:
        results = [
            measure(h, args.steps, args.repeats, p, Path(tmp))
            for h in args.hidden
            for p in precisions
        ]
    device = torch.cuda.get_device_name()
    print(f"| {device}: hidden, precision | lstm-lab windows/s | hand loop windows/s | ratio |")
    print("|---|---|---|---|")
    for r in results:
        rate = r["windows_per_s"]
        print(
            f"| {r['hidden_size']}, {r['precision']} | {rate['project']:,.0f} "
            f"| {rate['handwritten']:,.0f} | {r['ratio']:.2f} |"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"device": device, "results": results}, indent=2) + "\n")
    print(f"Written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
