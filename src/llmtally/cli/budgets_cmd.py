"""``llmtally budgets add|list|remove``: budgets and rate limits on any scope."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

import typer

from llmtally.cli.common import CurrencyOption, fail, print_json

if TYPE_CHECKING:  # imported where used, so that the command line starts quickly
    from rich.table import Table

    from llmtally.budgets.book import BudgetBook
    from llmtally.budgets.rules import Budget
    from llmtally.currency import Converted

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


def budget_json(
    budget: Budget, state: tuple[Decimal, Decimal] | None = None, rate: Converted | None = None
) -> dict[str, Any]:
    """A budget as JSON, amounts as exact decimal strings (``amount``, ``spent``,
    ``reserved``: USD); with a ``rate``, ``shown`` in that currency and the rate."""
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
    if rate is not None:
        data["shown"] = _shown_json(budget, state, rate)
    return data


def _shown_json(
    budget: Budget, state: tuple[Decimal, Decimal] | None, rate: Converted
) -> dict[str, Any]:
    from llmtally.analytics.shown import rate_json
    from llmtally.budgets.rules import shown_limit, shown_money
    from llmtally.currency import money_json

    data: dict[str, Any] = {"limit": money_json(shown_limit(budget, rate))}
    if state is not None:
        data["spent"], data["reserved"] = (money_json(shown_money(x, rate)) for x in state)
    data["rate"] = rate_json(rate)
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
    spend: str | None = typer.Option(
        None, "--spend", help="A spend limit in --currency (USD, EUR, GBP, CNY, JPY)."
    ),
    currency: str | None = typer.Option(
        None, "--currency", help="The currency of --spend (default USD)."
    ),
    requests: int | None = typer.Option(None, "--requests", help="A request limit."),
    tokens: int | None = typer.Option(None, "--tokens", help="A token limit (input + output)."),
    period: str = typer.Option(
        "month", "--period", help="minute, day, week, month or total (UTC windows)."
    ),
    as_json: bool = JsonOption,
    database: str | None = DatabaseOption,
) -> None:
    """Add a budget (--usd, or --spend with --currency) or a rate limit (--requests or
    --tokens, e.g. per minute). A limit in another currency is converted to USD at the
    rate of each window's first day."""
    from llmtally.budgets.book import parse_amount
    from llmtally.budgets.rules import BudgetError

    scope, subject = _scope(
        {"key": key, "team": team, "user": user, "feature": feature, "tag": tag}
    )
    limits = {"usd": usd, "spend": spend, "requests": requests, "tokens": tokens}
    named = [(metric, value) for metric, value in limits.items() if value is not None]
    if len(named) != 1:
        fail("give exactly one of --usd, --spend, --requests, --tokens")
    metric, value = named[0]
    if currency is not None and metric != "spend":
        fail("--currency goes with --spend (--usd is in USD; requests and tokens are counts)")
    metric = "usd" if metric == "spend" else metric
    book = _book(database)
    with book.store:
        try:
            amount = parse_amount(str(value), metric)  # type: ignore[arg-type]
            budget = book.add(scope, subject, metric, period, amount, currency=currency or "USD")
        except BudgetError as exc:
            fail(str(exc), code=1)
    if as_json:
        print_json(budget_json(budget, rate=budget.rate))
        return
    typer.echo(f"Added budget {budget.id}: {budget.describe()} is {_amount(budget)}.")


def _amount(budget: Budget) -> str:
    from llmtally.budgets.rules import shown_limit
    from llmtally.currency import format_money

    if budget.metric != "usd":
        return f"{budget.amount:,.0f} {budget.metric}"
    text = format_money(shown_limit(budget, budget.rate))
    if budget.rate is None:
        return text
    return f"{text} ({_usd(budget.amount)} at {_rate_note(budget.rate)})"


def _rate_note(rate: Converted) -> str:
    """The rate for reading (6 significant digits; --json has it exact)."""
    from llmtally.analytics.shown import rate_text

    day = rate.rate_date.isoformat()
    return f"{rate_text(rate.rate)} {rate.amount.currency} per USD ({day}, {rate.source})"


def _usd(amount: Decimal) -> str:
    from llmtally.money import usd

    return usd(amount)


_UNIT = {"usd": "", "requests": " req", "tokens": " tok"}


def _figure(budget: Budget, amount: Decimal, rate: Converted | None = None) -> str:
    """An amount in a table cell: money (at the budget's shown rate), or a count
    (the unit is in the limit)."""
    from llmtally.budgets.rules import shown_money
    from llmtally.currency import format_money

    if budget.metric != "usd":
        return f"{amount:,.0f}"
    return format_money(shown_money(amount, rate))


def _limit(budget: Budget, rate: Converted | None) -> str:
    from llmtally.budgets.rules import shown_limit
    from llmtally.currency import format_money

    if budget.metric != "usd":
        return _figure(budget, budget.amount) + _UNIT[budget.metric]
    return format_money(shown_limit(budget, rate))


def _table(
    budgets: list[Budget],
    states: dict[str, tuple[Decimal, Decimal]],
    rates: dict[str, Converted | None],
) -> Table:
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
    notes = dict.fromkeys(_rate_note(r) for r in rates.values() if r is not None)
    if notes:
        table.caption = "\n".join(["exact amounts: --json", *(f"at {n}" for n in notes)])
    for budget in budgets:
        spent, reserved = states[budget.id]
        rate = rates[budget.id]
        limit = _limit(budget, rate)
        name = Text(f"{budget.scope} {budget.label or budget.subject}\n")
        name.append(budget.id, style="dim")  # whole on its own line: budgets remove ID
        table.add_row(
            name,
            f"{limit}/{budget.period}",
            _figure(budget, spent, rate),
            _figure(budget, reserved, rate),
        )
    return snug(table)


@app.command("list")
def list_budgets(
    as_json: bool = JsonOption,
    currency: str | None = CurrencyOption,
    database: str | None = DatabaseOption,
) -> None:
    """Every budget, with what is spent and reserved in its current window; money in
    the budget's own currency, else --currency (at the rate of the window's first day)."""
    from llmtally.budgets.counters import BudgetCounters

    code = _code(currency)
    book = _book(database)
    with book.store:
        budgets = book.all()
        states = BudgetCounters(book.store).state(budgets)
        rates = _rates(book, budgets, code)
    if as_json:
        print_json([budget_json(b, states[b.id], rates[b.id]) for b in budgets])
        return
    if not budgets:
        typer.echo(
            "No budgets yet. Add one, for example:\n"
            "  llmtally budgets add --team search --usd 500 --period month\n"
            "  llmtally budgets add --key ci --requests 60 --period minute"
        )
        return
    from rich.console import Console

    Console(highlight=False).print(_table(budgets, states, rates))


def _code(given: str | None) -> str:
    from llmtally.config import display_currency
    from llmtally.currency import UnknownCurrencyError

    try:
        return display_currency(given)
    except UnknownCurrencyError as exc:
        fail(f"--currency: {exc}")


def _rates(book: BudgetBook, budgets: list[Budget], code: str) -> dict[str, Converted | None]:
    """Each budget's shown rate (None: in USD); a missing rate fails cleanly."""
    import datetime as dt

    from llmtally.budgets.rules import shown_rate
    from llmtally.currency import NoRateError, RatesFileError, RateTable

    now = dt.datetime.now(dt.UTC)
    try:
        table = book.rates() if code != "USD" else RateTable()
        return {b.id: shown_rate(b, code, now, table) for b in budgets}
    except (NoRateError, RatesFileError) as exc:
        fail(f"--currency {code}: {exc}")


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
