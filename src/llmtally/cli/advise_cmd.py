"""``llmtally advise``: recommendations with the dollars each saves a month, as a
table (each with its assumptions and how to apply it below) or exact JSON.

``advise_app`` is a command group: run bare (``llmtally advise --since 30d``) its
callback gives the advice as before; subcommands (``advise verify``, registered in
:mod:`llmtally.cli.advise_verify`, and others in their own modules) hang off it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

import typer

from llmtally.cli.calls_cmd import DatabaseOption, parse_since
from llmtally.cli.calls_cmd import _open as open_ledger
from llmtally.cli.common import fail, open_catalog, print_json

if TYPE_CHECKING:  # imported where used, so that the command line starts quickly
    from rich.console import Console

    from llmtally.advisor import Advice

__all__ = ["advise", "advise_app"]

advise_app = typer.Typer(
    help="Recommendations with the dollars each saves a month, and the evidence for them.",
    invoke_without_command=True,
)


def _floor(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        fail(f"--floor: {text!r} is not an amount in USD (e.g. 1 or 0.50)")
    if not value.is_finite() or value < 0:
        fail(f"--floor: {text!r} must be a USD amount of 0 or more")
    return value


def _moment(text: str, name: str) -> dt.datetime:
    try:
        return parse_since(text)
    except ValueError as exc:
        fail(str(exc).replace("--since", name, 1))


def _where(where: dict[str, str]) -> str:
    return f"{where['feature']}\n{where['model']}"


def _print(console: Console, advice: Advice) -> None:
    from rich import box
    from rich.table import Table

    from llmtally.fit_table import snug
    from llmtally.money import usd

    window = f"{advice.since:%Y-%m-%d %H:%M} to {advice.until:%Y-%m-%d %H:%M} UTC"
    table = Table(
        title=f"advice, traffic of {window}",
        box=box.SIMPLE,
        show_footer=True,
        show_edge=False,
        padding=(0, 1, 0, 0),
    )
    table.add_column("#", justify="right", footer="", no_wrap=True)
    table.add_column("recommendation", overflow="fold", footer="all together", ratio=1)
    table.add_column("where", overflow="fold", ratio=1)
    table.add_column("$/month", justify="right", no_wrap=True, footer=usd(advice.monthly_saving))
    table.add_column("confidence", no_wrap=True)
    for n, item in enumerate(advice.recommendations, 1):
        saving = usd(item.monthly_saving)
        table.add_row(str(n), item.title, _where(item.where), saving, item.confidence.level)
    if advice.recommendations:  # money and counts as wide as they are; names share the rest
        console.print(snug(table))
    for n, item in enumerate(advice.recommendations, 1):
        where = f"{item.where['feature']} on {item.where['model']}"
        console.print(f"\n[bold]{n}. {item.title}[/]: {where} ({item.calls:,} calls)")
        _indented(console, f"confidence {item.confidence.level}: {item.confidence.why}")
        for said in item.assumptions:
            _indented(console, f"assumes: {said}")
        _indented(console, "how to apply:")
        _indented(console, item.how_to_apply, 4)
    if advice.considered:
        console.print("\n[bold]considered, not recommended[/]")
        for left in advice.considered:
            where = f"{left.where['feature']} on {left.where['model']}"
            _indented(console, f"{left.kind}, {where}: {left.reason}")


def _indented(console: Console, text: str, indent: int = 2) -> None:
    """``text`` wrapped to the console, every line indented (no markup read)."""
    from rich.padding import Padding
    from rich.text import Text

    console.print(Padding(Text(text), (0, 0, 0, indent), expand=False))


@advise_app.callback(invoke_without_command=True)
def advise(
    ctx: typer.Context,
    since: str = typer.Option("30d", "--since", help="30d, 2w, or a date/time."),
    until: str | None = typer.Option(None, "--until", help="End (excluded): a date/time."),
    floor: str = typer.Option("1", "--floor", help="Recommend nothing saving less, USD/month."),
    as_json: bool = typer.Option(False, "--json", help="Exact JSON (docs/advice-schema.md)."),
    database: str | None = DatabaseOption,
) -> None:
    """Recommendations with the dollars each saves a month at the period's traffic."""
    if ctx.invoked_subcommand is not None:  # `advise verify ...`: the subcommand's own options
        return
    from llmtally.advisor import advise as run_advisor
    from llmtally.advisor.export import advice_json
    from llmtally.advisor.realised import with_realised

    least = _floor(floor)
    start = _moment(since, "--since")
    end = None if until is None else _moment(until, "--until")
    catalog = open_catalog()
    try:
        with open_ledger(database) as store:
            advice = with_realised(store, catalog, run_advisor(store, catalog, start, end, least))
    except ValueError as exc:
        fail(str(exc))
    if as_json:
        print_json(advice_json(advice))
        return
    from rich.console import Console

    from llmtally.cli.advise_applied import print_realised

    console = Console(highlight=False)
    if not advice.recommendations:
        console.print("nothing to recommend above the floor in this period")
    _print(console, advice)
    print_realised(console, advice.realised)
