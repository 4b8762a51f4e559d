"""``Call`` <-> table row <-> spool JSON: the ledger's conversions, without I/O.

A row is a plain dict keyed by column name (``llmtally.ledger.schema``); the
spool stores rows as JSON, so that replaying a spool line inserts exactly what
the failed insert would have.

A ``Call`` read back carries its cost components exactly; its ``cost.price`` is
a reference to the catalog entry (provider, model, effective date, source,
window, catalog version) without the rates, which the ledger does not copy.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any

from sqlalchemy import Text

from llmtally.catalog.price import Price, Rates
from llmtally.currency.pivot import NO_BILLED, PIVOT, pivot_row
from llmtally.ledger.schema import COST_COLUMNS, Fixed, calls, check_fixed
from llmtally.meter import COMPONENTS, Cost
from llmtally.usage import Call, ImageUnits, Usage

__all__ = [
    "CallBodies",
    "bodies_to_row",
    "call_to_row",
    "row_from_json",
    "row_to_bodies",
    "row_to_call",
    "row_to_json",
]

_USAGE_SPECIAL = {"images", "audio_seconds", "service_tier", "source"}
USAGE_COUNTS = tuple(f.name for f in fields(Usage) if f.name not in _USAGE_SPECIAL)
_PLAIN = (
    "id",
    "provider",
    "model_requested",
    "model_served",
    "endpoint",
    "status",
    "error",
    "latency_ms",
    "ttft_ms",
    "output_tokens_per_s",
    "cost_error",
    "feature",
    "trace_id",
    "parent_id",
    "key_id",
    "input_system_tokens",
    "input_tools_tokens",
    "input_history_tokens",
    "input_latest_user_tokens",
    "saved_cache",
    "saved_tier",
    "prompt_fingerprint",
    "input_context_tokens",
    "source_cost",
    "request_sha256",
    "finish_reason",
    "max_output_tokens",
    "reasoning_effort",
)
# Columns added after the first release: a spooled row written before them lacks them.
_LATER = (
    "saved_cache",
    "saved_tier",
    "prompt_fingerprint",
    "input_context_tokens",
    "flags",
    "source_cost",
    "request_sha256",
    "finish_reason",
    "max_output_tokens",
    "reasoning_effort",
    "billed_currency",
    "billed_total",
    "fx_rate",
    "fx_date",
    "fx_source",
)
# The amounts in the price's currency, converted to USD when it is another.
_MONEY = (*COST_COLUMNS.values(), "saved_cache", "saved_tier")
_FIXED_COLUMNS = frozenset(c.name for c in calls.columns if isinstance(c.type, Fixed))
_TEXT_COLUMNS = tuple(c.name for c in calls.columns if isinstance(c.type, Text))


@dataclass(frozen=True, slots=True)
class CallBodies:
    """A call's request and response bodies (optional, stored apart)."""

    call_id: str
    request_body: str | None = None
    response_body: str | None = None
    request_truncated: bool = False
    response_truncated: bool = False


def _utc(moment: dt.datetime) -> dt.datetime:
    # SQLite returns naive datetimes; the ledger writes UTC only.
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _cost_columns(cost: Cost | None) -> dict[str, Any]:
    if cost is None:
        keys = (*COST_COLUMNS.values(), "price_id", "price_source", "price_window")
        return dict.fromkeys((*keys, "catalog_version", "long_context_above"))
    row: dict[str, Any] = {COST_COLUMNS[name]: getattr(cost, name) for name in COMPONENTS}
    row["cost_total"] = cost.total
    row["price_id"] = cost.price.entry_id
    row["price_source"] = cost.price.source
    row["price_window"] = cost.price.window
    row["catalog_version"] = cost.price.catalog_version
    row["long_context_above"] = cost.long_context_above
    return row


