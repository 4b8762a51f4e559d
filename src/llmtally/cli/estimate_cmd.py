"""``llmtally estimate``: a workload file on many models, or logged traffic re-priced."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from llmtally.cli.calls_cmd import DatabaseOption, parse_since
from llmtally.cli.calls_cmd import _open as open_ledger
from llmtally.cli.common import HomeOption, OverrideOption, fail, open_catalog, print_json

if TYPE_CHECKING:  # imported where used, so that the command line starts quickly
    from llmtally.catalog import Catalog
    from llmtally.catalog.provisioned import Capacity
    from llmtally.estimate.provisioned import Comparison
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


@dataclass(frozen=True, slots=True)
class _Provisioned:
    """What --provisioned and its options ask for."""

    offer: str
    term: str
    units: int | None
    unit_price: str | None
    tokens_per_minute: str | None
    output_weight: str | None
    utilisation: str
    hours_per_month: str
    offers_file: Path | None
    output_units: int | None = None


_LARGEST = Decimal(10) ** 12


def _decimal(option: str, text: str | None) -> Decimal | None:
    if text is None:
        return None
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        fail(f"{option}: not a number: {text!r}")
    if not value.is_finite() or len(text) > 40 or abs(value) > _LARGEST:
        fail(f"{option}: not a number from -10^12 to 10^12: {text!r}")
    return value


def _capacity(ask: _Provisioned) -> Capacity:
    from llmtally.catalog import CatalogFileError
    from llmtally.catalog.provisioned import ProvisionedError, capacity, load_offers

    if ask.units is None:
        fail("--provisioned needs --units (how many units are held)")
    try:
        offers = load_offers(ask.offers_file)
        return capacity(
            offers,
            ask.offer,
            ask.term,
            ask.units,
            _decimal("--utilisation", ask.utilisation) or Decimal(0),
            unit_price=_decimal("--unit-price", ask.unit_price),
            tokens_per_minute=_decimal("--tokens-per-minute", ask.tokens_per_minute),
            output_weight=_decimal("--output-weight", ask.output_weight),
            output_units=ask.output_units,
        )
    except (ProvisionedError, CatalogFileError) as exc:
        fail(f"--provisioned: {exc}")


def _compare(est: Estimate, ask: _Provisioned) -> list[Comparison]:
    from llmtally.catalog.provisioned import ProvisionedError
    from llmtally.estimate.provisioned import compare

    hours = _decimal("--hours-per-month", ask.hours_per_month) or Decimal(0)
    try:
        return compare(est, _capacity(ask), hours)
    except ProvisionedError as exc:
        fail(f"--provisioned: {exc}")


def _currency(code: str | None, provisioned: bool, from_ledger: bool) -> str | None:
    """The --currency asked for (upper case, known), USD where the figures can only
    be USD (provisioned offers and the ledger are priced in USD), or None: the
    estimate picks (the prices' one currency, else USD)."""
    if code is None:
        return "USD" if provisioned else None
    from llmtally.currency import UnknownCurrencyError, currency

    try:
        found = currency(code.strip().upper()).code
    except UnknownCurrencyError as exc:
        fail(f"--currency: {exc}")
    if found != "USD" and (provisioned or from_ledger):
        what = "--provisioned offers" if provisioned else "--from-ledger (the ledger)"
        fail(f"--currency {found}: {what} are in USD; leave --currency out or give USD")
    return found


def _workload(
    catalog: Catalog,
    path: Path,
    models: list[str] | None,
    at: dt.datetime | None,
    out: tuple[bool, Path | None],
    provisioned: _Provisioned | None,
    code: str | None = None,
) -> None:
    from rich.console import Console

    from llmtally.currency import RatesFileError
    from llmtally.estimate.engine import estimate
    from llmtally.estimate.files import WorkloadError, read_workload
    from llmtally.estimate.render import estimate_tables, provisioned_notes, provisioned_table

    as_json, html = out
    try:
        est = estimate(read_workload(path), models, catalog=catalog, at=at, currency=code)
    except WorkloadError as exc:
        fail(str(exc))
    except RatesFileError as exc:  # the user's rates override file
        fail(f"exchange rates: {exc}")
    rows = _compare(est, provisioned) if provisioned is not None else None
    if html is not None:
        _html_page(est, html)
    if as_json:
        data = est.as_json()
        if rows is not None:
            data["provisioned"] = [row.as_json() for row in rows]
        print_json(data)
        return
    console = Console(highlight=False)
    for part in estimate_tables(est):
        console.print(part)
    if rows:
        console.print(provisioned_table(rows))
        notes = provisioned_notes(rows)
        if notes is not None:
            console.print(notes)
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
    provisioned: str | None = typer.Option(
        None,
        "--provisioned",
        help="Compare on-demand with this provisioned-capacity offer (e.g. azure-global/gpt-4o).",
    ),
    units: int | None = typer.Option(None, "--units", help="With --provisioned: units held."),
    term: str = typer.Option(
        "hourly",
        "--term",
        help="With --provisioned: hourly, monthly, yearly, 1-week, 1-month, 3-month, 6-month, "
        "1-year (the offer's own).",
    ),
    output_units: int | None = typer.Option(
        None,
        "--output-units",
        help="With --provisioned: output-side units held, where the offer sells output "
        "capacity apart (Bedrock Reserved: units of 1K output TPM).",
    ),
    unit_price: str | None = typer.Option(
        None, "--unit-price", help="With --provisioned: USD per unit-hour at the term."
    ),
    tokens_per_minute: str | None = typer.Option(
        None, "--tokens-per-minute", help="With --provisioned: input tokens a minute per unit."
    ),
    output_weight: str | None = typer.Option(
        None, "--output-weight", help="With --provisioned: input tokens one output token uses."
    ),
    utilisation: str = typer.Option(
        "1", "--utilisation", help="With --provisioned: share of the capacity used (0-1]."
    ),
    hours_per_month: str = typer.Option(
        "720", "--hours-per-month", help="With --provisioned: hours billed a month."
    ),
    offers_file: Path | None = typer.Option(
        None, "--offers", help="With --provisioned: your own offers file (same form as shipped)."
    ),
    currency: str | None = typer.Option(
        None,
        "--currency",
        help="Show amounts in this currency (USD, EUR, GBP, CNY, JPY), converted at the "
        "price date's rate (default: the prices' own if all share one, else USD).",
    ),
) -> None:
    """Projected cost of a workload on each model (cheapest first), or what the
    logged calls would have cost on other models (--from-ledger)."""
    names = _models(models)
    moment = _at(at)
    code = _currency(currency, provisioned is not None, from_ledger)
    ask = None
    if provisioned is not None:
        ask = _Provisioned(
            provisioned,
            term,
            units,
            unit_price,
            tokens_per_minute,
            output_weight,
            utilisation,
            hours_per_month,
            offers_file,
            output_units,
        )
    if from_ledger:
        if ask is not None:
            fail("--provisioned is for workload files, not --from-ledger")
        if workload is not None:
            fail("give a workload file or --from-ledger, not both")
        if html is not None:
            fail("--html is for workload files; use --json with --from-ledger")
        catalog = open_catalog(home, prices_file)
        _from_ledger(catalog, names, (since, until, by), moment, as_json, database)
        return
    if workload is None:
        fail("give a workload file (see examples/), or --from-ledger")
    catalog = open_catalog(home, prices_file)
    _workload(catalog, workload, names, moment, (as_json, html), ask, code)
