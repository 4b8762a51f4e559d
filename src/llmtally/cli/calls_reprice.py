"""``llmtally calls reprice``: price again the calls stored without a price, now
that their price or exchange rate is known (:mod:`llmtally.ledger.reprice`)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from llmtally.cli.calls_cmd import DatabaseOption, parse_since
from llmtally.cli.calls_cmd import _open as open_ledger
from llmtally.cli.common import OverrideOption, fail, open_catalog, print_json

if TYPE_CHECKING:
    from llmtally.ledger.reprice import RepriceResult

__all__ = ["reprice", "reprice_json"]

SHOWN = 160  # characters of a reason shown (--json has it whole)


def _moment(text: str | None, name: str) -> dt.datetime | None:
    if text is None:
        return None
    try:
        return parse_since(text) if name == "--since" else _until(text)
    except ValueError as exc:
        fail(str(exc))


def _until(text: str) -> dt.datetime:
    from llmtally.analytics.filters import parse_since as parse

    return parse(text, name="--until")


def _check_rates() -> None:
    """Refuse to start while the rates file cannot be used: the calls billed in
    another currency would stay unpriced for a reason the user cannot see."""
    from llmtally.currency import RatesFileError, open_rates

    try:
        open_rates()
    except RatesFileError as exc:
        fail(f"{exc}\nnothing re-priced: fix the rates file (or unset LLMTALLY_RATES)")


def reprice(
    since: str | None = typer.Option(None, "--since", help="From: 30m, 6h, 7d, or a date/time."),
    until: str | None = typer.Option(None, "--until", help="End (excluded): 1d, or a date/time."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Change nothing; say what would be."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (exact amounts)."),
    override: Path | None = OverrideOption,
    database: str | None = DatabaseOption,
) -> None:
    """Price again the calls stored without a price (all of them, or those that
    started in --since..--until) with the current catalog and rates, each at the
    price in force when it started; the rollups are rebuilt in the same
    transaction. Priced calls are never changed."""
    from sqlalchemy.exc import SQLAlchemyError

    from llmtally.ledger.reprice import reprice as run

    start, end = _moment(since, "--since"), _moment(until, "--until")
    if start is not None and end is not None and end <= start:
        fail(f"--until ({end:%Y-%m-%d %H:%M}) must be after --since ({start:%Y-%m-%d %H:%M})")
    catalog = open_catalog(None, override)
    _check_rates()
    with open_ledger(database) as store:
        try:
            result = run(store, catalog, start, end, dry_run=dry_run)
        except SQLAlchemyError as exc:
            fail(f"the ledger database failed ({type(exc).__name__}): nothing changed", code=1)
    if as_json:
        print_json(reprice_json(result))
    else:
        for line in _lines(result):
            typer.echo(line)


def reprice_json(result: RepriceResult) -> dict[str, Any]:
    """The run's figures, amounts as exact decimal strings."""
    from llmtally.meter import decimal_text

    return {
        "dry_run": result.dry_run,
        "repriced": {
            "calls": result.repriced,
            "cost_usd": decimal_text(result.cost_usd),
            "by_currency": {
                code: {
                    "calls": b.calls,
                    "billed": decimal_text(b.billed),
                    "cost_usd": decimal_text(b.cost_usd),
                }
                for code, b in sorted(result.by_currency.items())
            },
        },
        "unpriced": {
            "calls": result.unpriced,
            "reasons": [
                {"kind": kind, "calls": r.calls, "first": r.first}
                for kind, r in result.reasons.items()
            ],
        },
        "rollups": {
            "rebuilt": result.rollup_calls is not None,
            "calls_read": result.rollup_calls,
        },
    }


def _calls(n: int) -> str:
    return "1 call" if n == 1 else f"{n:,} calls"


def _lines(result: RepriceResult) -> list[str]:
    from llmtally.meter import decimal_text

    verb = "would be re-priced" if result.dry_run else "re-priced"
    lines = [f"{_calls(result.repriced)} {verb}: ${decimal_text(result.cost_usd)} in all"]
    for code, b in sorted(result.by_currency.items()):
        billed = "" if code == "USD" else f"{decimal_text(b.billed)} {code} billed = "
        lines.append(f"  billed in {code}: {_calls(b.calls)}, {billed}${decimal_text(b.cost_usd)}")
    lines.append(f"{_calls(result.unpriced)} still unpriced")
    for kind, reason in result.reasons.items():
        first = reason.first if len(reason.first) <= SHOWN else reason.first[:SHOWN] + "..."
        lines.append(f"  {kind}: {_calls(reason.calls)}, e.g. {first}")
    if result.dry_run:
        lines.append("dry run: nothing changed (a run rebuilds the rollups if it re-prices any)")
    elif result.rollup_calls is not None:
        lines.append(f"rollups rebuilt from {_calls(result.rollup_calls)}")
    else:
        lines.append("nothing changed: the rollups were not rebuilt")
    return lines
