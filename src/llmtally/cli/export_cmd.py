"""``llmtally export``: every column of every call in a range, as CSV or JSON lines."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from llmtally.cli.calls_cmd import DatabaseOption, parse_since
from llmtally.cli.calls_cmd import _open as open_ledger
from llmtally.cli.common import fail, stderr

__all__ = ["export"]

FORMATS = ("csv", "jsonl")


def export(
    fmt: str = typer.Option(..., "--format", help="csv or jsonl."),
    since: str | None = typer.Option(None, "--since", help="30m, 6h, 7d, or a date/time."),
    until: str | None = typer.Option(None, "--until", help="End (excluded): 1d, or a date/time."),
    output: str = typer.Option("-", "--output", "-o", help="File to write, or - for stdout."),
    database: str | None = DatabaseOption,
) -> None:
    """Every call (all columns, money as exact decimals), oldest first, streamed."""
    from llmtally.analytics import export_rows, write_csv, write_jsonl

    if fmt == "parquet":
        fail("--format parquet is not available yet: use csv or jsonl")
    if fmt not in FORMATS:
        fail(f"--format: {fmt!r} is not one of {', '.join(FORMATS)}")
    try:
        start = None if since is None else parse_since(since)
        end = None if until is None else parse_since(until)
    except ValueError as exc:
        fail(str(exc))
    write = write_csv if fmt == "csv" else write_jsonl
    with open_ledger(database) as store:
        try:
            rows = export_rows(store, start, end)
            if output == "-":
                count = write(rows, sys.stdout)
            else:
                with Path(output).open("w", encoding="utf-8", newline="") as out:
                    count = write(rows, out)
        except (ValueError, OSError) as exc:
            fail(str(exc))
    if count == 0:
        stderr().print("no calls in the ledger for that range: nothing exported")
    else:
        stderr().print(f"exported {count} calls")
