"""What every report parser shares: the error, checked fields, a parsed bucket.

A report is money: a field of the wrong type, a negative count or a bucket that
ends before it starts is an error that names where it is ("page 2, bucket 3,
result 1: field 'output_tokens' ..."), never a row silently dropped or zeroed.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from llmtally.ledger.schema import check_fixed
from llmtally.reconcile.tables import COST_GROUP_COLUMNS, USAGE_COUNT_COLUMNS, USAGE_GROUP_COLUMNS

__all__ = [
    "MAX_COUNT",
    "Bucket",
    "ReportError",
    "amount_field",
    "count_field",
    "epoch_field",
    "group_key",
    "parse_buckets",
    "rfc3339_field",
    "text_field",
]

MAX_COUNT = 2**63 - 1  # a BIGINT
_EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
_LATEST = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)


class ReportError(ValueError):
    """A report that cannot be stored, with where and why."""


def _where(where: str, name: str) -> str:
    return f"{where}: field {name!r}" if where else f"field {name!r}"


def _whole(value: object) -> int | None:
    """An int, or a whole float/Decimal (12.0); None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal | float):
        exact = Decimal(value)
        if exact.is_finite() and exact == exact.to_integral_value() and abs(exact) < 2**63:
            return int(exact)
    return None


def count_field(item: Mapping[str, Any], name: str, where: str, required: bool = False) -> int:
    """A non-negative integer count; absent or null is 0 unless ``required``."""
    value = item.get(name)
    if value is None:
        if required:
            raise ReportError(f"{_where(where, name)} is missing")
        return 0
    count = _whole(value)
    if count is None:
        raise ReportError(f"{_where(where, name)}: expected an integer, got {value!r}")
    value = count
    if value < 0 or value > MAX_COUNT:
        raise ReportError(f"{_where(where, name)}: {value} is not a count (0 to 2^63-1)")
    return value


def text_field(
    item: Mapping[str, Any], name: str, where: str, required: bool = False
) -> str | None:
    """A string, or None when absent/null (an error if ``required``)."""
    value = item.get(name)
    if value is None or value == "":
        if required:
            raise ReportError(f"{_where(where, name)} is missing")
        return None
    if not isinstance(value, str):
        raise ReportError(f"{_where(where, name)}: expected a string, got {value!r}")
    if len(value) > 1000:
        raise ReportError(f"{_where(where, name)}: longer than 1000 characters")
    return value


