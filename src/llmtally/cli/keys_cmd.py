"""``llmtally keys create|list|revoke``: gateway keys and their budgets."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import typer

from llmtally.cli.common import fail, print_json

if TYPE_CHECKING:  # imported where used, so that the command line starts quickly
    from rich.table import Table

    from llmtally.ledger.keys import GatewayKey, KeyStore

__all__ = ["app", "key_json"]

app = typer.Typer(help="Gateway keys: create (shown once), list, revoke.", no_args_is_help=True)
DatabaseOption = typer.Option(
    None, "--database", help="Ledger database URL (env LLMTALLY_DATABASE_URL)."
)
JsonOption = typer.Option(False, "--json", help="Print JSON instead of text.")


def _keys(database: str | None) -> KeyStore:
    from sqlalchemy.exc import SQLAlchemyError

    from llmtally.ledger import open_store
    from llmtally.ledger.keys import KeyStore

    try:
        return KeyStore(open_store(database))
    except (SQLAlchemyError, ValueError, OSError) as exc:
        fail(f"cannot open the ledger: {exc}", code=1)


def _money(value: Decimal | None) -> str | None:
    from llmtally.meter import decimal_text

    return None if value is None else decimal_text(value)


def key_json(key: GatewayKey, spent: Decimal | None = None) -> dict[str, Any]:
    """A key as JSON (amounts as exact decimal strings); never its secret or hash."""
    data: dict[str, Any] = {
        "id": key.id,
        "name": key.name,
        "prefix": key.prefix,
        "budget_usd": _money(key.budget_usd),
        "period": key.period,
        "created_at": key.created_at.isoformat(),
        "revoked_at": None if key.revoked_at is None else key.revoked_at.isoformat(),
    }
    if spent is not None:
        data["spent_usd"] = _money(spent)
    return data


@app.command("create")
def create(
    name: str = typer.Option(..., "--name", help="A unique name for the key."),
    budget_usd: str | None = typer.Option(
        None, "--budget-usd", help="Spend limit in USD per period (default: none)."
    ),
    period: str = typer.Option("month", "--period", help="Budget period: day, week or month."),
    as_json: bool = JsonOption,
    database: str | None = DatabaseOption,
) -> None:
    """Create a key and print it once: only its hash is stored."""
    from llmtally.ledger.keys import PERIODS, KeyStoreError

    if period not in PERIODS:
        fail(f"--period {period!r}: use one of {', '.join(PERIODS)}")
    try:
        budget = None if budget_usd is None else Decimal(budget_usd)
    except InvalidOperation:
        fail(f"--budget-usd {budget_usd!r} is not an amount")
    keys = _keys(database)
    try:
        new = keys.create(name, budget, period)
    except (KeyStoreError, ValueError) as exc:
        fail(str(exc), code=1)
    finally:
        keys.store.close()
    if as_json:
        print_json(key_json(new.key) | {"key": new.secret})
        return
    budget_text = (
        "no budget" if budget is None else f"budget ${_money(new.key.budget_usd)}/{period}"
    )
    typer.echo(
        f"Created gateway key {name!r} ({new.key.id}, {budget_text}):\n\n  {new.secret}\n\n"
        "Store it now: it is not shown again. Clients send it as "
        "'Authorization: Bearer <key>' or 'x-api-key: <key>'."
    )


def _keys_table(rows: list[dict[str, Any]]) -> Table:
    from rich.table import Table

    table = Table(title=f"{len(rows)} gateway keys")
    for column in ("id", "name", "prefix", "budget", "spent this period", "created", "revoked"):
        table.add_column(
            column, justify="right" if column.startswith(("budget", "spent")) else "left"
        )
    for row in rows:
        budget = "none" if row["budget_usd"] is None else f"${row['budget_usd']}/{row['period']}"
        table.add_row(
            row["id"],
            row["name"],
            row["prefix"] + "...",
            budget,
            f"${row['spent_usd']}",
            row["created_at"][:19].replace("T", " "),
            "" if row["revoked_at"] is None else row["revoked_at"][:19].replace("T", " "),
        )
    return table


@app.command("list")
def list_keys(as_json: bool = JsonOption, database: str | None = DatabaseOption) -> None:
    """Every key, with its budget and what it has spent in the current period."""
    from llmtally.ledger.keys import period_bounds

    keys = _keys(database)
    now = dt.datetime.now(dt.UTC)
    with keys.store:
        rows = [
            key_json(key, keys.spent(key.id, period_bounds(key.period, now)[0]))
            for key in keys.list()
        ]
    if as_json:
        print_json(rows)
        return
    from rich.console import Console

    Console(highlight=False).print(_keys_table(rows))


@app.command("revoke")
def revoke(
    key: str = typer.Argument(..., metavar="ID|NAME", help="The key's id or name."),
    as_json: bool = JsonOption,
    database: str | None = DatabaseOption,
) -> None:
    """Revoke a key: the gateway refuses it from its next refresh (about a second)."""
    from llmtally.ledger.keys import KeyStoreError

    keys = _keys(database)
    with keys.store:
        try:
            revoked = keys.revoke(key)
        except KeyStoreError as exc:
            fail(str(exc), code=1)
    if as_json:
        print_json(key_json(revoked))
        return
    typer.echo(f"Revoked gateway key {revoked.name!r} ({revoked.id}).")
