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
        "team": key.team,
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
    team: str | None = typer.Option(
        None, "--team", help="The team it belongs to (team budgets: llmtally budgets add)."
    ),
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
        new = keys.create(name, budget, period, team=team)
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


def _when(stamp: str | None, wide: bool) -> str:
    if stamp is None:
        return ""
    return stamp[:19].replace("T", " ") if wide else stamp[:10]


def _keys_table(rows: list[dict[str, Any]], wide: bool) -> Table:
    """A row per key; without ``wide``, no prefix and created columns and the
    revoked date without its time."""
    from llmtally.fit_table import plain_table, snug
    from llmtally.money import usd

    count = len(rows)
    table = plain_table(
        f"{count} gateway key{'' if count == 1 else 's'}; spent: in the current budget period",
        caption=None if wide else "prefix, created, times: a wider terminal or --json",
    )
    table.add_column("id", no_wrap=True)
    table.add_column("name (team)", overflow="fold", ratio=1)
    heads = ["prefix", "budget", "spent", "created", "revoked"]
    shown = heads if wide else ["budget", "spent", "revoked"]
    for head in shown:
        right = head in ("budget", "spent")
        table.add_column(head, justify="right" if right else "left", no_wrap=True)
    for row in rows:
        budget = row["budget_usd"]
        cells = {
            "prefix": row["prefix"] + "...",
            "budget": "none" if budget is None else f"{usd(Decimal(budget))}/{row['period']}",
            "spent": usd(Decimal(row["spent_usd"])),
            "created": _when(row["created_at"], wide),
            "revoked": _when(row["revoked_at"], wide),
        }
        name = row["name"] + (f" ({row['team']})" if row.get("team") else "")
        table.add_row(row["id"], name, *(cells[head] for head in shown))
    return snug(table)


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

    from llmtally.fit_table import fits

    console = Console(highlight=False)
    table = _keys_table(rows, wide=True)
    console.print(table if fits(console, table) else _keys_table(rows, wide=False))


@app.command("team")
def set_team(
    key: str = typer.Argument(..., metavar="ID|NAME", help="The key's id or name."),
    team: str | None = typer.Argument(None, help="The team; leave out to take the key out."),
    as_json: bool = JsonOption,
    database: str | None = DatabaseOption,
) -> None:
    """Put a key in a team (a group of keys that shares team budgets)."""
    from llmtally.ledger.keys import KeyStoreError

    keys = _keys(database)
    with keys.store:
        try:
            changed = keys.set_team(key, team)
        except KeyStoreError as exc:
            fail(str(exc), code=1)
    if as_json:
        print_json(key_json(changed))
        return
    where = f"in team {team!r}" if team else "in no team"
    typer.echo(f"Gateway key {changed.name!r} ({changed.id}) is {where}.")


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