def amount_field(value: Any, name: str, where: str, negative: bool = False) -> Decimal:
    """An exact amount from a JSON number or a decimal string."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise ReportError(f"{_where(where, name)}: expected a number, got {value!r}")
    try:
        # str() of a float is its shortest repr: 0.06 stays 0.06, not 0.0599999...
        amount = Decimal(value.strip() if isinstance(value, str) else str(value))
    except InvalidOperation:
        raise ReportError(f"{_where(where, name)}: {value!r} is not a number") from None
    if not amount.is_finite():
        raise ReportError(f"{_where(where, name)}: {value!r} is not a finite number")
    if amount < 0 and not negative:
        raise ReportError(f"{_where(where, name)}: {value!r} is below zero")
    try:
        return check_fixed(amount)
    except ValueError as exc:
        raise ReportError(f"{_where(where, name)}: {exc}") from None


def _in_range(moment: dt.datetime, name: str, where: str) -> dt.datetime:
    if not _EARLIEST <= moment <= _LATEST:
        raise ReportError(f"{_where(where, name)}: {moment.isoformat()} is not a plausible time")
    return moment


def epoch_field(item: Mapping[str, Any], name: str, where: str) -> dt.datetime:
    """Unix seconds (OpenAI's ``start_time`` / ``end_time``) as UTC."""
    value = item.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ReportError(f"{_where(where, name)}: expected Unix seconds, got {value!r}")
    if not 0 <= value < 2**33:
        raise ReportError(f"{_where(where, name)}: {value} is not a plausible time")
    return _in_range(dt.datetime.fromtimestamp(value, dt.UTC), name, where)


def rfc3339_field(item: Mapping[str, Any], name: str, where: str) -> dt.datetime:
    """An RFC 3339 time with its offset (Anthropic's ``starting_at``), or
    BigQuery's ``2026-11-01 00:00:00 UTC``, as UTC."""
    value = item.get(name)
    if not isinstance(value, str) or len(value) > 40:
        raise ReportError(f"{_where(where, name)}: expected an RFC 3339 time, got {value!r}")
    text = value.strip()
    if text.endswith(" UTC"):
        text = text[:-4] + "+00:00"
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ReportError(f"{_where(where, name)}: {value!r} is not an RFC 3339 time") from None
    if moment.tzinfo is None:
        raise ReportError(f"{_where(where, name)}: {value!r} has no UTC offset")
    return _in_range(moment.astimezone(dt.UTC), name, where)


def group_key(row: Mapping[str, Any], columns: tuple[str, ...]) -> str:
    """The canonical text of a row's grouping values (NULLs included)."""
    return json.dumps([row.get(name) for name in columns], separators=(",", ":"))


@dataclass
class Bucket:
    """One provider bucket as parsed: its period and its rows, one per group.

    ``rows`` maps a group key to the row's columns (grouping and figures);
    results that share a key (a report split by a dimension llmtally does not
    keep) are summed into one row."""

    provider: str
    kind: str  # "costs", or the usage kind (completions, messages, ...)
    start: dt.datetime
    end: dt.datetime
    where: str
    account: str | None = None  # what the report itself says (Google's billing account)
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ReportError(
                f"{self.where}: the bucket ends ({self.end.isoformat()}) "
                f"before it starts ({self.start.isoformat()})"
            )

    @property
    def is_costs(self) -> bool:
        return self.kind == "costs"

    def add(self, row: dict[str, Any]) -> None:
        """Add a row, summing it into one of the same group."""
        columns = COST_GROUP_COLUMNS if self.is_costs else USAGE_GROUP_COLUMNS
        key = group_key(row, columns)
        known = self.rows.get(key)
        if known is None:
            self.rows[key] = row
            return
        figures = ("amount", "credits", "usage_amount") if self.is_costs else USAGE_COUNT_COLUMNS
        for name in figures:
            if row.get(name) is not None:
                known[name] = (known.get(name) or 0) + row[name]


Times = Callable[[Mapping[str, Any], str], tuple[dt.datetime, dt.datetime]]
RowOf = Callable[[Mapping[str, Any], str], dict[str, Any]]


def parse_buckets(
    page: Mapping[str, Any], provider: str, kind: str, where: str, times: Times, row_of: RowOf
) -> list[Bucket]:
    """A report page's ``data`` buckets, each with its ``results`` made rows by
    ``row_of``; ``times`` reads a bucket's start and end (each provider names them
    its own way). Errors name the page, bucket and result."""
    data = page.get("data")
    if not isinstance(data, list):
        raise ReportError(f"{where}: field 'data': expected a list of buckets")
    buckets = []
    for number, raw in enumerate(data, start=1):
        at = f"{where}, bucket {number}"
        if not isinstance(raw, Mapping):
            raise ReportError(f"{at}: expected a JSON object")
        results = raw.get("results")
        if not isinstance(results, list):
            raise ReportError(f"{at}: field 'results': expected a list")
        start, end = times(raw, at)
        bucket = Bucket(provider, kind.removeprefix("usage:"), start, end, where=at)
        for index, result in enumerate(results, start=1):
            spot = f"{at}, result {index}"
            if not isinstance(result, Mapping):
                raise ReportError(f"{spot}: expected a JSON object")
            bucket.add(row_of(result, spot))
        buckets.append(bucket)
    return buckets