def call_to_row(call: Call) -> dict[str, Any]:
    """The ``calls`` row of ``call``; ValueError for an amount the ledger cannot hold."""
    usage = call.usage
    row: dict[str, Any] = {name: getattr(call, name) for name in _PLAIN}
    row["started_at"] = _utc(call.started_at)
    row.update({name: getattr(usage, name) for name in USAGE_COUNTS})
    images = [{"n": i.n, "size": i.size, "quality": i.quality} for i in usage.images]
    row["images"] = json.dumps(images) if images else None
    row["audio_seconds"] = usage.audio_seconds
    row["service_tier"] = usage.service_tier
    row["usage_source"] = usage.source
    row["user_id"] = call.user
    row["tags"] = json.dumps(list(call.tags)) if call.tags else None
    row["flags"] = ",".join(call.flags) if call.flags else None
    row.update(_cost_columns(call.cost))
    row.update(NO_BILLED)
    if call.cost is not None and call.cost.price.currency != PIVOT:
        # the ledger's amounts are USD: converted at the call's UTC day, what was
        # billed kept beside (llmtally.currency.pivot); USD calls skip this
        pivot_row(row, _MONEY, call.cost.price.currency, row["started_at"].date())
    for key in _FIXED_COLUMNS:  # refuse here, not in a batch insert later
        if row[key] is not None:
            row[key] = check_fixed(row[key])
    for key in _TEXT_COLUMNS:
        value = row[key]
        if value is not None and not value.isascii():
            row[key] = unicode_text(value)
    return row


def unicode_text(value: str) -> str:
    """``value`` as text every database stores: a lone surrogate (a ``\\ud800``
    escape JSON lets through, RFC 8259 section 8.2) written as that escape, so a
    row that carries one is kept, readable, instead of failing its whole insert."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


def _price_reference(row: Mapping[Any, Any]) -> Price:
    provider, _, rest = str(row["price_id"]).partition("/")
    model, _, since = rest.rpartition("@")
    return Price(
        provider=provider,
        model=model,
        effective=None if since == "launch" else dt.date.fromisoformat(since),
        source=row["price_source"] or "",
        catalog_version=row["catalog_version"] or "",
        rates=Rates(),
        window=row["price_window"],
    )


def _usage(row: Mapping[Any, Any]) -> Usage:
    images = tuple(ImageUnits(**item) for item in json.loads(row["images"] or "[]"))
    return Usage(
        **{name: row[name] for name in USAGE_COUNTS},
        images=images,
        audio_seconds=row["audio_seconds"],
        service_tier=row["service_tier"],
        source=row["usage_source"],
    )


def row_to_call(row: Mapping[Any, Any]) -> Call:
    """The ``Call`` a ``calls`` row (as read from the database) describes."""
    usage = _usage(row)
    cost = None
    if row["price_id"] is not None:
        amounts = {name: row[COST_COLUMNS[name]] for name in COMPONENTS}
        cost = Cost(
            **amounts,
            price=_price_reference(row),
            service_tier=usage.service_tier,
            long_context_above=row["long_context_above"],
        )
    return Call(
        **{name: row[name] for name in _PLAIN},
        started_at=_utc(row["started_at"]),
        usage=usage,
        cost=cost,
        user=row["user_id"],
        tags=tuple(json.loads(row["tags"] or "[]")),
        flags=tuple(row["flags"].split(",")) if row["flags"] else (),
    )


def bodies_to_row(bodies: CallBodies) -> dict[str, Any]:
    row = {f.name: getattr(bodies, f.name) for f in fields(bodies)}
    for key in ("request_body", "response_body"):
        if row[key] is not None and not row[key].isascii():
            row[key] = unicode_text(row[key])
    return row


def row_to_bodies(row: Mapping[Any, Any]) -> CallBodies:
    return CallBodies(**{f.name: row[f.name] for f in fields(CallBodies)})


def row_to_json(row: Mapping[Any, Any]) -> dict[str, Any]:
    """A ``calls`` row as JSON-ready values: Decimals as strings, times and days in ISO 8601."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, Decimal):
            out[key] = str(value)
        elif isinstance(value, dt.date):  # datetimes too
            out[key] = value.isoformat()
        else:
            out[key] = value
    return out


def row_from_json(data: Mapping[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`row_to_json`."""
    row = dict(data)
    for key in _LATER:
        row.setdefault(key, None)
    for key in _FIXED_COLUMNS & row.keys():
        if row[key] is not None:
            row[key] = Decimal(row[key])
    row["started_at"] = dt.datetime.fromisoformat(row["started_at"])
    if row["fx_date"] is not None:
        row["fx_date"] = dt.date.fromisoformat(row["fx_date"])
    return row
