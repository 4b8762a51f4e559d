"""``llmtally cost``: price one usage object, or a JSONL file of records."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from llmtally.cli.common import HomeOption, OverrideOption, fail, open_catalog, print_json

if TYPE_CHECKING:
    from llmtally.catalog import Catalog

__all__ = ["cost"]


def _one(catalog: Catalog, record: dict[str, Any], tier: str | None) -> None:
    from llmtally.costing import cost_json, price_record

    try:
        usage, result = price_record(record, catalog, tier=tier)
    except (ValueError, LookupError) as exc:
        fail(str(exc), code=1)
    print_json(cost_json(usage, result))


def _jsonl(catalog: Catalog, source: str, tier: str | None) -> None:
    from llmtally.costing import price_lines

    failed = False
    stream = sys.stdin if source == "-" else None
    try:
        handle = stream or Path(source).open(encoding="utf-8", errors="strict")
    except OSError as exc:
        fail(f"{source}: {exc.strerror}")
    try:
        for out in price_lines(handle, catalog, tier=tier):
            failed = failed or out.get("error") is not None
            sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
    except UnicodeDecodeError as exc:
        fail(f"{source}: not UTF-8 text at byte {exc.start}")
    finally:
        if stream is None:
            handle.close()
    if failed:
        raise typer.Exit(1)


def cost(
    provider: str | None = typer.Option(None, "--provider", "-p", help="Provider id, e.g. openai."),
    model: str | None = typer.Option(None, "--model", "-m", help="Model name as the API saw it."),
    usage: str | None = typer.Option(
        None, "--usage", "-u", help="The provider's own usage object, as JSON."
    ),
    at: str | None = typer.Option(None, "--at", help="When the call happened (ISO 8601)."),
    tier: str | None = typer.Option(
        None, "--tier", help="Service tier: standard, batch, flex or priority."
    ),
    jsonl: str | None = typer.Option(
        None, "--jsonl", help="Price every line of a JSONL file ('-' for stdin)."
    ),
    home: Path | None = HomeOption,
    prices_file: Path | None = OverrideOption,
) -> None:
    """Price usage: one usage object, or a JSONL file of records (one result per line)."""
    catalog = open_catalog(home, prices_file)
    if jsonl is not None:
        _jsonl(catalog, jsonl, tier)
        return
    if not provider or not model:
        fail("give --provider and --model with --usage, or --jsonl FILE")
    try:
        parsed = json.loads(usage) if usage else None
    except json.JSONDecodeError as exc:
        fail(f"--usage: malformed JSON at column {exc.colno}: {exc.msg}")
    record: dict[str, Any] = {"provider": provider, "model": model, "usage": parsed}
    if at is not None:
        from llmtally.costing import parse_time

        try:
            record["timestamp"] = parse_time(at).isoformat()
        except ValueError as exc:
            fail(f"--at: {exc}")
    _one(catalog, record, tier)
