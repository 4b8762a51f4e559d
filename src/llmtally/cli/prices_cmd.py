"""``llmtally prices [PATTERN]`` and ``llmtally prices import --format F FILE``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from llmtally.cli.common import HomeOption, OverrideOption, fail, open_catalog, print_json, stderr
from llmtally.config import data_home

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from llmtally.catalog.importers import ImportResult
    from llmtally.catalog.listing import PriceRow

__all__ = ["prices"]

_FORMATS = ("litellm", "genai-prices")


TITLE = "Prices per 1M tokens (USD), in force now"
NARROW_NOTE = "kind, batch prices, since: a wider terminal or --json"


def _batch(r: PriceRow) -> str:
    from llmtally.money import usd_rate

    if r.batch_input is None:
        return "-"
    return f"{usd_rate(r.batch_input, '-')}/{usd_rate(r.batch_output, '-')}"


def _wide(rows: list[PriceRow]) -> Table:
    """Every column, each cell on one line."""
    from llmtally.fit_table import plain_table
    from llmtally.money import usd_rate

    table = plain_table(TITLE)
    for name in ("provider", "model", "kind"):
        table.add_column(name, no_wrap=True)
    for name in ("input", "cached in", "output", "batch in/out", "context"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("since", no_wrap=True)
    for r in rows:
        table.add_row(
            r.provider,
            r.model,
            r.kind,
            *(usd_rate(v, "-") for v in (r.input, r.cache_read, r.output)),
            _batch(r),
            f"{r.context_window:,}" if r.context_window else "-",
            r.effective.isoformat() if r.effective else "launch",
        )
    return table


def _narrow(rows: list[PriceRow]) -> Table:
    """provider/model (folded if it must be), the three prices and the context."""
    from llmtally.fit_table import plain_table
    from llmtally.money import usd_rate

    table = plain_table(TITLE, caption=NARROW_NOTE)
    table.add_column("provider/model", overflow="fold", ratio=1)
    for name in ("input", "cached in", "output", "context"):
        table.add_column(name, justify="right", no_wrap=True)
    for r in rows:
        table.add_row(
            f"{r.provider}/{r.model}",
            *(usd_rate(v, "-") for v in (r.input, r.cache_read, r.output)),
            f"{r.context_window:,}" if r.context_window else "-",
        )
    return table


def _table(rows: list[PriceRow], console: Console) -> Table:
    """Every column when they fit the terminal, else the narrow layout: money
    and names are never cut."""
    from llmtally.fit_table import fits

    wide = _wide(rows)
    return wide if fits(console, wide) else _narrow(rows)


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
