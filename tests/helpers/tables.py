"""The tables of docs/combinations.md, read as the tests run them: rows of a setup, its
overrides, and a cell per column that says `works` or `refused: `<the one line printed>``."""

from __future__ import annotations

import re
import shlex


def parse_table(text: str, first: str) -> tuple[list[str], dict[str, tuple[list[str], dict]]]:
    """(columns, {row: (overrides, {column: cell})}) of the one table in `text`, whose
    columns are `first`, `overrides`, then the cells'."""
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    header = [c.strip() for c in lines[0].strip("|").split(" | ")]
    assert header[:2] == [first, "overrides"], header
    rows = {}
    for line in lines[1:]:
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        assert len(cells) == len(header), line
        rows[cells[0]] = (
            shlex.split(cells[1].strip("`")),
            dict(zip(header[2:], cells[2:], strict=True)),
        )
    return header[2:], rows


def refusal(row: str, column: str, cell: str) -> str | None:
    """None for `works`, else the refusal line."""
    if cell == "works":
        return None
    found = re.fullmatch(r"refused: `(.+)`", cell)
    assert found, f"{row} / {column}: {cell!r} is neither 'works' nor 'refused: `<line>`'"
    return found.group(1)
