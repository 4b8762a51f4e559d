"""``llmtally count``: tokens of a text for one model, across models, across languages."""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from llmtally.cli.common import fail, open_catalog, print_json, stderr

if TYPE_CHECKING:  # imported where used, so that a count starts quickly
    from rich.table import Table

    from llmtally.fit_table import SplitTable
    from llmtally.tokens.compare import CompareRow, LanguageCostRow, ModelChoice
    from llmtally.tokens.registry import TokenizerRegistry

__all__ = ["count"]

_CHUNK = 1 << 20
APPROXIMATE = "~ an approximation (no exact offline tokenizer for that model)"


def _characters(path: Path) -> int:
    """Characters in a UTF-8 file, read in chunks (an invalid byte is reported)."""
    import codecs

    from llmtally.tokens.stream import InvalidTextError, iter_chunks

    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    total = fed = 0
    for chunk in iter_chunks(path, _CHUNK):
        try:
            total += len(decoder.decode(chunk))
        except UnicodeDecodeError as err:
            raise InvalidTextError(fed + err.start, err.reason) from None
        fed += len(chunk)
    total += len(decoder.decode(b"", True))
    return total


def _stdin_chunks() -> Iterator[bytes]:
    while chunk := sys.stdin.buffer.read(_CHUNK):
        yield chunk


def _spool_stdin() -> Path:
    """Standard input copied to a temporary file, so several tokenizers can read it."""
    handle = tempfile.NamedTemporaryFile(prefix="llmtally-count-", delete=False)
    with handle:
        shutil.copyfileobj(sys.stdin.buffer, handle, _CHUNK)
    return Path(handle.name)


def _choices(names: list[str], registry: TokenizerRegistry) -> tuple[list[ModelChoice], list[str]]:
    """The models found, and an error line for each name that is not one (all
    of them at once, when none is)."""
    from llmtally.tokens.compare import resolve_models

    found, missing = resolve_models(names, registry)
    errors = [m.reason for m in missing]
    if not found:
        fail("\nerror: ".join(errors), code=1)
    return found, errors


def _report(errors: list[str]) -> None:
    """After the counts of the models found: one error line per name that is not one."""
    for message in errors:
        stderr().print(f"[bold red]error:[/] {message}", markup=True, soft_wrap=True)
    if errors:
        raise typer.Exit(1)


def _model_names(model: str | None, compare: str | None) -> list[str]:
    if model and compare:
        fail("give --model or --compare, not both")
    if model:
        return [model]
    from llmtally.tokens.compare import DEFAULT_COMPARE

    if compare is None or compare.strip().lower() == "default":
        return list(DEFAULT_COMPARE)
    names = [n.strip() for n in compare.split(",") if n.strip()]
    if not names:
        fail("--compare: give model names separated by commas, or 'default'")
    return names


def _compare_table(rows: list[CompareRow]) -> Table:
    from rich import box
    from rich.table import Table

    from llmtally.money import usd

    table = Table(
        title="The same text on each model (input cost at today's price)",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        padding=(0, 1, 0, 0),
    )
    table.add_column("model", overflow="fold", ratio=1)
    table.add_column("tokenizer", overflow="fold")
    for name in ("tokens", "chars/token", "input cost"):
        table.add_column(name, justify="right", no_wrap=True)
    for r in rows:
        mark = "" if r.exact else " ~"
        per = "-" if r.chars_per_token is None else str(r.chars_per_token)
        cost = "no price" if r.input_cost_usd is None else usd(r.input_cost_usd)
        table.add_row(r.model, r.tokenizer + mark, f"{r.tokens:,}", per, cost)
    table.caption = APPROXIMATE
    return table


def _language_table(rows: list[LanguageCostRow]) -> SplitTable:
    """The language tax: a column per model (as many side by side as the
    terminal holds), ``~`` before an approximate count."""
    from llmtally.fit_table import Column, SplitTable

    by_language: dict[str, dict[str, LanguageCostRow]] = {}
    for r in rows:
        by_language.setdefault(r.row.language, {})[r.model] = r
    columns = []
    for model in dict.fromkeys(r.model for r in rows):
        cells = [by_language[language][model].row for language in by_language]
        shown = [f"{'' if c.exact else '~'}{c.inflation_rounded}x ({c.tokens:,})" for c in cells]
        columns.append(Column(model.split("/", 1)[-1], shown))
    return SplitTable(
        "The language tax: tokens of the same passages vs English",
        Column("language", list(by_language)),
        columns,
        caption="inflation over English = the input-cost multiplier at the same price"
        + ("" if all(r.row.exact for r in rows) else f"\n{APPROXIMATE}"),
    )


def _count_source(
    source: str,
    choices: list[ModelChoice],
    registry: TokenizerRegistry,
    as_json: bool,
    single: bool,
) -> None:
    """Count ``source``: one model's count when ``single`` (one name asked for),
    else the comparison table."""
    from rich.console import Console

    from llmtally.tokens.compare import compare_counts
    from llmtally.tokens.stream import InvalidTextError, count_file, count_stream

    spooled = None
    try:
        if source == "-" and single:
            _print_single(choices[0], count_stream(_stdin_chunks(), choices[0].tokenizer), as_json)
            return
        path = spooled = _spool_stdin() if source == "-" else None
        path = path or Path(source)
        if not path.is_file():
            fail(f"{source}: no such file")
        characters = _characters(path)
        if characters == 0:
            fail(f"{source}: the input is empty: nothing to count")
        if single:
            _print_single(choices[0], count_file(path, choices[0].tokenizer), as_json)
            return
        rows = compare_counts(choices, lambda t: count_file(path, t), characters, registry)
        if as_json:
            print_json([r.as_json() for r in rows])
        else:
            Console(highlight=False).print(_compare_table(rows))
    except InvalidTextError as exc:
        fail(f"{source}: not UTF-8 text ({exc})")
    finally:
        if spooled is not None:
            spooled.unlink(missing_ok=True)


def _print_single(choice: ModelChoice, tokens: int, as_json: bool) -> None:
    if tokens == 0:
        fail("the input is empty: nothing to count")
    t = choice.tokenizer
    if as_json:
        print_json(
            {
                "model": choice.label,
                "count": tokens,
                "tokenizer": t.name,
                "exact": t.exact,
                "method": t.method,
            }
        )
        return
    kind = "exact" if t.exact else "approximate"
    typer.echo(
        f"{tokens:,} token{'' if tokens == 1 else 's'} for {choice.label} ({t.name}, {kind})"
    )


def count(
    source: str = typer.Argument(
        "-", metavar="[FILE|-]", help="A UTF-8 text file, or - for stdin."
    ),
    model: str | None = typer.Option(None, "--model", "-m", help="Count for this model."),
    compare: str | None = typer.Option(
        None, "--compare", help="Models to compare, comma-separated, or 'default'."
    ),
    languages: bool = typer.Option(
        False, "--languages", help="The built-in parallel corpus: inflation vs English."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Count tokens offline: one model, across models with input cost, or the language tax.

    With neither --model nor --compare, compares one model per vendor."""
    from rich.console import Console

    from llmtally.tokens.compare import language_costs
    from llmtally.tokens.registry import TokenizerRegistry

    registry = TokenizerRegistry(open_catalog())  # the settings' catalog; a bad file: an error
    names = _model_names(model, compare)
    choices, errors = _choices(names, registry)
    if languages:
        rows = language_costs(choices, registry)
        if as_json:
            print_json([r.as_json() for r in rows])
        else:
            Console(highlight=False).print(_language_table(rows))
    else:
        _count_source(source, choices, registry, as_json, single=len(names) == 1)
    _report(errors)
