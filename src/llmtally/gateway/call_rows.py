"""A batch of forwarded ledger rows -> validated, re-priced :class:`Call` records.

The body of ``POST /llmtally/v1/calls`` is ``{"calls": [row, ...]}``, each row
a ``calls`` row as :func:`llmtally.ledger.rows.row_to_json` writes it (what an
instrumented process would have written to its own ledger). Nothing in it is
trusted: every column is checked against the ledger's schema (type, null,
range), the row is read back into a :class:`Call` (whose own invariants hold:
token subsets within totals, a UTC time...), and then

- the cost is worked out again with the gateway's catalog, at the price in
  force when the call started (:func:`llmtally.pricing.price_usage`, the meter
  step every capture path shares), so a sender can neither invent a cost nor
  price with a stale catalog; a row that reported no usage keeps its reason;
  the sender's ``billed_*`` and ``fx_*`` are replaced too: a price in another
  currency is converted to USD again, with the gateway's rates, when the row is
  made (:mod:`llmtally.currency.pivot`);
- ``key_id`` is the authenticating gateway key's, whatever the row said.

One bad row refuses the whole batch, naming it (``calls[3] (id ...): ...``), so
nothing is half-written and the sender knows which row to set aside.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from sqlalchemy import Column, Date, DateTime, Float, Integer, String

from llmtally.catalog import Catalog
from llmtally.json_depth import nests_deeper
from llmtally.ledger.rows import call_to_row, row_from_json, row_to_call
from llmtally.ledger.schema import Fixed, calls, check_fixed
from llmtally.otel.decode import OtlpError, gunzip
from llmtally.pricing import price_usage
from llmtally.usage import Call, Usage

__all__ = ["CallLimits", "Refused", "read_batch", "repriced"]

_ULID = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")
_BIGINT = 2**63 - 1
# Integer and float columns that may be negative (none today: counts, times, rates).
_SIGNED: frozenset[str] = frozenset()
_COLUMNS: tuple[Column[Any], ...] = tuple(calls.columns)
_NO_USAGE = Usage(source="estimated")  # what the recorder writes when nothing was reported


@dataclass(frozen=True, slots=True)
class CallLimits:
    """What one batch may hold (the OTLP ingest's limits, for the same reasons)."""

    max_body_bytes: int = 4 * 1024 * 1024  # as sent, and again once decompressed
    max_calls: int = 10_000
    max_json_depth: int = 64


class Refused(Exception):
    """The batch is refused whole: the HTTP status and why."""

    def __init__(self, status: int, message: str, rows: int = 0) -> None:
        super().__init__(message)
        self.status, self.message = status, message
        self.rows = rows  # the rows the refused batch held, when they could be counted


def _document(body: bytes, coding: str, limits: CallLimits) -> Any:
    coding = coding.strip().lower()
    try:
        if coding == "gzip":
            body = gunzip(body, limits.max_body_bytes)
        elif coding not in ("", "identity"):
            raise Refused(415, f"Content-Encoding {coding[:40]!r} is not supported (gzip is)")
    except OtlpError as exc:
        raise Refused(exc.status, exc.message) from exc
    try:
        document = json.loads(body)
    except RecursionError as exc:
        raise Refused(400, f"the JSON body nests deeper than {limits.max_json_depth}") from exc
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError, a 5000-digit number
        raise Refused(400, f"malformed JSON body: {exc}") from exc
    if nests_deeper(document, limits.max_json_depth):
        raise Refused(400, f"the JSON body nests deeper than {limits.max_json_depth} levels")
    return document


def _rows(document: Any, limits: CallLimits) -> list[Any]:
    if not isinstance(document, dict) or not isinstance(document.get("calls"), list):
        raise Refused(400, 'the body must be a JSON object {"calls": [row, ...]}')
    rows: list[Any] = document["calls"]
    if len(rows) > limits.max_calls:
        raise Refused(413, f"{len(rows)} calls in one batch; the limit is {limits.max_calls}")
    return rows


def _number(value: Any, whole: bool) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, int):
        return float(value) if abs(value) <= _BIGINT else None
    return value if math.isfinite(value) and not whole else None


