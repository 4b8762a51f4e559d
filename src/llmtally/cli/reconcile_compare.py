"""``llmtally reconcile``: the ledger beside the providers' bills, differences explained.

The headline is the period's error bar, (ledger - billed) / billed; then a
table per day (or model, key, project) read at 80 columns; then each
explanation with its amount (rounded as :mod:`llmtally.money` shows money, the
exact digits beside it). ``--json`` carries every amount exact.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from llmtally.cli.common import HomeOption, OverrideOption, fail, open_catalog, print_json

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from llmtally.catalog import Catalog
    from llmtally.cli.reconcile_apply import Proposal
    from llmtally.reconcile.compare import Reconciliation, Row, View
    from llmtally.reconcile.explain import Explanation

__all__ = ["day_bounds", "reconcile"]

NO_REPORTS = (
    "no provider usage or cost figures for this period: get them with "
    "`llmtally reconcile fetch --provider openai|anthropic` (admin key) or "
    "`llmtally reconcile import FILE` (a saved report or Google's billing export)"
)


def day_bounds(since: dt.datetime, until: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """Whole UTC days: ``since`` back to its day's start, ``until`` on to the next
    day's start unless it is one already (so today is in the default period)."""
    start = dt.datetime.combine(since.astimezone(dt.UTC).date(), dt.time(), dt.UTC)
    end_utc = until.astimezone(dt.UTC)
    end = dt.datetime.combine(end_utc.date(), dt.time(), dt.UTC)
    return start, end if end == end_utc else end + dt.timedelta(days=1)


