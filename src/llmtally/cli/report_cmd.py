"""``llmtally report``: spend per model, provider, user, feature, key, tag, trace, day or hour,
and, when calls carry their producer's own cost, llmtally's cost beside it
(``llmtally.cli.source_cost_render``)."""

from __future__ import annotations

import csv
import datetime as dt
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import typer

from llmtally.cli.calls_cmd import DatabaseOption, parse_since
from llmtally.cli.calls_cmd import _open as open_ledger
from llmtally.cli.common import CurrencyOption, fail, print_json, shown_currency, stderr

if TYPE_CHECKING:  # imported where used, so that the command line starts quickly
    from rich.table import Table

    from llmtally.analytics import ReportRow
    from llmtally.analytics.report_shown import ShownRow
    from llmtally.analytics.shown import Shown
    from llmtally.analytics.source_costs import SourceCostRow
    from llmtally.ledger import Store

__all__ = ["report"]

FORMATS = ("table", "csv", "json")
FIELDS = ("key", "calls", "input_tokens", "output_tokens", "cost_total", "unpriced", "errors")


def _range(since: str, until: str | None) -> tuple[dt.datetime, dt.datetime | None]:
    try:
        start = parse_since(since)
    except ValueError as exc:
        fail(str(exc))
    if until is None:
        return start, None
    try:
        end = parse_since(until)
    except ValueError as exc:
        fail(str(exc).replace("--since", "--until", 1))
    return start, end


def _priced(row: ReportRow) -> bool:
    """Whether any call of the row has a price (else its cost is unknown, not $0)."""
    return row.unpriced < row.calls


def row_json(row: ReportRow) -> dict[str, Any]:
    """A report row, JSON-ready: the cost of its priced calls as an exact decimal
    string, None when none of its calls has a price; ``unpriced`` counts those."""
    from llmtally.meter import decimal_text

    data: dict[str, Any] = {name: getattr(row, name) for name in FIELDS}
    data["cost_total"] = decimal_text(row.cost_total) if _priced(row) else None
    return data


def _cost(row: ReportRow, shown: Shown | None = None) -> str:
    from llmtally.money import usd

    if not _priced(row):
        return "unpriced"
    return usd(row.cost_total) if shown is None else shown.text(row.cost_total)


def _table(
    by: str,
    rows: list[ReportRow],
    total: ReportRow,
    title: str,
    key_names: dict[str, str],
    shown: Shown | None = None,
) -> Table:
    from rich import box
    from rich.table import Table

    from llmtally.fit_table import snug

    table = Table(
        title=title, show_footer=True, box=box.SIMPLE, show_edge=False, padding=(0, 1, 0, 0)
    )
    table.add_column(by, footer="total", overflow="fold")
    footers = [f"{total.calls:,}", f"{total.input_tokens:,}", f"{total.output_tokens:,}"]
    footers += [_cost(total, shown), f"{total.unpriced:,}", f"{total.errors:,}"]
    cost = "cost" if shown is None else f"cost ({shown.code})"
    names = ("calls", "tokens in", "tokens out", cost, "unpriced", "errors")
    for name, footer in zip(names, footers, strict=True):
        table.add_column(name, footer=footer, justify="right", no_wrap=True)
    for row in rows:
        table.add_row(
            _label(row.key, key_names),
            f"{row.calls:,}",
            f"{row.input_tokens:,}",
            f"{row.output_tokens:,}",
            _cost(row, shown),
            f"{row.unpriced:,}",
            f"{row.errors:,}",
        )
    notes = ["a call with several tags counts under each"] if by == "tag" else []
    if total.unpriced:
        calls = "1 call" if total.unpriced == 1 else f"{total.unpriced:,} calls"
        notes.append(f"{calls} unpriced (failed, or no price): counted apart, not in cost")
    rates = [] if shown is None else shown.notes()
    table.caption = "\n".join(filter(None, ["; ".join(notes), *rates])) or None
    return snug(table)  # numbers as wide as they are, headers wrapped: names stay whole


def _label(key: str | None, names: dict[str, str]) -> str:
    """A group as shown: a gateway key by its name, its id on the line below."""
    if key is None:
        return "(none)"
    return f"{names[key]}\n{key}" if key in names else key


def _render(
    fmt: str,
    by: str,
    rows: list[ReportRow],
    total: ReportRow,
    title: str,
    names: dict[str, str] | None = None,
) -> None:
    if fmt == "json":
        print_json({"by": by, "rows": [row_json(r) for r in rows], "total": row_json(total)})
    elif fmt == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=FIELDS, lineterminator="\n")  # None: ""
        writer.writeheader()
        writer.writerows(row_json(r) for r in rows)
    else:
        from rich.console import Console

        Console(highlight=False).print(_table(by, rows, total, title, names or {}))


def _render_with_sources(fmt: str, by: str, found: _Found, title: str) -> None:
    """The report, and beside it the producers' own cost when any call has one:
    a second table, or ``source_costs`` in JSON (null when none; CSV: not shown)."""
    from llmtally.cli.source_cost_render import source_cost_json, source_cost_table

    if fmt == "json":
        print_json(
            {
                "by": by,
                "rows": [row_json(r) for r in found.rows],
                "total": row_json(found.total),
                "source_costs": source_cost_json(found.source_rows, found.source_total),
            }
        )
        return
    if fmt != "sources":  # "sources": the producers' table alone (after a shown report)
        _render(fmt, by, found.rows, found.total, title, found.key_names)
    if fmt in ("table", "sources") and found.source_total is not None:
        from rich.console import Console

        table = source_cost_table(by, found.source_rows, found.source_total)
        Console(highlight=False).print(table)


