"""``llmtally estimate``: a workload file on many models, or logged traffic re-priced."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from llmtally.cli.calls_cmd import DatabaseOption, parse_since
from llmtally.cli.calls_cmd import _open as open_ledger
from llmtally.cli.common import HomeOption, OverrideOption, fail, open_catalog, print_json

if TYPE_CHECKING:  # imported where used, so that the command line starts quickly
    from llmtally.catalog import Catalog
    from llmtally.estimate.result import Estimate

__all__ = ["estimate"]


def _models(text: str | None) -> list[str] | None:
    if text is None:
        return None
    if text.strip().lower() == "default":
        from llmtally.estimate.engine import DEFAULT_MODELS

        return list(DEFAULT_MODELS)
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        fail("--models: give model names separated by commas, or 'default'")
    return names


def _at(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    from llmtally.costing import parse_time

    try:
        return parse_time(text)
    except ValueError as exc:
        fail(f"--at: {exc}")


def _html_page(est: Estimate, out: Path) -> None:
    from llmtally.estimate.html import estimate_html
    from llmtally.web.static import plotly_js

    try:
        page = estimate_html(est, plotly_js().read_text(encoding="utf-8"))
        out.write_text(page, encoding="utf-8")
    except OSError as exc:
        fail(f"--html: cannot write {out}: {exc.strerror or exc}")


def _workload(
    catalog: Catalog,
    path: Path,
    models: list[str] | None,
    at: dt.datetime | None,
    as_json: bool,
    html: Path | None,
) -> None:
    from rich.console import Console

    from llmtally.estimate.engine import estimate
    from llmtally.estimate.files import WorkloadError, read_workload
    from llmtally.estimate.render import estimate_tables

    try:
        est = estimate(read_workload(path), models, catalog=catalog, at=at)
    except WorkloadError as exc:
        fail(str(exc))
    if html is not None:
        _html_page(est, html)
    if as_json:
        print_json(est.as_json())
        return
    console = Console(highlight=False)
    for part in estimate_tables(est):
        console.print(part)
    if html is not None:
        console.print(f"wrote {html}")


def _from_ledger(
    catalog: Catalog,
    models: list[str] | None,
    window: tuple[str, str | None, str],
    at: dt.datetime | None,
    as_json: bool,
    database: str | None,
) -> None:
    from rich.console import Console

    from llmtally.estimate.render import reprice_tables
    from llmtally.estimate.repricing import BY, reprice

    since_text, until_text, by = window
    if by not in BY:
        fail(f"--by: {by!r} is not one of {', '.join(BY)}")
    if not models:
        fail("--from-ledger needs --models (names separated by commas, or 'default')")
    try:
        since = parse_since(since_text)
        until = None if until_text is None else parse_since(until_text)
    except ValueError as exc:
        fail(str(exc))
    try:
        with open_ledger(database) as store:
            result = reprice(store, models, since, until, by, catalog=catalog, at=at)
    except (LookupError, ValueError) as exc:
        fail(f"--models: {exc}" if isinstance(exc, LookupError) else str(exc))
    if as_json:
        print_json(result.as_json())
        return
    console = Console(highlight=False)
    for part in reprice_tables(result):
        console.print(part)


def estimate(
    workload: Path | None = typer.Argument(
        None, metavar="[WORKLOAD.yaml]", help="A workload file (see examples/)."
    ),
    models: str | None = typer.Option(
        None, "--models", help="Models to compare, comma-separated, or 'default'."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (exact decimal strings)."),
    html: Path | None = typer.Option(
        None, "--html", help="Also write a self-contained HTML page with charts."
    ),
    at: str | None = typer.Option(
        None, "--at", help="Prices in force at this date/time (default: the file's, else now)."
    ),
    from_ledger: bool = typer.Option(
        False, "--from-ledger", help="Re-price the calls in the ledger on --models."
    ),
    since: str = typer.Option("30d", "--since", help="With --from-ledger: 30m, 6h, 7d, a date."),
    until: str | None = typer.Option(None, "--until", help="With --from-ledger: end (excluded)."),
    by: str = typer.Option(
        "feature", "--by", help="With --from-ledger: feature, model, provider, user or key."
    ),
    database: str | None = DatabaseOption,
    home: Path | None = HomeOption,
    prices_file: Path | None = OverrideOption,
) -> None:
    """Projected cost of a workload on each model (cheapest first), or what the
    logged calls would have cost on other models (--from-ledger)."""
    names = _models(models)
    moment = _at(at)
    if from_ledger:
        if workload is not None:
            fail("give a workload file or --from-ledger, not both")
        if html is not None:
            fail("--html is for workload files; use --json with --from-ledger")
        catalog = open_catalog(home, prices_file)
        _from_ledger(catalog, names, (since, until, by), moment, as_json, database)
        return
    if workload is None:
        fail("give a workload file (see examples/), or --from-ledger")
    _workload(open_catalog(home, prices_file), workload, names, moment, as_json, html)
