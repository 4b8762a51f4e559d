"""Tables that fit the terminal without cutting a name or an amount.

- :func:`plain_table`: the house style for tables read at 80 columns (a rule
  under the header, no frame, one space between columns), as ``calls`` shows.
- :func:`snug`: after the rows are in, each column that must not wrap made
  exactly as wide as its widest cell (footer included) and its header's longest word (a long
  header such as ``memory GB`` wraps at its spaces instead of widening it).
- :func:`fits`: whether a table fits the console at its natural width, so a
  command can show every column when they fit and its narrow layout when not.
- :class:`SplitTable`: a label column and value columns (one per model, say):
  as many value columns side by side as the width holds, the others in the
  tables below, the label column repeated. A value column is as wide as its
  widest cell and its header's longest word, so amounts and names are whole
  (a long header wraps at its spaces).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich import box
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table
from rich.text import Text

__all__ = ["Column", "SplitTable", "fits", "plain_table", "snug"]

LABEL_MIN = 12  # the label column wraps at its spaces down to this width


def plain_table(title: str | None = None, **options: object) -> Table:
    """A table with a rule under its header, no outer frame and one space
    between columns (2 characters a column, less one), as wide as its title
    where the terminal allows (so the title is not wrapped needlessly)."""
    options.setdefault("min_width", cell_len(title) if title else None)
    return Table(
        title=title,
        box=box.SIMPLE_HEAD,
        show_edge=False,
        padding=(0, 1, 0, 0),
        **options,  # type: ignore[arg-type]
    )


def fits(console: Console, table: Table) -> bool:
    """True when ``table``'s columns fit ``console`` with no cell wrapped or cut."""
    unbounded = console.options.update_width(1 << 16)
    least, table.min_width = table.min_width, None  # the title may wrap
    try:
        return console.measure(table, options=unbounded).maximum <= console.width
    finally:
        table.min_width = least


def snug(table: Table) -> Table:
    """Each ``no_wrap`` column of ``table`` given the width of its widest cell
    (and its header's longest word); its header may then wrap at spaces."""
    for column in table.columns:
        if not column.no_wrap:
            continue
        cells = [c for c in (*column.cells, column.footer) if isinstance(c, (str, Text))]
        header = column.header if isinstance(column.header, str) else ""
        column.width = max([_longest_word(header), 1, *map(_width, cells)])
        column.no_wrap = False
    return table


def _width(cell: str | Text) -> int:
    text = cell.plain if isinstance(cell, Text) else cell
    return max((cell_len(line) for line in text.splitlines()), default=0)


def _longest_word(text: str) -> int:
    return max((cell_len(word) for word in text.split()), default=0)


@dataclass(frozen=True, slots=True)
class Column:
    """A column's header, its cells (one per row) and an optional footer."""

    header: str
    cells: Sequence[str | Text]
    footer: str = ""

    @property
    def width(self) -> int:
        """Room for every cell and the footer whole, and the header's longest word."""
        cells = max((_width(c) for c in self.cells), default=0)
        return max(cells, _width(self.footer), _longest_word(self.header), 1)

    @property
    def natural(self) -> int:
        return max(self.width, _width(self.header))


class SplitTable:
    """Value columns side by side as far as the width allows, then more tables."""

    def __init__(
        self,
        title: str,
        label: Column,
        values: Sequence[Column],
        caption: str | None = None,
    ) -> None:
        self.title = title
        self.label = label
        self.values = list(values)
        self.caption = caption

    def groups(self, width: int) -> list[list[Column]]:
        """The value columns in runs that fit ``width`` next to the label column
        (its natural width if that costs no extra table, else narrower)."""
        natural = self.label.natural
        words = " ".join([self.label.header, *map(str, self.label.cells)])
        narrow = min(natural, max(LABEL_MIN, _longest_word(words)))
        wide = self._grouped(width, natural)
        tight = self._grouped(width, narrow)
        return wide if len(wide) <= len(tight) else tight

    def _grouped(self, width: int, label: int) -> list[list[Column]]:
        groups: list[list[Column]] = []
        used = 0
        for column in self.values:
            need = column.width + 2
            if groups and used + need <= width:
                groups[-1].append(column)
                used += need
            else:
                groups.append([column])
                used = label + 1 + need
        return groups

    def tables(self, width: int) -> list[Table]:
        groups = self.groups(width)
        return [self._table(group, i, len(groups), width) for i, group in enumerate(groups)]

    def _table(self, group: list[Column], index: int, count: int, width: int) -> Table:
        title = self.title if count == 1 else f"{self.title} ({index + 1}/{count})"
        footer = any(c.footer for c in [self.label, *group])
        wide = min(width, max(cell_len(title), _width(self.caption or "")))
        table = plain_table(title, show_footer=footer, min_width=wide)
        table.add_column(self.label.header, footer=self.label.footer, overflow="fold")
        for column in group:
            table.add_column(
                column.header,
                footer=column.footer,
                justify="right",
                width=column.width,
                overflow="fold",
            )
        for row, label in enumerate(self.label.cells):
            table.add_row(label, *(c.cells[row] for c in group))
        if index == count - 1:
            table.caption = self.caption
        return table

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from self.tables(options.max_width)