def _shown_json(row: ShownRow, shown: Shown) -> dict[str, Any]:
    """A row with its cost as ``{"amount", "currency"}`` and the USD cost beside it."""
    data = row_json(row.row)
    data["cost_usd"] = data["cost_total"]
    data["cost_total"] = shown.json(row.cost) if _priced(row.row) else None
    return data


def _render_shown(fmt: str, by: str, found: _Found, title: str, shown: Shown) -> None:
    """The report in a currency other than USD, the rates used stated with it."""
    from dataclasses import replace

    from llmtally.cli.source_cost_render import source_cost_json
    from llmtally.meter import decimal_text

    rows, total = found.shown_rows, found.shown_total
    assert total is not None
    if fmt == "json":
        data: dict[str, Any] = {"by": by, "currency": shown.code}
        data["rows"] = [_shown_json(r, shown) for r in rows]
        data["total"] = _shown_json(total, shown)
        data["rates"] = shown.rates_json()
        data["source_costs"] = source_cost_json(found.source_rows, found.source_total)
        print_json(data)
    elif fmt == "csv":
        fields = (*FIELDS, "currency", "cost_usd")
        writer = csv.DictWriter(sys.stdout, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            line = row_json(row.row)
            line["cost_usd"] = line["cost_total"]
            line["cost_total"] = decimal_text(row.cost) if _priced(row.row) else None
            writer.writerow({**line, "currency": shown.code})
    else:
        plain = [replace(r.row, cost_total=r.cost) for r in rows]
        whole = replace(total.row, cost_total=total.cost)
        _print(_table(by, plain, whole, title, found.key_names, shown))
        _render_with_sources("sources", by, found, title)


def _print(table: Table) -> None:
    from rich.console import Console

    Console(highlight=False).print(table)


@dataclass(frozen=True, slots=True)
class _Found:
    rows: list[ReportRow]
    total: ReportRow
    source_rows: list[SourceCostRow]
    source_total: SourceCostRow | None
    key_names: dict[str, str]  # gateway key id -> name, for --by key
    shown_rows: list[ShownRow] = field(default_factory=list)  # --currency other than USD
    shown_total: ShownRow | None = None


def _key_names(store: Store) -> dict[str, str]:
    from llmtally.ledger.keys import KeyStore

    return {key.id: key.name for key in KeyStore(store).list()}


def report(
    since: str = typer.Option("7d", "--since", help="30m, 6h, 7d, or a date/time."),
    until: str | None = typer.Option(None, "--until", help="End (excluded): 1d, or a date/time."),
    by: str = typer.Option(
        "model", "--by", help="model|provider|user|feature|key|tag|trace|day|week|hour."
    ),
    fmt: str = typer.Option("table", "--format", help="table, csv or json."),
    currency: str | None = CurrencyOption,
    database: str | None = DatabaseOption,
) -> None:
    """Spend per group over a time range, the most costly first."""
    from llmtally.analytics import GROUPS

    if by not in GROUPS:
        fail(f"--by: {by!r} is not one of {', '.join(GROUPS)}")
    if fmt not in FORMATS:
        fail(f"--format: {fmt!r} is not one of {', '.join(FORMATS)}")
    start, end = _range(since, until)
    shown = shown_currency(currency)
    found = _find(database, start, by, end, shown)
    window = f"{start:%Y-%m-%d %H:%M} to {'now' if end is None else f'{end:%Y-%m-%d %H:%M}'} UTC"
    if not found.rows:
        stderr().print(f"no calls in the ledger from {window}; try a wider --since")
    if not found.rows and fmt == "table":
        return
    if shown.is_pivot:
        _render_with_sources(fmt, by, found, f"spend by {by}, {window}")
    else:
        _render_shown(fmt, by, found, f"spend by {by} in {shown.code}, {window}", shown)


def _find(
    database: str | None, start: dt.datetime, by: str, end: dt.datetime | None, shown: Shown
) -> _Found:
    """The report's figures; in ``shown``'s currency too unless that is USD."""
    from llmtally.analytics import spend_report, spend_total
    from llmtally.analytics.report_shown import shown_report, shown_total
    from llmtally.analytics.source_costs import source_cost_report, source_cost_total
    from llmtally.currency import NoRateError

    group: Any = by
    try:
        with open_ledger(database) as store:
            extra, total = [], None
            if not shown.is_pivot:
                extra = shown_report(store, start, group, end, shown)
                total = shown_total(store, start, end, shown)
            return _Found(
                spend_report(store, start, group, end) if total is None else [r.row for r in extra],
                spend_total(store, start, end) if total is None else total.row,
                source_cost_report(store, start, group, end),
                source_cost_total(store, start, end),
                _key_names(store) if by == "key" else {},
                extra,
                total,
            )
    except NoRateError as exc:
        fail(f"--currency {shown.code}: {exc}; add a rate to your rates file (LLMTALLY_RATES)")
    except ValueError as exc:
        fail(str(exc))
