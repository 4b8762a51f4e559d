"""Reading one field of an imported row: each failure a :class:`RowError` naming the field."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from llmtally.costing import parse_time
from llmtally.history.rows import RowError
from llmtally.usage import Usage

__all__ = ["count", "json_cell", "moment", "money", "tags", "text", "usage_of"]


def text(record: Mapping[str, Any], key: str, *, required: bool = False) -> str | None:
    value = record.get(key)
    if isinstance(value, int) and not isinstance(value, bool) and key == "id":
        value = str(value)
    if value is None or value == "":
        if required:
            raise RowError(f"{key}: required")
        return None
    if not isinstance(value, str) or not value.strip():
        raise RowError(f"{key}: expected a non-empty string, got {value!r}")
    return value.strip()


def count(value: object, key: str) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise RowError(f"{key}: expected a whole number >= 0, got {value!r}")
    return value


def money(value: object, key: str) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise InvalidOperation
        amount = Decimal(str(value))
    except InvalidOperation:
        raise RowError(f"{key}: expected an amount in USD, got {value!r}") from None
    if not amount.is_finite() or amount < 0:
        raise RowError(f"{key}: expected an amount >= 0, got {value!r}")
    return amount


def moment(value: object, key: str) -> dt.datetime:
    if value is None or value == "":
        raise RowError(f"{key}: required")
    if isinstance(value, dt.datetime):  # read from a database: naive means UTC
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    try:
        return parse_time(value)
    except (ValueError, OverflowError, OSError) as exc:
        raise RowError(f"{key}: {exc}") from None


def usage_of(counts: dict[str, int], service_tier: str = "standard") -> Usage:
    try:
        return Usage(**counts, service_tier=service_tier)  # type: ignore[arg-type]
    except ValueError as exc:
        raise RowError(f"tokens: {exc}") from None


def tags(value: object) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):  # a CSV cell: a JSON list, else comma-separated
        text = value
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text.split(",")
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise RowError(f"tags: expected a list of strings, got {value!r}")
    return tuple(dict.fromkeys(t.strip().replace(",", " ") for t in value if t.strip()))


def json_cell(value: object, key: str) -> dict[str, Any]:
    """A JSON column: an object in a JSON export, its text in a CSV one."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise RowError(f"{key}: not JSON") from None
    if not isinstance(value, dict):
        raise RowError(f"{key}: expected a JSON object")
    return value