def _why_not(column: Column[Any], value: Any) -> str | None:
    """Why ``value`` cannot be stored in ``column`` (None: it can)."""
    kind = column.type
    if value is None:
        return None if column.nullable else "must not be null"
    if isinstance(kind, Fixed):
        if isinstance(value, bool) or not isinstance(value, str | int):
            return "must be a decimal amount as a string"
        try:
            check_fixed(Decimal(value))
        except (ArithmeticError, ValueError) as exc:
            return f"is not an amount the ledger stores: {str(exc)[:80]}"
        return None
    if isinstance(kind, String):
        return None if isinstance(value, str) else "must be a string"
    if isinstance(kind, Integer | Float):
        number = _number(value, isinstance(kind, Integer))
        if number is None:
            return "must be a whole number" if isinstance(kind, Integer) else "must be a number"
        return "must be >= 0" if number < 0 and column.name not in _SIGNED else None
    if isinstance(kind, Date):
        return None if _day(value) else "must be a day, YYYY-MM-DD"
    if isinstance(kind, DateTime):
        try:
            moment = dt.datetime.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            return "must be an ISO 8601 time with its UTC offset"
    return None


def _day(value: Any) -> bool:
    try:
        return isinstance(value, str) and bool(dt.date.fromisoformat(value))
    except ValueError:
        return False


def _checked(data: Any) -> dict[str, Any]:
    """The row with every column, checked against the schema (unknown keys dropped:
    a newer sender's extra column is not an error)."""
    if not isinstance(data, dict):
        raise ValueError("a row must be a JSON object")
    row: dict[str, Any] = {}
    for column in _COLUMNS:
        if column.name not in data and not column.nullable:
            raise ValueError(f"missing field {column.name!r}")
        value = data.get(column.name)
        why = _why_not(column, value)
        if why is not None:
            raise ValueError(f"{column.name} {why} (got {str(value)[:40]!r})")
        row[column.name] = value
    if not _ULID.fullmatch(row["id"]):
        raise ValueError("id must be a ULID (26 characters of Crockford base32)")
    if not 0 <= row["status"] <= 999:
        raise ValueError(f"status must be an HTTP status, got {row['status']}")
    return row


def _call(data: Any) -> Call:
    """The :class:`Call` one JSON row describes (ValueError: why it cannot be one)."""
    try:
        call = row_to_call(row_from_json(_checked(data)))
    except (ValueError, TypeError, KeyError, ArithmeticError, RecursionError) as exc:
        raise ValueError(str(exc) or type(exc).__name__) from exc
    if not all(isinstance(tag, str) for tag in call.tags):
        raise ValueError("tags must be a JSON list of strings")
    return call


def repriced(call: Call, catalog: Catalog, key_id: str | None) -> Call:
    """``call`` priced by ``catalog`` and attributed to ``key_id``. A call that
    reported no usage is not priced (as the gateway records one), its reason kept."""
    if call.cost is None and call.usage == _NO_USAGE:
        reason = call.cost_error or "no usage reported"
        return replace(call, key_id=key_id, cost_error=reason, saved_cache=None, saved_tier=None)
    priced = price_usage(call.usage, catalog, call.provider, call.model, call.started_at)
    saved = priced.savings
    return replace(
        call,
        key_id=key_id,
        cost=priced.cost,
        cost_error=priced.reason,
        saved_cache=saved.cache if saved else None,
        saved_tier=saved.tier if saved else None,
    )


def _label(index: int, data: Any) -> str:
    ident = data.get("id") if isinstance(data, Mapping) else None
    return f"calls[{index}]" + (f" (id {ident[:40]!r})" if isinstance(ident, str) else "")


def read_batch(
    body: bytes, coding: str, catalog: Catalog, key_id: str | None, limits: CallLimits
) -> list[Call]:
    """Every call of the batch, validated and re-priced, or :class:`Refused`
    (400 a bad body or row, 413 too large, 415 an unknown Content-Encoding)."""
    rows = _rows(_document(body, coding, limits), limits)
    out = []
    for index, data in enumerate(rows):
        try:
            call = repriced(_call(data), catalog, key_id)
            call_to_row(call)  # an amount the ledger cannot hold is refused here, not later
        except ValueError as exc:
            raise Refused(400, f"{_label(index, data)}: {exc}", len(rows)) from exc
        out.append(call)
    return out
