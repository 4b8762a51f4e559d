"""``llmtally reconcile``: the ledger matched with the bills (cli.reconcile_compare);
``reconcile import FILE`` and ``reconcile fetch``: the providers' own usage and cost reports in."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from llmtally.cli import reconcile_compare, reconcile_fetch
from llmtally.cli.common import fail, print_json

if TYPE_CHECKING:
    from llmtally.reconcile.load import ImportResult
    from llmtally.reconcile.store import Tally

__all__ = ["app"]

app = typer.Typer(help="Match the ledger with the providers' own usage and cost reports.")
DatabaseOption = typer.Option(
    None, "--database", help="Ledger database URL (env LLMTALLY_DATABASE_URL)."
)


@app.command("import")
def import_report(
    file: Path = typer.Argument(
        ...,
        help="A saved API page (OpenAI usage/costs, Anthropic usage/cost report), a JSON "
        "array or JSON Lines of pages, or Google's billing export (CSV / JSON Lines).",
    ),
    account: str | None = typer.Option(
        None,
        "--account",
        help="The organization / workspace / billing account the report is for "
        "(needed to import a second account of one provider).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print what was stored as JSON."),
    database: str | None = DatabaseOption,
) -> None:
    """Store a provider's usage or cost report; importing it again adds nothing."""
    from sqlalchemy.exc import SQLAlchemyError

    from llmtally.ledger import open_store
    from llmtally.reconcile.load import import_file
    from llmtally.reconcile.rows import ReportError

    if not file.is_file():
        fail(f"{file}: no such file", code=1)
    try:
        store = open_store(database)
    except (SQLAlchemyError, ValueError, OSError) as exc:
        fail(f"cannot open the ledger: {exc}", code=1)
    try:
        with store:
            result = import_file(store, file, account)
    except ReportError as exc:
        fail(f"{file.name}: {exc} (nothing was stored)", code=1)
    except SQLAlchemyError as exc:
        fail(f"the ledger database failed ({type(exc).__name__}); nothing was stored", code=1)
    except OSError as exc:
        fail(f"{file}: {exc.strerror or exc}", code=1)
    if as_json:
        print_json(result.to_json())
    else:
        _render(result)


def _period(tally: Tally) -> str:
    if tally.start is None or tally.end is None:
        return "no buckets"
    return f"{tally.start:%Y-%m-%d %H:%M} to {tally.end:%Y-%m-%d %H:%M} UTC"


def _render(result: ImportResult) -> None:
    from rich.console import Console

    out = Console(highlight=False, width=80)
    unit = result.unit if result.pages == 1 else f"{result.unit}s"
    out.print(f"{result.source}: {result.pages:,} {unit} read", markup=False)
    for tally in result.tallies:
        out.print(f"{tally.provider} {tally.kind} (account {tally.account})", markup=False)
        out.print(
            f"  {tally.buckets:,} bucket{'' if tally.buckets == 1 else 's'}, "
            f"rows: {tally.new:,} new, {tally.already:,} already there, "
            f"{tally.replaced:,} replaced",
            markup=False,
        )
        if tally.skipped:
            skipped = f"{tally.skipped:,} row{'' if tally.skipped == 1 else 's'}"
            out.print(f"  {skipped} of other services skipped", markup=False)
        out.print(f"  {_period(tally)}", markup=False)


app.command("fetch")(reconcile_fetch.fetch)
app.callback(invoke_without_command=True)(reconcile_compare.reconcile)
