"""``llmtally prices [PATTERN]`` and ``llmtally prices import --format F FILE``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from llmtally.catalog.price_text import (
    TIERS_SUBTITLE,
    TIERS_TITLE,
    PriceSigns,
    tier_rates,
    tier_when,
)
from llmtally.cli.common import HomeOption, OverrideOption, fail, open_catalog, print_json, stderr
from llmtally.config import data_home

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from llmtally.catalog.importers import ImportResult
    from llmtally.catalog.listing import PriceRow

__all__ = ["prices"]

_FORMATS = ("litellm", "genai-prices")


NARROW_NOTE = "kind, batch prices, since: a wider terminal or --json"
THINKING = "thinking"


def _batch(r: PriceRow, signs: PriceSigns) -> str:
    if r.batch_input is None:
        return "-"
    return f"{signs.rate(r.batch_input, r.currency)}/{signs.rate(r.batch_output, r.currency)}"


def _prices(r: PriceRow, signs: PriceSigns, thinking: bool) -> list[str]:
    """input, cached in, output and (where a shown row has one) thinking output."""
    shown = [r.input, r.cache_read, r.output, *([r.output_thinking] if thinking else [])]
    return [signs.rate(v, r.currency) for v in shown]


def _wide(rows: list[PriceRow], signs: PriceSigns) -> Table:
    """Every column, each cell on one line."""
    from llmtally.fit_table import plain_table

    thinking = any(r.output_thinking is not None for r in rows)
    table = plain_table(signs.title())
    for name in ("provider", "model", "kind"):
        table.add_column(name, no_wrap=True)
    money = ("input", "cached in", "output", *([THINKING] if thinking else ()))
    for name in (*money, "batch in/out", "context"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("since", no_wrap=True)
    for r in rows:
        table.add_row(
            r.provider,
            r.model,
            r.kind,
            *_prices(r, signs, thinking),
            _batch(r, signs),
            f"{r.context_window:,}" if r.context_window else "-",
            r.effective.isoformat() if r.effective else "launch",
        )
    return table


def _narrow(rows: list[PriceRow], signs: PriceSigns) -> Table:
    """provider/model (folded if it must be), the prices and the context."""
    from llmtally.fit_table import plain_table

    thinking = any(r.output_thinking is not None for r in rows)
    table = plain_table(signs.title(), caption=NARROW_NOTE)
    table.add_column("provider/model", overflow="fold", ratio=1)
    money = ("input", "cached in", "output", *([THINKING] if thinking else ()))
    for name in (*money, "context"):
        table.add_column(name, justify="right", no_wrap=True)
    for r in rows:
        table.add_row(
            f"{r.provider}/{r.model}",
            *_prices(r, signs, thinking),
            f"{r.context_window:,}" if r.context_window else "-",
        )
    return table


def _table(rows: list[PriceRow], console: Console) -> Table:
    """Every column when they fit the terminal, else the narrow layout: money
    and names are never cut."""
    from llmtally.fit_table import fits

    signs = PriceSigns(rows)
    wide = _wide(rows, signs)
    return wide if fits(console, wide) else _narrow(rows, signs)


def _tiers(rows: list[PriceRow]) -> Table | None:
    """The length tiers of the rows that have them: the condition (the prompt's
    length, and the output's where a tier needs a long answer, in tokens) and
    the rates the whole request is then billed at; None when no row has one."""
    from llmtally.fit_table import plain_table

    tiered = [r for r in rows if r.long_context]
    if not tiered:
        return None
    signs = PriceSigns(rows)
    lines = [(r, c, tier_rates(r, c)) for r in tiered for c in r.long_context]
    thinking = any(rates[3] is not None for _, _, rates in lines)
    table = plain_table(f"{TIERS_TITLE} {TIERS_SUBTITLE}")
    table.add_column("provider/model", overflow="fold", ratio=1)
    table.add_column("when (tokens)", no_wrap=True)
    for name in ("input", "cached in", "output", *([THINKING] if thinking else ())):
        table.add_column(name, justify="right", no_wrap=True)
    for r, cliff, rates in lines:
        first = cliff is r.long_context[0]
        table.add_row(
            f"{r.provider}/{r.model}" if first else "",
            tier_when(cliff),
            *(signs.rate(v, r.currency) for v in rates[: 4 if thinking else 3]),
        )
    return table


def _import(args: list[str], fmt: str | None, home: Path | None) -> None:
    from llmtally.catalog import CatalogFileError
    from llmtally.catalog.importers import import_prices, write_imported

    if fmt not in _FORMATS:
        fail(f"prices import: --format must be one of {', '.join(_FORMATS)}")
    if len(args) != 2:
        fail("usage: llmtally prices import --format litellm|genai-prices FILE")
    path = Path(args[1])
    if not path.is_file():
        fail(f"{path}: no such file")
    try:
        result = import_prices(fmt, path)  # type: ignore[arg-type]
    except CatalogFileError as exc:
        fail(str(exc))
    written = write_imported(result, data_home(home), fmt)  # type: ignore[arg-type]
    err = stderr()
    for problem in result.problems:
        err.print(problem, markup=False, soft_wrap=True)
    models = sum(len(f.models) for f in result.files)
    typer.echo(
        f"imported {models} model{'' if models == 1 else 's'} from {path} "
        f"into {len(written)} file(s):"
    )
    for out in written:
        typer.echo(f"  {out}")
    if result.problems:
        count = len(result.problems)
        typer.echo(
            f"{count} {'entry' if count == 1 else 'entries'} not imported "
            "or imported in part (see above)"
        )
    _kept(result)


def _kept(result: ImportResult) -> None:
    """Name the imported models the hand-checked files already price: those keep
    their hand-checked entries (imports rank below them; see docs/decisions.md)."""
    from llmtally.catalog.catalog import hand_checked_names

    hand = hand_checked_names()
    kept = sorted(
        f"{pf.provider}/{spec.id}"
        for pf in result.files
        for spec in pf.models
        if (pf.provider, spec.id.lower()) in hand
    )
    if kept:
        typer.echo(
            f"{len(kept)} imported model(s) keep their hand-checked prices (dated history, "
            "tiers, context window; change them in the override file): " + ", ".join(kept)
        )


def prices(
    args: list[str] | None = typer.Argument(
        None, metavar="[PATTERN] | import FILE", help="A model pattern, or 'import FILE'."
    ),
    fmt: str | None = typer.Option(
        None, "--format", help="With 'import': litellm or genai-prices."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    home: Path | None = HomeOption,
    prices_file: Path | None = OverrideOption,
) -> None:
    """List model prices matching PATTERN (substring or glob), or import a price file.

    Imported files go to the data folder: they add models and take precedence
    over the seed tables, never over the hand-checked files; the override file
    (--prices-file) takes precedence over everything.
    """
    args = args or []
    if args and args[0] == "import":
        _import(args, fmt, home)
        return
    if len(args) > 1:
        fail("give at most one PATTERN (quote a glob such as 'gpt-4o*')")
    from rich.console import Console

    from llmtally.catalog import UnknownModelError
    from llmtally.catalog.listing import price_rows

    catalog = open_catalog(home, prices_file)
    try:
        rows = price_rows(catalog, args[0] if args else None)
    except UnknownModelError as exc:
        fail(str(exc), code=1)
    if as_json:
        print_json([r.as_json() for r in rows])
        return
    console = Console(highlight=False)
    console.print(_table(rows, console))
    tiers = _tiers(rows)
    if tiers is not None:
        console.print()
        console.print(tiers)
