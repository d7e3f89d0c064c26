"""How every listing is printed: a table for people, CSV for spreadsheets, JSON for programs.

CSV starts with a UTF-8 byte order mark, without which Excel reads Vietnamese as mojibake, and a
cell that a spreadsheet would run as a formula (starting with = + - @, or a tab or carriage return)
is prefixed with an apostrophe: answers carry citizens' free text."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, TextIO

Form = Literal["table", "csv", "json"]
FORMS: tuple[Form, ...] = ("table", "csv", "json")
BOM = "\ufeff"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
TABLE_CELL_WIDTH = 40


def cell_text(value: object) -> str:
    """A value as one cell: nothing for None, yes/no, a list joined by semicolons."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return "; ".join(cell_text(item) for item in value)
    return str(value)


@dataclass(frozen=True)
class Column:
    """A field of a listing's rows; `text` turns its value into a cell where the default does not fit."""

    name: str
    text: Callable[[object], str] = cell_text
    in_table: bool = True  # CSV and JSON carry every column; the table only those people read there


def render(
    rows: Sequence[Mapping[str, object]], columns: Sequence[Column], form: Form, *, empty: str | None
) -> str:
    """The rows in a format; `empty` is what the table says when there are none (None: nothing)."""
    if form == "json":
        return json.dumps([{c.name: row[c.name] for c in columns} for row in rows], ensure_ascii=False,
                          indent=2, default=str) + "\n"  # fmt: skip
    if form == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow([c.name for c in columns])
        writer.writerows([neutralised(c.text(row[c.name])) for c in columns] for row in rows)
        return BOM + out.getvalue()
    if not rows:
        return f"{empty}\n" if empty else ""
    shown = [c for c in columns if c.in_table]
    cells = [[_clip(c.text(row[c.name])) for c in shown] for row in rows]
    widths = [max(len(c.name), *(len(line[n]) for line in cells)) for n, c in enumerate(shown)]
    lines = [[c.name for c in shown], *cells]
    return "".join("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip() + "\n"
                   for line in lines)  # fmt: skip


def neutralised(cell: str) -> str:
    """A cell a spreadsheet shows as text, never runs as a formula: for every spreadsheet export
    (CSV here; an XLSX writer puts its text cells through it too, numbers staying numbers)."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def emit(text: str) -> None:
    """Writes to standard output as UTF-8 whatever the terminal's locale, so a listing piped into a
    file is the same everywhere."""
    sys.stdout.flush()
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:
        sys.stdout.write(text)
        return
    buffer.write(text.encode("utf-8"))
    buffer.flush()


def _clip(value: str, width: int = TABLE_CELL_WIDTH) -> str:
    value = " ".join(value.split())
    return value if len(value) <= width else value[: width - 1] + "…"


class ProgressBar:
    """A one-line bar on standard error for work that takes a while (an import of many dossiers),
    redrawn in place; drawn only on a terminal, so that logs and pipes get no carriage returns.
    A few lines of our own rather than a dependency: one bar, counted by the caller, is all it draws."""

    WIDTH = 30

    def __init__(self, what: str, total: int, *, stream: TextIO | None = None) -> None:
        self.what, self.total = what, total
        self.stream = stream if stream is not None else sys.stderr
        self.shown = self.stream.isatty() and total > 0
        self.drawn = -1

    def advance_to(self, done: int) -> None:
        if not self.shown:
            return
        filled = self.WIDTH * done // self.total
        if filled == self.drawn and done != self.total:
            return  # redrawn only when the bar grows: a write per row would slow the work down
        self.drawn = filled
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        self.stream.write(f"\r{self.what} [{bar}] {done:,} of {self.total:,}")
        self.stream.flush()

    def finish(self) -> None:
        if self.shown and self.drawn >= 0:
            self.stream.write("\n")
            self.stream.flush()
