"""What every command shares: opening the catalog, printing JSON, failing cleanly."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer

if TYPE_CHECKING:  # imported where used: a command loads only what it needs
    from rich.console import Console

    from llmtally.analytics.shown import Shown
    from llmtally.catalog import Catalog

__all__ = [
    "CurrencyOption",
    "HomeOption",
    "OverrideOption",
    "fail",
    "open_catalog",
    "print_json",
    "reader_gone",
    "shown_currency",
    "stderr",
]

HomeOption = typer.Option(None, "--home", help="Data folder (env LLMTALLY_HOME).")
OverrideOption = typer.Option(
    None, "--prices-file", help="Override file: discounts, custom models (env LLMTALLY_PRICES)."
)

CurrencyOption = typer.Option(
    None,
    "--currency",
    help="Show money in USD, EUR, GBP, CNY or JPY at dated rates (env LLMTALLY_CURRENCY).",
)


def stderr() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def fail(message: str, code: int = 2) -> NoReturn:
    stderr().print(f"[bold red]error:[/] {message}", markup=True, soft_wrap=True)
    raise typer.Exit(code)


def open_catalog(home: Path | None = None, override: Path | None = None) -> Catalog:
    """The catalog as every command opens it (:func:`llmtally.config.open_catalog`);
    a bad price file is an error message, not a traceback."""
    from llmtally.catalog import CatalogFileError
    from llmtally.config import open_catalog as open_configured

    try:
        return open_configured(home, override)
    except CatalogFileError as exc:
        fail(str(exc))


def shown_currency(code: str | None) -> Shown:
    """The currency to show money in (``--currency``, the setting, USD) with the
    rate table (shipped + override file); a bad code or rate file fails cleanly."""
    from llmtally.analytics.shown import Shown
    from llmtally.config import display_currency
    from llmtally.currency import RatesFileError, RateTable, UnknownCurrencyError, open_rates

    try:
        chosen = display_currency(code)
    except UnknownCurrencyError as exc:
        fail(f"{'--currency' if code else 'the currency setting (LLMTALLY_CURRENCY)'}: {exc}")
    if chosen == "USD":
        return Shown(chosen, RateTable())  # no conversion: no rate file is read
    try:
        return Shown(chosen, open_rates())
    except RatesFileError as exc:
        fail(str(exc))


def reader_gone() -> NoReturn:
    """Stdout's reader closed early (``| head``): stop quietly, exit 0. Stdout is
    pointed at /dev/null first, so the flush at exit raises nothing either."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    raise typer.Exit(0)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
