"""A series read from a CSV file: the target column first, then any feature columns.

Plain numpy and the standard library's csv module. Every problem with the file is a
`SeriesFileError` whose `key` names the argument at fault (path, target, features, time,
missing) and whose message names the file, the column and the line.
"""

from __future__ import annotations

import csv
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lstm_lab import RESOURCE_ROOT
from lstm_lab.data.windows import MAX_MAGNITUDE
from lstm_lab.setting_error import SettingError

MISSING_POLICIES = ("fail", "drop", "interpolate")
# Cells that mean "no value" (compared case-insensitively, after stripping blanks).
MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none"})


class SeriesFileError(SettingError):
    """A problem with the file or its columns; `key` is the argument at fault (path, target,
    ...), which pipeline.py places under `data.series`."""


@dataclass(frozen=True)
class Table:
    values: np.ndarray  # (T, F) float32; column 0 is the target
    columns: tuple[str, ...]
    time: np.ndarray | None  # (T,) increasing numbers or datetime64; None without a time column


def resolve(path: str | Path) -> Path:
    """A relative path is looked up in the working directory, then among the files bundled with
    lstm-lab (so `data/elnino/elnino.csv` is found from anywhere, installed or not)."""
    given = Path(path).expanduser()
    if given.is_absolute() or given.exists():
        return given
    bundled = RESOURCE_ROOT / given
    return bundled if bundled.exists() else given


def read_csv(
    path: str | Path,
    target: str,
    features: Sequence[str] = (),
    time: str | None = None,
    missing: str = "fail",
) -> Table:
    """Read `target` and `features` (in that order) as float columns, ordered by `time`.

    `missing` says what a blank or NA cell does: "fail" refuses the file, "drop" drops the
    rows that have one, "interpolate" fills it linearly in time (the row number without a
    time column); a gap at either end takes the nearest value. The time column, when given,
    must hold numbers or ISO dates (not both) in increasing order.
    """
    if missing not in MISSING_POLICIES:
        raise SeriesFileError(
            "missing", f"got {missing!r}; must be one of {', '.join(MISSING_POLICIES)}"
        )
    columns = [target, *(f for f in features if f != target)]
    twice = sorted({name for name in columns if columns.count(name) > 1})
    if twice:
        raise SeriesFileError("features", f"lists {', '.join(map(repr, twice))} more than once")
    if time is not None and time in columns:
        raise SeriesFileError("time", f"'{time}' is also a value column; the time is not an input")
    header, lines, rows = _read_rows(path)
    for key, names in (("target", [target]), ("features", columns[1:]), ("time", [time])):
        for name in names:
            if name is not None and name not in header:
                listed = ", ".join(header)
                raise SeriesFileError(
                    key, f"{path}: no column '{name}' (columns: {listed}){_separator(header)}"
                )
            if name is not None and header.count(name) > 1:  # which one is meant?
                raise SeriesFileError(
                    key, f"{path}: the header has {header.count(name)} columns named '{name}'"
                )
    if not rows:
        raise SeriesFileError("path", f"{path}: no data rows below the header")

    keys = {target: "target", **{name: "features" for name in columns[1:]}}
    values = np.stack(
        [
            _numbers(path, name, keys[name], lines, [r[header.index(name)] for r in rows])
            for name in columns
        ],
        axis=1,
    )
    stamps = None
    if time is not None:
        cells = [r[header.index(time)].strip() for r in rows]
        stamps = _times(path, time, lines, cells)
        keep = _rows_with_time(path, missing, stamps, lines)
        values, stamps = values[keep], stamps[keep]
        lines, cells = _kept(lines, keep), _kept(cells, keep)
        _check_order(path, time, lines, cells, stamps)
    values, stamps, lines = _fill(path, columns, missing, values, stamps, lines)
    if not len(values):
        raise SeriesFileError("missing", f"{path}: no rows left after dropping those with gaps")
    return Table(values.astype(np.float32), tuple(columns), stamps)


def csv_series(
    path: str,
    target: str,
    features: Sequence[str] = (),
    time: str | None = None,
    missing: str = "fail",
) -> np.ndarray:
    """The (T, F) series of a CSV file, target first: a series source like `sine_series`."""
    return read_csv(path, target, features, time, missing).values


def time_axis(series: Mapping) -> np.ndarray | None:
    """The time of each step of a configured series, when it comes from a CSV time column."""
    if not str(series.get("_target_", "")).endswith("csv_series") or not series.get("time"):
        return None
    return read_csv(**{k: v for k, v in series.items() if k != "_target_"}).time