def reconcile(
    ctx: typer.Context,
    since: str = typer.Option("30d", "--since", help="30d, 2w, or a date (UTC days)."),
    until: str | None = typer.Option(
        None, "--until", help="The first day left out (a date); default: tomorrow."
    ),
    by: str = typer.Option("day", "--by", help="day, model, key or project."),
    provider: str | None = typer.Option(None, "--provider", help="Only this provider."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (exact amounts)."),
    database: str | None = typer.Option(
        None, "--database", help="Ledger database URL (env LLMTALLY_DATABASE_URL)."
    ),
    home: Path | None = HomeOption,
    override: Path | None = OverrideOption,
    apply: bool = typer.Option(
        False,
        "--apply",
        help="Write the dated catalog entry each price drift implies to the override file "
        "(without it, the entry is printed for review).",
    ),
) -> None:
    """Match the ledger with the providers' own usage and cost reports."""
    if ctx.invoked_subcommand is not None:
        return
    from llmtally.analytics.filters import parse_since
    from llmtally.reconcile.compare import VIEWS

    if by not in VIEWS:
        fail(f"--by: {by!r} is not one of {', '.join(VIEWS)}")
    try:
        start = parse_since(since)
        end = dt.datetime.now(dt.UTC) if until is None else parse_since(until, name="--until")
    except ValueError as exc:
        fail(str(exc))
    start, end = day_bounds(start, end)
    if end <= start:
        fail(f"--until ({end:%Y-%m-%d}) is not after --since ({start:%Y-%m-%d})")
    catalog = open_catalog(home, override)
    result = _run(database, catalog, start, end, provider)
    if not result.sides.has_reports:
        fail(NO_REPORTS, code=1)
    view: View = by
    found, path = _proposals(result, catalog, home, override, apply)
    if as_json:
        print_json(result.to_json(view) | {"proposals": [p.to_json() for p in found]})
        return
    _render(result, view)
    if found:
        from rich.console import Console

        from llmtally.cli.reconcile_apply import render_proposals

        render_proposals(Console(highlight=False), found, path, apply)


def _proposals(
    result: Reconciliation, catalog: Catalog, home: Path | None, override: Path | None, apply: bool
) -> tuple[list[Proposal], Path]:
    """The drifts' catalog entries, written to the override file with ``--apply``."""
    from llmtally.cli.reconcile_apply import apply_proposals, proposals
    from llmtally.config import data_home, override_file

    path = override_file(override, data_home(home))
    found = proposals(result, catalog)
    return (apply_proposals(found, path) if apply else found), path


def _run(
    database: str | None,
    catalog: Catalog,
    start: dt.datetime,
    end: dt.datetime,
    provider: str | None,
) -> Reconciliation:
    from sqlalchemy.exc import SQLAlchemyError

    from llmtally.ledger import open_store
    from llmtally.reconcile.compare import reconcile as compare

    try:
        with open_store(database) as store:
            return compare(store, catalog, start, end, provider)
    except (SQLAlchemyError, OSError) as exc:
        fail(f"cannot read the ledger: {exc}", code=1)


def _headline(out: Console, result: Reconciliation) -> None:
    from llmtally.money import usd, usd_with_exact

    head = result.headline()
    sides = result.sides
    last = sides.until - dt.timedelta(days=1)
    percent = head.error_percent
    error = "no billed amount" if percent is None else f"{'+' if percent > 0 else ''}{percent}%"
    out.print(f"{sides.since:%Y-%m-%d} to {last:%Y-%m-%d} (UTC): ledger vs billed {error}")
    out.print(f"  ledger {usd_with_exact(head.ledger)}, billed {usd_with_exact(head.billed)}")
    out.print(f"  unexplained after the explanations below: {usd_with_exact(head.unexplained)}")
    out.print(f"  unrecorded spend (the provider saw, the ledger did not): {usd(head.unrecorded)}")
    for label in head.left_out:
        out.print(f"  left out, no billed figures: {label}")
    for currency, amount in sorted(sides.other_currency.items()):
        out.print(f"  left out, billed in {currency}: {amount}")


LABEL_MAX = 30  # a longer day / model / key label folds, so the amounts stay whole at 80


def _label_width(rows: list[Row], by: str) -> int:
    return min(max([len(by), *(len(r.label) for r in rows)]), LABEL_MAX)


def _money_table(rows: list[Row], by: str) -> Table:
    from llmtally.fit_table import plain_table, snug
    from llmtally.money import usd

    table = plain_table()
    table.add_column(by, overflow="fold", width=_label_width(rows, by))
    for name in ("ledger", "billed", "diff", "unexplained"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("explained by", overflow="fold", ratio=1, min_width=10)
    for row in rows:
        kinds = ", ".join(row.kinds)
        cells = (row.ledger, row.billed, row.difference, row.unexplained)
        table.add_row(row.label, *(usd(c) for c in cells), kinds)
    return snug(table)


def _source_table(rows: list[Row], by: str) -> Table:
    from llmtally.fit_table import plain_table, snug
    from llmtally.money import usd

    table = plain_table()
    table.add_column(by, overflow="fold", width=_label_width(rows, by))
    for name in ("provider tokens", "unrecorded"):
        table.add_column(name, justify="right", no_wrap=True)
    for row in rows:
        tokens = row.reported_tokens.total if row.reported_tokens is not None else 0
        table.add_row(row.label, f"{tokens:,}", usd(-row.explained))
    return snug(table)


def _explanation(out: Console, e: Explanation) -> None:
    from llmtally.money import usd_with_exact

    amount = "not priced" if e.amount is None else usd_with_exact(e.amount)
    out.print(f"{e.kind}: {e.provider}/{e.model} {e.day.isoformat()}: {amount}", markup=False)
    out.print(f"  {e.detail}", markup=False)
    if e.call_ids:
        out.print(f"  calls: {', '.join(e.call_ids)}", markup=False)
    for s in e.sources:
        usd = "not priced" if s.usd is None else usd_with_exact(s.usd)
        out.print(f"  from {s.name}: {usd} ({s.tokens.total:,} tokens)", markup=False)


def _render(result: Reconciliation, by: View) -> None:
    from rich.console import Console

    from llmtally.money import DASH, usd_with_exact

    out = Console(highlight=False)
    _headline(out, result)
    rows = result.rows(by)
    if by in ("day", "model"):
        out.print(_money_table(rows, by))
        if any(r.billed is None for r in rows):
            out.print(f"{DASH}: no cost report for the day, or cost lines that name no model")
        unpriced = sum(r.unpriced_calls for r in rows)
        if unpriced:
            calls = "1 call" if unpriced == 1 else f"{unpriced:,} calls"
            out.print(f"{calls} in the ledger with no price (unknown model): not in its cost")
    else:
        out.print(_source_table(rows, by))
        out.print(f"(the providers' own {by}s: the ledger does not know their ids)")
    if result.explanations:
        out.print("explanations:")
    for e in result.explanations:
        _explanation(out, e)
    for row in result.day_rows():
        if row.unexplained:
            text = usd_with_exact(row.unexplained)
            out.print(f"unexplained: {row.label}: {text} (ledger - billed, after the above)")
