"""``llmtally reconcile fetch --provider openai|anthropic``: the providers' usage and
cost reports into the ledger (:mod:`llmtally.reconcile.fetch`), with a summary
that fits 80 columns: pages, buckets, rows stored / already there, the period.

``fetch`` is a plain function so that the ``reconcile`` command group registers
it (``group.command("fetch")(reconcile_fetch.fetch)``).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import typer

from llmtally.cli.calls_cmd import DatabaseOption
from llmtally.cli.calls_cmd import _open as open_ledger
from llmtally.cli.common import fail, print_json

if TYPE_CHECKING:
    from llmtally.reconcile.fetch import FetchSummary

__all__ = ["fetch", "render"]


def fetch(
    provider: str = typer.Option(..., "--provider", help="openai or anthropic."),
    since: str | None = typer.Option(
        None,
        "--since",
        help="Where a first fetch starts: 30d, 2026-11-01 (default 30d). Later runs "
        "start where the stored reports end.",
    ),
    account: str | None = typer.Option(
        None,
        "--account",
        help="The organization the reports are for (needed to fetch a second account "
        "of one provider).",
    ),
    max_pages: int = typer.Option(500, "--max-pages", min=1, help="Stop after this many pages."),
    database: str | None = DatabaseOption,
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Fetch the provider's own usage and cost reports with an admin key
    (OPENAI_ADMIN_KEY / ANTHROPIC_ADMIN_KEY), from where the last run stopped."""
    from rich.markup import escape
    from sqlalchemy.exc import SQLAlchemyError

    from llmtally.reconcile.admin_http import FetchError
    from llmtally.reconcile.fetch import PROVIDERS, fetch_reports

    if provider not in PROVIDERS:
        fail(f"--provider: {provider!r} is not one of {', '.join(PROVIDERS)}")
    start = _since(since)
    store = open_ledger(database)
    try:
        with store:
            summary = fetch_reports(
                store, provider, since=start, account=account, max_pages=max_pages
            )
    except FetchError as exc:
        if exc.summary is not None and exc.summary.total("pages"):
            _show(exc.summary, as_json)
        fail(escape(str(exc)), code=1)  # the API's words may hold [brackets]
    except SQLAlchemyError as exc:
        fail(f"the ledger database failed ({type(exc).__name__}); run again to resume", code=1)
    _show(summary, as_json)


def _since(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    from llmtally.analytics.filters import parse_since

    try:
        return parse_since(text)
    except ValueError as exc:
        fail(str(exc))


def _show(summary: FetchSummary, as_json: bool) -> None:
    if as_json:
        print_json(summary.to_json())
    else:
        typer.echo("\n".join(render(summary)))


def _date(moment: dt.datetime | None) -> str:
    return moment.strftime("%Y-%m-%d") if moment else "-"


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def render(summary: FetchSummary) -> list[str]:
    """The summary as lines of at most 80 characters; "up to" is where each report
    is now stored up to (UTC, that day excluded)."""
    lines = [
        f"{summary.provider}: {_count(summary.total('pages'), 'page')}, "
        f"{_count(summary.total('buckets'), 'day bucket')}, "
        f"{_count(summary.total('stored'), 'row')} stored, "
        f"{summary.total('already'):,} already there"
    ]
    period = summary.period()
    if period and period[0] < period[1]:
        lines.append(f"period: {_date(period[0])} to {_date(period[1])} (UTC days, end excluded)")
    elif period:
        lines.append(f"up to date: nothing after {_date(period[1])} 00:00 UTC to fetch yet")
    lines.append(f"{'report':<27}{'pages':>6}{'buckets':>9}{'stored':>9}{'already':>9}  up to")
    for report in summary.reports:
        up_to = report.last or (report.start if report.start >= report.end else None)
        lines.append(
            f"{report.kind:<27}{report.pages:>6,}{report.buckets:>9,}"
            f"{report.stored:>9,}{report.already:>9,}  {_date(up_to)}"
        )
    if summary.waited:
        lines.append(f"waited {summary.waited:.1f}s for rate limits and retries")
    if summary.stopped:
        lines.append(f"stopped: {summary.stopped}; run again to go on")
    return lines
