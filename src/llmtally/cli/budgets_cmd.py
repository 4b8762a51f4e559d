"""``llmtally budgets add|list|remove``: budgets and rate limits on any scope."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

import typer

from llmtally.cli.common import fail, print_json

if TYPE_CHECKING:  # imported where used, so that the command line starts quickly
    from rich.table import Table

    from llmtally.budgets.book import BudgetBook
    from llmtally.budgets.rules import Budget

__all__ = ["app", "budget_json"]

app = typer.Typer(
    help="Budgets and rate limits on keys, teams, users, features and tags.",
    no_args_is_help=True,
)
DatabaseOption = typer.Option(
    None, "--database", help="Ledger database URL (env LLMTALLY_DATABASE_URL)."
)
JsonOption = typer.Option(False, "--json", help="Print JSON instead of text.")
_SCOPE_OPTIONS = ("key", "team", "user", "feature", "tag")


def _book(database: str | None) -> BudgetBook:
    from sqlalchemy.exc import SQLAlchemyError

    from llmtally.budgets.book import BudgetBook
    from llmtally.ledger import open_store

    try:
        return BudgetBook(open_store(database))
    except (SQLAlchemyError, ValueError, OSError) as exc:
        fail(f"cannot open the ledger: {exc}", code=1)


def budget_json(budget: Budget, state: tuple[Decimal, Decimal] | None = None) -> dict[str, Any]:
    """A budget as JSON, amounts as exact decimal strings."""
    from llmtally.meter import decimal_text

    data: dict[str, Any] = {
        "id": budget.id,
        "scope": budget.scope,
        "subject": budget.subject,
        "name": budget.label or budget.subject,
        "metric": budget.metric,
        "period": budget.period,
        "amount": decimal_text(budget.amount),
    }
    if state is not None:
        data["spent"], data["reserved"] = (decimal_text(x) for x in state)
    return data


def _scope(given: dict[str, str | None]) -> tuple[str, str]:
    chosen = [(scope, value) for scope, value in given.items() if value is not None]
    if len(chosen) != 1:
        fail("name exactly one of --key, --team, --user, --feature, --tag")
    scope, value = chosen[0]
    assert value is not None
    return scope, value


@app.command("add")
def add(
    key: str | None = typer.Option(None, "--key", help="A gateway key's name or id."),
    team: str | None = typer.Option(None, "--team", help="A team of keys."),
    user: str | None = typer.Option(None, "--user", help="A user (x-llmtally-user)."),
    feature: str | None = typer.Option(None, "--feature", help="A feature (x-llmtally-feature)."),
    tag: str | None = typer.Option(None, "--tag", help="A tag (x-llmtally-tags)."),
    usd: str | None = typer.Option(None, "--usd", help="A spend limit in USD."),
    requests: int | None = typer.Option(None, "--requests", help="A request limit."),
    tokens: int | None = typer.Option(None, "--tokens", help="A token limit (input + output)."),
    period: str = typer.Option(
        "month", "--period", help="minute, day, week, month or total (UTC windows)."
    ),
    as_json: bool = JsonOption,
    database: str | None = DatabaseOption,
) -> None:
    """Add a budget (--usd) or a rate limit (--requests or --tokens, e.g. per minute)."""
    from llmtally.budgets.book import parse_amount
    from llmtally.budgets.rules import BudgetError

    scope, subject = _scope(
        {"key": key, "team": team, "user": user, "feature": feature, "tag": tag}
    )
    limits = {"usd": usd, "requests": requests, "tokens": tokens}
    named = [(metric, value) for metric, value in limits.items() if value is not None]
    if len(named) != 1:
        fail("give exactly one of --usd, --requests, --tokens")
    metric, value = named[0]
    book = _book(database)
    with book.store:
        try:
            amount = parse_amount(str(value), metric)  # type: ignore[arg-type]
            budget = book.add(scope, subject, metric, period, amount)
        except BudgetError as exc:
            fail(str(exc), code=1)
    if as_json:
        print_json(budget_json(budget))
        return
    typer.echo(f"Added budget {budget.id}: {budget.describe()} is {_amount(budget, amount)}.")


def _amount(budget: Budget, amount: Decimal) -> str:
    from llmtally.money import usd

    return usd(amount) if budget.metric == "usd" else f"{amount:,.0f} {budget.metric}"


_UNIT = {"usd": "", "requests": " req", "tokens": " tok"}


def _figure(budget: Budget, amount: Decimal) -> str:
    """An amount in a table cell: dollars, or a count (the unit is in the limit)."""
    from llmtally.money import usd

    return usd(amount) if budget.metric == "usd" else f"{amount:,.0f}"


def _table(budgets: list[Budget], states: dict[str, tuple[Decimal, Decimal]]) -> Table:
    from rich.text import Text

    from llmtally.fit_table import plain_table, snug

    count = len(budgets)
    table = plain_table(
        f"{count} budget{'' if count == 1 else 's'}; spent and reserved: in the current window",
        caption="exact amounts: --json",
    )
    widest_id = max((len(b.id) for b in budgets), default=2)
    table.add_column("budget (id)", overflow="fold", min_width=widest_id)
    for head in ("limit", "spent", "reserved"):
        table.add_column(head, justify="right", no_wrap=True)
    for budget in budgets:
        spent, reserved = states[budget.id]
        limit = _figure(budget, budget.amount) + _UNIT[budget.metric]
        name = Text(f"{budget.scope} {budget.label or budget.subject}\n")
        name.append(budget.id, style="dim")  # whole on its own line: budgets remove ID
        table.add_row(
            name,
            f"{limit}/{budget.period}",
            _figure(budget, spent),
            _figure(budget, reserved),
        )
    return snug(table)


@app.command("list")
def list_budgets(as_json: bool = JsonOption, database: str | None = DatabaseOption) -> None:
    """Every budget, with what is spent and reserved in its current window."""
    from llmtally.budgets.counters import BudgetCounters

    book = _book(database)
    with book.store:
        budgets = book.all()
        states = BudgetCounters(book.store).state(budgets)
    if as_json:
        print_json([budget_json(b, states[b.id]) for b in budgets])
        return
    if not budgets:
        typer.echo(
            "No budgets yet. Add one, for example:\n"
            "  llmtally budgets add --team search --usd 500 --period month\n"
            "  llmtally budgets add --key ci --requests 60 --period minute"
        )
        return
    from rich.console import Console

    Console(highlight=False).print(_table(budgets, states))


@app.command("remove")
def remove(
    budget_id: str = typer.Argument(..., metavar="ID", help="The budget's id (budgets list)."),
    as_json: bool = JsonOption,
    database: str | None = DatabaseOption,
) -> None:
    """Remove a budget: the gateway stops applying it within a second."""
    from llmtally.budgets.rules import BudgetError

    book = _book(database)
    with book.store:
        try:
            removed = book.remove(budget_id)
        except BudgetError as exc:
            fail(str(exc), code=1)
    if as_json:
        print_json(budget_json(removed))
        return
    typer.echo(f"Removed budget {removed.id} ({removed.describe()}).")
