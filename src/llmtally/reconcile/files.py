"""Reading a saved report file and telling what it is, within bounds.

A file is one of: a saved API page (``{"data": [...], ...}``), a JSON array of
pages, JSON Lines of pages, or Google's billing export as JSON Lines or CSV.
The provider and kind come from the content (OpenAI's result ``object``,
Anthropic's field names, the billing export's columns), never from the file
name. Limits: the file's size, the rows read, and how deep JSON nests
(``llmtally.json_depth``); past any, the import is refused before anything
is stored.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from llmtally.json_depth import nests_deeper
from llmtally.reconcile.google_billing import flatten, is_billing_row
from llmtally.reconcile.rows import ReportError

__all__ = ["MAX_DEPTH", "MAX_FILE_BYTES", "MAX_ROWS", "Page", "read_report"]

MAX_FILE_BYTES = 256 << 20  # a report file: 256 MiB
MAX_ROWS = 1_000_000  # pages, billing rows, or results in one file
MAX_DEPTH = 16  # a page nests 5 deep (page, data, bucket, results, result, amount)
_MAX_LINE = 64 << 20  # one line of JSON Lines (a page can be large)

# (where, page) for API pages; (where, flattened row) for billing rows
Page = tuple[str, Mapping[str, Any]]


def _load(text: str | bytes, where: str) -> Any:
    try:
        value = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise ReportError(f"{where}: malformed JSON: {exc.msg} at column {exc.colno}") from None
    except UnicodeDecodeError:
        raise ReportError(f"{where}: not UTF-8 text") from None
    except RecursionError:
        raise ReportError(f"{where}: JSON nests deeper than {MAX_DEPTH}") from None
    if nests_deeper(value, MAX_DEPTH):
        raise ReportError(f"{where}: JSON nests deeper than {MAX_DEPTH}")
    return value


def _documents(path: Path, raw: bytes) -> Iterator[tuple[str, Any]]:
    """Each JSON document of the file: one whole file, or one per line."""
    try:
        whole = json.loads(raw, parse_float=Decimal)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        whole = None
    else:
        if nests_deeper(whole, MAX_DEPTH):
            raise ReportError(f"{path.name}: JSON nests deeper than {MAX_DEPTH}")
        if isinstance(whole, list):
            for index, item in enumerate(whole, start=1):
                yield f"item {index}", item
        else:
            yield "page 1", whole
        return
    for number, line in enumerate(io.BytesIO(raw), start=1):
        if len(line) > _MAX_LINE:
            raise ReportError(f"line {number}: longer than {_MAX_LINE >> 20} MiB")
        if line.strip():
            yield f"line {number}", _load(line, f"line {number}")


def _csv_rows(raw: bytes) -> Iterator[Page]:
    csv.field_size_limit(1 << 20)
    text = io.StringIO(raw.decode("utf-8-sig"))
    reader = csv.DictReader(text)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ReportError(f"line {reader.line_num}: unreadable CSV: {exc}") from None
        if None in row:
            raise ReportError(f"line {reader.line_num}: more fields than the header names")
        yield f"line {reader.line_num}", flatten(row)


def _is_csv(raw: bytes) -> bool:
    head = raw[:4096].decode("utf-8-sig", errors="replace").splitlines()
    if not head:
        return False
    columns = {c.strip().lower().replace(".", "_") for c in head[0].split(",")}
    return {"sku_description", "cost", "usage_start_time"} <= columns


def read_report(path: Path) -> tuple[str, list[Page]]:
    """``("pages", [(where, page), ...])`` or ``("billing", [(where, row), ...])``."""
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ReportError(f"{path.name}: over {MAX_FILE_BYTES >> 20} MiB: split the report")
    raw = path.read_bytes()
    if not raw.strip():
        raise ReportError(f"{path.name}: the file is empty")
    if raw.lstrip()[:1] not in (b"{", b"["):
        if _is_csv(raw):
            try:
                return "billing", _bounded(_csv_rows(raw))
            except UnicodeDecodeError:
                raise ReportError(f"{path.name}: not UTF-8 text") from None
        raise ReportError(
            f"{path.name}: cannot tell what report this is: expected an API page "
            "(JSON), JSON Lines of pages, or Google's billing export (CSV with "
            "sku.description, cost, usage_start_time columns)"
        )
    pages: list[Page] = []
    billing: list[Page] = []
    for where, document in _bounded(_documents(path, raw)):
        if not isinstance(document, Mapping):
            raise ReportError(f"{where}: expected a JSON object (a page or a billing row)")
        if isinstance(document.get("data"), list):
            pages.append((where, document))
            continue
        flat = flatten(document)
        if not is_billing_row(flat):
            raise ReportError(
                f"{where}: cannot tell what report this is: neither an API page "
                "(no 'data' list) nor a billing export row (sku, cost, usage_start_time)"
            )
        billing.append((where, flat))
    if pages and billing:
        raise ReportError(f"{path.name}: API pages and billing rows mixed in one file")
    return ("pages", pages) if pages else ("billing", billing)


def _bounded(items: Iterator[Page] | Iterator[tuple[str, Any]]) -> list[Any]:
    taken: list[Any] = []
    for item in items:
        taken.append(item)
        if len(taken) > MAX_ROWS:
            raise ReportError(f"more than {MAX_ROWS:,} pages or rows in one file: split it")
    return taken
