"""Bounded readers for history files: JSON Lines, a JSON array, CSV.

Each yields ``(where, record)``: ``where`` names the row for a report ("line 7",
"item 3"), ``record`` is the row as a mapping or a :class:`RowError` saying why
it could not be read. A row over :data:`MAX_ROW_BYTES` is reported, not read.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from llmtally.history.rows import RowError

__all__ = ["MAX_JSON_BYTES", "MAX_ROW_BYTES", "Record", "read_csv", "read_json", "read_rows"]

MAX_ROW_BYTES = 1 << 20  # one row (a line, a CSV record): 1 MiB
MAX_JSON_BYTES = 256 << 20  # a whole JSON array is read at once: 256 MiB, else use JSON Lines

Record = tuple[str, dict[str, Any] | RowError]
_PAGED = re.compile(rb'\{\s*"data"\s*:\s*\[')  # an API page: {"data": [...], "meta": ...}


def _lines(stream: BinaryIO) -> Iterator[tuple[int, bytes | None]]:
    """``(number, line)``; ``None`` for a line longer than the limit (skipped to its end)."""
    number = 0
    while True:
        line = stream.readline(MAX_ROW_BYTES + 1)
        if not line:
            return
        number += 1
        if len(line) > MAX_ROW_BYTES and not line.endswith(b"\n"):
            while line and not line.endswith(b"\n"):
                line = stream.readline(MAX_ROW_BYTES)
            yield number, None
        else:
            yield number, line


def _object(text: str | bytes) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RowError(f"malformed JSON: {exc.msg} at column {exc.colno}") from None
    except UnicodeDecodeError:
        raise RowError("not UTF-8 text") from None
    if not isinstance(value, dict):
        raise RowError("expected a JSON object")
    return value


def read_jsonl(stream: BinaryIO) -> Iterator[Record]:
    for number, line in _lines(stream):
        where = f"line {number}"
        if line is None:
            yield where, RowError(f"longer than {MAX_ROW_BYTES} bytes")
        elif line.strip():
            try:
                yield where, _object(line)
            except RowError as exc:
                yield where, exc


def read_json(path: Path) -> Iterator[Record]:
    """A JSON array of objects (an API's answer saved to a file)."""
    if path.stat().st_size > MAX_JSON_BYTES:
        raise RowError(f"a JSON array over {MAX_JSON_BYTES >> 20} MiB: export JSON Lines instead")
    try:
        items = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RowError(f"not a JSON array: {exc}") from None
    if isinstance(items, dict) and isinstance(items.get("data"), list):
        items = items["data"]  # {"data": [...]}: a paged API answer
    if not isinstance(items, list):
        raise RowError("expected a JSON array of objects")
    for number, item in enumerate(items, start=1):
        where = f"item {number}"
        yield where, item if isinstance(item, dict) else RowError("expected a JSON object")


def read_csv(stream: BinaryIO) -> Iterator[Record]:
    csv.field_size_limit(MAX_ROW_BYTES)
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace", newline="")
    try:
        yield from _csv_records(csv.DictReader(text))
    finally:
        text.detach()  # the caller closes the file


def _csv_records(reader: csv.DictReader[str]) -> Iterator[Record]:
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield f"line {reader.line_num}", RowError(f"unreadable CSV: {exc}")
            continue
        where = f"line {reader.line_num}"
        if None in row:
            yield where, RowError("more fields than the header names")
        else:
            yield where, {k: v for k, v in row.items() if v not in (None, "")}


def read_rows(path: Path, stream: BinaryIO) -> Iterator[Record]:
    """By the file's shape: ``.csv`` as CSV, a file starting with ``[`` (or
    ``{"data": [``) as one JSON array, else JSON Lines."""
    if path.suffix.lower() == ".csv":
        return read_csv(stream)
    head = stream.read(256).lstrip()
    stream.seek(0)
    if head.startswith(b"[") or _PAGED.match(head):
        return read_json(path)
    return read_jsonl(stream)