def _read_rows(path: str | Path) -> tuple[list[str], list[int], list[list[str]]]:
    file = resolve(path)
    try:
        with file.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            found = [(reader.line_num, row) for row in reader if any(c.strip() for c in row)]
    except FileNotFoundError:
        raise SeriesFileError("path", f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise SeriesFileError("path", f"{path}: cannot read it as CSV ({error})") from None
    if not found:
        raise SeriesFileError("path", f"{path}: empty file; expected a header row, then data")
    header = [name.strip() for name in found[0][1]]
    for line, row in found[1:]:
        if len(row) != len(header):
            raise SeriesFileError(
                "path", f"{path}: line {line} has {len(row)} fields, the header has {len(header)}"
            )
    return header, [line for line, _ in found[1:]], [row for _, row in found[1:]]


def _separator(header: list[str]) -> str:
    """A word for a header read as one column that another separator would have split."""
    if len(header) != 1:
        return ""
    found = [sep for sep in (";", "\t", "|") if sep in header[0]]
    if not found:
        return ""
    return f"; lstm-lab reads columns separated by commas, and this header has {found[0]!r}"


def _is_missing(cell: str) -> bool:
    return cell.strip().lower() in MISSING_TOKENS


def _numbers(path, name: str, key: str, lines: list[int], cells: list[str]) -> np.ndarray:
    out = np.full(len(cells), np.nan)
    for i, cell in enumerate(cells):
        if _is_missing(cell):
            continue
        try:
            out[i] = float(cell)
        except ValueError:
            out[i] = np.inf
        if not np.isfinite(out[i]):
            raise SeriesFileError(
                key, f"{path}: column '{name}', line {lines[i]}: {cell.strip()!r} is not a number"
            )
        if abs(out[i]) >= MAX_MAGNITUDE:
            raise SeriesFileError(
                key,
                f"{path}: column '{name}', line {lines[i]}: {cell.strip()!r} is too large; "
                f"lstm-lab trains in float32 and needs values below {MAX_MAGNITUDE:g} in size: "
                "rescale the column",
            )
    return out


def _times(path, name: str, lines: list[int], cells: list[str]) -> np.ndarray:
    """Numbers if every present cell is one, else ISO dates (a number among them is refused);
    NaT / NaN where a cell is missing."""
    present = [(i, c.strip()) for i, c in enumerate(cells) if not _is_missing(c)]
    try:
        numbers = np.full(len(cells), np.nan)
        for i, cell in present:
            numbers[i] = float(cell)
    except ValueError:
        pass
    else:
        for i, cell in present:
            if not np.isfinite(numbers[i]):  # inf passed the order check, inf twice as well
                raise SeriesFileError(
                    "time",
                    f"{path}: column '{name}', line {lines[i]}: {cell!r} is not a finite time",
                )
        return numbers
    # microseconds: stamps a fraction of a second apart stay apart (whole seconds cut them to one)
    stamps = np.full(len(cells), np.datetime64("NaT"), dtype="datetime64[us]")
    dates = [(i, cell) for i, cell in present if not _is_number(cell)]
    for i, cell in present:
        if _is_number(cell):  # numpy would read 1 as the year 0001
            raise SeriesFileError(
                "time",
                f"{path}: column '{name}' mixes numbers and dates: line {lines[i]} has the "
                f"number {cell!r}, line {lines[dates[0][0]]} the date {dates[0][1]!r}; "
                "use one kind for the whole column",
            )
        try:
            with warnings.catch_warnings():  # a zone (Z, +02:00) is taken as UTC, said per cell
                warnings.filterwarnings("ignore", "no explicit representation of timezones")
                stamps[i] = np.datetime64(cell)
        except ValueError:
            raise SeriesFileError(
                "time",
                f"{path}: column '{name}', line {lines[i]}: {cell!r} is neither a number "
                "nor an ISO date (YYYY-MM-DD, YYYY-MM or YYYY-MM-DDTHH:MM)",
            ) from None
    return stamps


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _as_float(stamps: np.ndarray) -> np.ndarray:
    return stamps.astype("float64") if stamps.dtype.kind == "M" else stamps


def _kept(items: list, keep: np.ndarray) -> list:
    return [item for item, k in zip(items, keep, strict=True) if k]


def _rows_with_time(path, missing: str, stamps: np.ndarray, lines: list[int]) -> np.ndarray:
    gone = np.isnat(stamps) if stamps.dtype.kind == "M" else np.isnan(stamps)
    if gone.any() and missing != "drop":
        line = lines[int(np.argmax(gone))]
        raise SeriesFileError(
            "time", f"{path}: line {line} has no time; only missing=drop can skip such rows"
        )
    return ~gone


def _fill(path, columns, missing, values, stamps, lines):
    """Apply the missing-value policy to the value columns (the times are complete by now)."""
    gaps = np.isnan(values)
    if not gaps.any():
        return values, stamps, lines
    if missing == "drop":
        keep = ~gaps.any(axis=1)
        kept = None if stamps is None else stamps[keep]
        return values[keep], kept, _kept(lines, keep)
    if missing == "fail":
        row, col = np.argwhere(gaps)[0]
        raise SeriesFileError(
            "target" if col == 0 else "features",
            f"{path}: column '{columns[col]}', line {lines[row]} is missing a value; "
            "missing=drop or missing=interpolate accepts gaps",
        )
    where = np.arange(len(values), dtype=float) if stamps is None else _as_float(stamps)
    filled = values.copy()
    for col in range(values.shape[1]):
        known = ~gaps[:, col]
        if not known.any():
            raise SeriesFileError(
                "target" if col == 0 else "features",
                f"{path}: column '{columns[col]}' has no values to interpolate from",
            )
        filled[:, col] = np.interp(where, where[known], values[known, col])
    return filled, stamps, lines


def _check_order(path, name: str, lines: list[int], cells: list[str], stamps: np.ndarray) -> None:
    steps = np.diff(_as_float(stamps))
    if len(steps) and (steps <= 0).any():
        i = int(np.argmax(steps <= 0)) + 1
        raise SeriesFileError(
            "time",
            f"{path}: column '{name}' is not in increasing order: line {lines[i]} "
            f"({cells[i]}) does not come after line {lines[i - 1]} ({cells[i - 1]})",
        )
