"""Files written whole: under a hidden temporary name in their own folder, renamed over their
name when complete (atomic on one filesystem). A reader never sees half a file, and a signal
or an error while one is written leaves the file before (or none) and no temporary file.
Standard library only: the metrics, plots, CSVs and checkpoints of every layer use it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def written_whole(path: str | os.PathLike[str]) -> Iterator[Path]:
    """The temporary path to write `path`'s file to, in its folder (created if missing);
    renamed to `path` once the block ends, removed if the block fails. Its name carries the
    process id, so two processes writing one file never share a temporary file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
