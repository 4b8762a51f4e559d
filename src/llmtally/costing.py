"""Pricing usage records: one provider usage object in, one cost (or a precise error) out.

A record is ``{"provider", "model", "timestamp", "service_tier", "usage": <the
provider's own usage object>, "images": {...} | [...], "audio_seconds": ...,
"characters": ...}``. Used by ``llmtally cost`` and by every path that turns a
logged call into a cost.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from typing import Any

from llmtally.catalog import Catalog
from llmtally.currency.pivot import PIVOT, to_usd, usd_rate, utc_day
from llmtally.meter import Cost, cost, decimal_text
from llmtally.providers import parse_usage
from llmtally.providers.audio import is_audio_usage, parse_audio_usage
from llmtally.usage import SERVICE_TIERS, ImageUnits, Usage

__all__ = ["RecordError", "cost_json", "parse_time", "price_lines", "price_record"]

_KNOWN_KEYS = frozenset(
    {
        "provider",
        "model",
        "timestamp",
        "service_tier",
        "usage",
        "images",
        "audio_seconds",
        "characters",
    }
)


class RecordError(ValueError):
    """A record that cannot be priced as it stands."""


def parse_time(value: object) -> dt.datetime:
    """ISO 8601 (a bare date or naive time is taken as UTC) or Unix seconds."""
    if isinstance(value, bool):
        raise RecordError(f"timestamp: expected ISO 8601 or Unix seconds, got {value!r}")
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value, dt.UTC)
    if not isinstance(value, str):
        raise RecordError(f"timestamp: expected ISO 8601 or Unix seconds, got {value!r}")
    try:
        moment = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise RecordError(f"timestamp: not ISO 8601: {value!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _text(record: Mapping[str, Any], key: str) -> str:
    value = record.get(key)
    if not isinstance(value, str) or not value.strip():
        raise RecordError(f"{key}: required, a non-empty string")
    return value


def _images(value: object) -> tuple[ImageUnits, ...]:
    items = value if isinstance(value, list) else [value]
    out = []
    for i, item in enumerate(items):
        where = f"images[{i}]" if isinstance(value, list) else "images"
        if not isinstance(item, dict):
            raise RecordError(f"{where}: expected {{'n', 'size', 'quality'}}, got {item!r}")
        extra = set(item) - {"n", "size", "quality"}
        if extra:
            raise RecordError(f"{where}: unknown field(s) {', '.join(sorted(extra))}")
        try:
            out.append(
                ImageUnits(
                    item.get("n", 1), str(item.get("size", "")), item.get("quality", "standard")
                )
            )
        except ValueError as exc:
            raise RecordError(f"{where}: {exc}") from None
    return tuple(out)


def _media(usage: Usage, record: Mapping[str, Any]) -> Usage:
    changes: dict[str, Any] = {}
    if record.get("images") is not None:
        changes["images"] = _images(record["images"])
    if record.get("audio_seconds") is not None:
        raw = record["audio_seconds"]
        try:
            if isinstance(raw, bool):
                raise InvalidOperation
            changes["audio_seconds"] = Decimal(str(raw))
        except InvalidOperation:
            raise RecordError(f"audio_seconds: expected a number, got {raw!r}") from None
    if record.get("characters") is not None:
        changes["characters"] = record["characters"]
    return replace(usage, **changes) if changes else usage


def _parse(provider: str, raw: Mapping[str, Any]) -> Usage:
    """A provider's usage object: a transcription's (by duration or by tokens,
    told by its ``type``), else the provider's own shape."""
    if is_audio_usage(raw):
        return parse_audio_usage(raw)
    return parse_usage(provider, raw)


def price_record(
    record: Mapping[str, Any],
    catalog: Catalog,
    *,
    tier: str | None = None,
    at: dt.datetime | None = None,
) -> tuple[Usage, Cost]:
    """Normalise a record's usage and price it at its timestamp."""
    unknown = set(record) - _KNOWN_KEYS
    if unknown:
        raise RecordError(f"unknown field(s): {', '.join(sorted(unknown))}")
    provider, model = _text(record, "provider"), _text(record, "model")
    moment = at or (
        parse_time(record["timestamp"]) if record.get("timestamp") is not None else None
    )
    raw_usage = record.get("usage")
    if raw_usage is not None and not isinstance(raw_usage, dict):
        raise RecordError(f"usage: expected the provider's usage object, got {raw_usage!r}")
    usage = _parse(provider, raw_usage) if raw_usage else Usage()
    chosen = tier or record.get("service_tier")
    if chosen is not None:
        if chosen not in SERVICE_TIERS:
            raise RecordError(
                f"service_tier: must be one of {', '.join(SERVICE_TIERS)}, got {chosen!r}"
            )
        usage = replace(usage, service_tier=chosen)
    usage = _media(usage, record)
    price = catalog.price_at(provider, model, moment)
    return usage, cost(usage, price)


def cost_json(usage: Usage, result: Cost, at: dt.datetime | None = None) -> dict[str, Any]:
    """The cost as JSON. A price in another currency than USD also gives the cost
    in it (``cost``, ``currency``; the breakdown is in it) and ``cost_usd`` at the
    rate of ``at``'s UTC day (default today), as the ledger converts it
    (:mod:`llmtally.currency.pivot`), with the rate used; no rate: ``cost_usd``
    is null and ``fx_error`` says why."""
    out: dict[str, Any] = {
        "cost_usd": decimal_text(result.total),
        "breakdown": result.breakdown(),
        "price": result.price.describe()
        | {"service_tier": result.service_tier, "long_context_above": result.long_context_above},
        "usage": usage.to_dict(),
        "error": None,
    }
    if result.price.currency != PIVOT:
        out.update(_billed_json(result, at or dt.datetime.now(dt.UTC)))
    return out


def _billed_json(result: Cost, at: dt.datetime) -> dict[str, Any]:
    billed = result.price.currency
    out: dict[str, Any] = {"cost": decimal_text(result.total), "currency": billed}
    day = utc_day(at)
    try:
        rate = usd_rate(billed, day)
    except (LookupError, ValueError) as exc:  # no rate that day; a bad rates file
        return out | {"cost_usd": None, "fx": None, "fx_error": str(exc)}
    fx = {"rate": str(rate.rate), "date": rate.rate_date.isoformat(), "source": rate.source}
    from llmtally.ledger.schema import check_fixed  # rounded as the ledger stores it

    usd = check_fixed(to_usd(result.total, rate))
    return out | {"cost_usd": decimal_text(usd), "fx": fx}


def price_lines(
    lines: Iterable[str], catalog: Catalog, *, tier: str | None = None
) -> Iterator[dict[str, Any]]:
    """One output object per non-blank input line; a bad line yields its error."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise RecordError("expected a JSON object")
            usage, result = price_record(record, catalog, tier=tier)
            at = record.get("timestamp")
            moment = parse_time(at) if at is not None else None
        except json.JSONDecodeError as exc:
            yield {"error": f"line {number}: malformed JSON at column {exc.colno}: {exc.msg}"}
        except (ValueError, LookupError) as exc:
            yield {"error": f"line {number}: {exc}"}
        else:
            yield cost_json(usage, result, moment)
