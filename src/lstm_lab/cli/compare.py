"""lstm-compare DIR: the command line of records/comparison.py, which reads every run under DIR
and writes the table and the figures there."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lstm_lab.records.comparison import compare, find_runs
from lstm_lab.setting_error import SettingError

PROG = "lstm-compare"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Compare every run under DIR (a sweep, outputs/runs, ...): a table sorted "
        "by best val loss (Markdown, CSV and printed) and two figures, written into DIR.",
    )
    parser.add_argument("dir", type=Path, help="e.g. outputs/sweeps/<time> or outputs/runs")
    args = parser.parse_args(argv)
    root: Path = args.dir
    if not root.is_dir():
        parser.exit(2, f"{PROG}: error: {root}: no such directory\n")
    if not find_runs(root):
        parser.exit(
            2, f"{PROG}: error: {root}: no runs (directories with metrics.json or .hydra/)\n"
        )
    try:
        compare(root)
    except SettingError as error:  # a run's record that cannot be read: refused before writing
        parser.exit(2, f"{PROG}: error: {error}\n")


if __name__ == "__main__":
    main(sys.argv[1:])
