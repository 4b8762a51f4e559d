"""``llmtally import jsonl|litellm|langfuse|helicone FILE``: other tools' history."""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from llmtally.cli.common import HomeOption, OverrideOption, fail, open_catalog, print_json

if TYPE_CHECKING:
    from collections.abc import Callable

    from rich.console import Console

    from llmtally.catalog import Catalog
    from llmtally.history import ImportSummary
    from llmtally.ledger import Store

__all__ = ["import_history"]

DatabaseOption = typer.Option(
    None, "--database", help="Ledger database URL (env LLMTALLY_DATABASE_URL)."
)
JsonOption = typer.Option(False, "--json", help="Print the summary as JSON (exact amounts).")
PROGRESS_EVERY = 10_000


def _progress(seen: int) -> None:
    if seen % PROGRESS_EVERY == 0:
        sys.stderr.write(f"\r{seen:,} rows read")
        sys.stderr.flush()


def import_history(
    tool: str = typer.Argument(
        ..., help="The file's shape: jsonl (llmtally's own), litellm, langfuse or helicone."
    ),
    source: str = typer.Argument(
        ...,
        metavar="FILE_OR_URL",
        help="JSON Lines; litellm, langfuse, helicone also CSV or a JSON array / API page; "
        "litellm also its PostgreSQL database URL.",
    ),
    database: str | None = DatabaseOption,
    as_json: bool = JsonOption,
    home: Path | None = HomeOption,
    override: Path | None = OverrideOption,
) -> None:
    """Import another tool's call history, re-priced by llmtally, its own cost kept
    beside; importing the same file again adds nothing."""
    from sqlalchemy.exc import SQLAlchemyError

    from llmtally.history import PARSERS, RowError
    from llmtally.history.litellm_db import is_database_url, shown_url

    if tool not in PARSERS:
        fail(f"unknown format {tool!r}: use one of {', '.join(PARSERS)}")
    from_db = is_database_url(source)
    if from_db and tool != "litellm":
        fail("only litellm reads a database URL; give the other tools' exports as files")
    shown = shown_url(source) if from_db else source
    if not from_db and not Path(source).is_file():
        fail(f"{source}: no such file")
    catalog = open_catalog(home, override)
    _check_rates(home)
    store = _open_ledger(database)
    progress = _progress if sys.stderr.isatty() and not as_json else None
    try:
        with store:
            summary = _run(tool, source, from_db, store, catalog, progress)
    except RowError as exc:
        fail(f"{shown}: {exc}", code=1)
    except SQLAlchemyError as exc:
        fail(f"the ledger database failed ({type(exc).__name__}); run again to resume", code=1)
    except OSError as exc:
        fail(f"{shown}: {exc.strerror or exc}", code=1)
    if progress is not None:
        sys.stderr.write("\r")
    if as_json:
        print_json(summary.to_json())
    else:
        _render(summary)
    if summary.rates_unpriced:  # the rates file broke during the run
        fail(f"{shown}: the rates file left {summary.rates_unpriced:,} calls unpriced", code=1)
    if summary.skipped_count and not (summary.imported or summary.already):
        # every row refused: most likely another tool's file, or JSON not one per line
        fail(f"{shown}: no row could be read as {tool}'s format (see the reasons above)", code=1)


def _check_rates(home: Path | None) -> None:
    """Refuse to import while the rates file cannot be used: the calls billed in
    another currency would be stored unpriced, and importing again does not
    re-price a call the ledger has (docs/currencies.md)."""
    from llmtally.currency import RatesFileError, open_rates

    try:
        open_rates(home)
    except RatesFileError as exc:
        fail(
            f"{exc}\nnothing imported: calls billed in another currency would be stored "
            "without a price, and importing again does not re-price them; fix the rates "
            "file (or unset LLMTALLY_RATES to use the shipped rates)"
        )


def _open_ledger(database: str | None) -> Store:
    from sqlalchemy.exc import SQLAlchemyError

    from llmtally.ledger import open_store

    try:
        return open_store(database)
    except (SQLAlchemyError, ValueError, OSError) as exc:
        fail(f"cannot open the ledger: {exc}", code=1)


def _run(
    tool: str,
    source: str,
    from_db: bool,
    store: Store,
    catalog: Catalog,
    progress: Callable[[int], None] | None,
) -> ImportSummary:
    from llmtally.history import import_history
    from llmtally.history.litellm_db import read_spend_logs, shown_url
    from llmtally.history.load import import_records

    if not from_db:
        return import_history(tool, Path(source), store, catalog, progress=progress)
    rows = read_spend_logs(source)
    return import_records(tool, rows, store, catalog, source=shown_url(source), progress=progress)


def _usd(amount: Decimal) -> str:
    from llmtally.meter import decimal_text

    return f"-${decimal_text(-amount)}" if amount < 0 else f"${decimal_text(amount)}"


def _render_unconverted(out: Console, summary: ImportSummary) -> None:
    """Why calls priced in another currency have no USD cost, in one line each."""
    by_rates, other = summary.rates_unpriced, summary.unconverted - summary.rates_unpriced
    if by_rates:
        out.print(
            f"the rates file cannot be used ({summary.rates_error}): {_calls(by_rates)} "
            "billed in another currency stored without a price; once it is fixed, "
            "`llmtally calls reprice` prices them (importing again does not)",
            markup=False,
        )
    if other:
        out.print(
            f"{_calls(other)} billed in another currency stored without a price: no exchange "
            "rate for their day (or one the ledger already had unpriced; see cost_error); "
            "add the day to your rates file, then run `llmtally calls reprice`",
            markup=False,
        )


def _calls(count: int) -> str:
    return f"{count:,} call{'' if count == 1 else 's'}"


def _render(summary: ImportSummary) -> None:
    from rich.console import Console

    from llmtally.meter import decimal_text

    out = Console(highlight=False, soft_wrap=True)
    unpriced = summary.unpriced
    out.print(
        f"{summary.imported:,} imported, {summary.already:,} already there, "
        f"{summary.skipped_count:,} skipped"
        + (f", {unpriced:,} without a price (stored, cost unknown)" if unpriced else "")
    )
    out.print(f"cost: ${decimal_text(summary.cost)} (llmtally's prices, the rows read)")
    _render_unconverted(out, summary)
    if summary.source_cost_rows:
        out.print(
            f"{summary.source_cost_rows:,} row{'' if summary.source_cost_rows == 1 else 's'} "
            "with the source's cost: "
            f"${decimal_text(summary.compared_cost)} by llmtally, "
            f"${decimal_text(summary.source_cost)} by {summary.tool} "
            f"(difference {_usd(summary.cost_difference)})"
        )
    for reason, count in sorted(summary.skipped_by_reason.items()):
        out.print(f"  skipped {count:,}: {reason}", markup=False)
    for skip in summary.skipped[:20]:
        out.print(f"  {skip.where}: {skip.reason}", markup=False)
    if summary.skipped_count > 20:
        out.print(f"  ... and {summary.skipped_count - 20:,} more (--json lists them)")
