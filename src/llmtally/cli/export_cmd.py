"""``llmtally export``: every column of every call in a range, as CSV, JSON lines or Parquet.

Parquet is binary and is always written to a file: it needs ``--output FILE``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from llmtally.cli.calls_cmd import DatabaseOption, parse_since
from llmtally.cli.calls_cmd import _open as open_ledger
from llmtally.cli.common import fail, reader_gone, stderr

__all__ = ["export"]

FORMATS = ("csv", "jsonl", "parquet")


def export(
    fmt: str = typer.Option(..., "--format", help="csv, jsonl or parquet (needs --output)."),
    since: str | None = typer.Option(None, "--since", help="30m, 6h, 7d, or a date/time."),
    until: str | None = typer.Option(None, "--until", help="End (excluded): 1d, or a date/time."),
    output: str = typer.Option("-", "--output", "-o", help="File to write, or - for stdout."),
    database: str | None = DatabaseOption,
) -> None:
    """Every call (all columns, money as exact decimals), oldest first, streamed."""
    from llmtally.analytics import export_rows, write_csv, write_jsonl, write_parquet

    if fmt not in FORMATS:
        fail(f"--format: {fmt!r} is not one of {', '.join(FORMATS)}")
    if fmt == "parquet" and output == "-":
        fail("--format parquet needs --output FILE: Parquet is binary and written as a file")
    try:
        start = None if since is None else parse_since(since)
        end = None if until is None else parse_since(until)
    except ValueError as exc:
        fail(str(exc))
    write = write_csv if fmt == "csv" else write_jsonl
    with open_ledger(database) as store:
        try:
            rows = export_rows(store, start, end)
            if fmt == "parquet":
                count = write_parquet(rows, output)
            elif output == "-":
                count = write(rows, sys.stdout)
            else:
                with Path(output).open("w", encoding="utf-8", newline="") as out:
                    count = write(rows, out)
        except BrokenPipeError:
            reader_gone()  # e.g. `| head`: it has read what it wanted
        except (ValueError, OSError) as exc:
            fail(str(exc))
    if count == 0:
        stderr().print("no calls in the ledger for that range: nothing exported")
    else:
        stderr().print(f"exported {count} call{'' if count == 1 else 's'}")
