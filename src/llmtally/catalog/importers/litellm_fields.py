"""One LiteLLM entry's price fields -> the fields of one llmtally price entry.

Field grammar: ``<rate>[_above_<N>k_tokens][_<tier>]``, where ``<rate>`` is a
per-token price (scaled to per 1M), ``_above_<N>k_tokens`` a long-context cliff
at N x 1000 prompt tokens and ``<tier>`` one of ``batches``, ``flex``,
``priority``. Per-image, per-second and per-character prices, LiteLLM's
``tiered_pricing`` ranges and ``off_peak_pricing`` windows are mapped where
llmtally has a place for them; every other non-zero price is reported. A zero
price for something llmtally cannot charge for is left out: it charges nothing.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from llmtally.catalog.importers.common import (
    BadValue,
    EntryLog,
    cumulative_cliffs,
    money,
    per_million,
    plain,
)

__all__ = ["ImageKey", "price_fields"]

TOKEN_RATES: dict[str, str] = {
    "input_cost_per_token": "input",
    "output_cost_per_token": "output",
    "cache_read_input_token_cost": "cache_read",
    "cache_creation_input_token_cost": "cache_write",
    "cache_creation_input_token_cost_above_1hr": "cache_write_1h",
    "output_cost_per_reasoning_token": "reasoning",
    "input_cost_per_audio_token": "input_audio",
    "output_cost_per_audio_token": "output_audio",
    "input_cost_per_image_token": "input_image",
    "output_cost_per_image_token": "output_image",
    "input_cost_per_character": "characters",
    # Other spellings of a rate above; used only where the usual one is absent.
    "input_cost_per_token_cache_hit": "cache_read",
    "output_cost_per_character": "characters",
}
_SECONDARY = frozenset({"input_cost_per_token_cache_hit", "output_cost_per_character"})
UNIT_RATES: dict[str, str] = {
    "input_cost_per_request": "request",
    "input_cost_per_query": "request",
}
_TIERS = {"batches": "batch", "flex": "flex", "priority": "priority"}
_FIELD = re.compile(
    r"^(?P<base>[a-z0-9_]+?)(?:_above_(?P<k>\d+)k_tokens)?"
    r"(?:_(?P<tier>batches|flex|priority|ultrafast|decisions|balanced))?$"
)
_PER_SECOND = ("input_cost_per_second", "input_cost_per_audio_per_second", "output_cost_per_second")
_PER_IMAGE = ("output_cost_per_image", "input_cost_per_image")
_SIZED_IMAGE = re.compile(r"^output_cost_per_image_(?P<size>\d+(?:\.\d+)?K?)$")
_PIXEL = ("input_cost_per_pixel", "output_cost_per_pixel")
_ALL_WEEK = frozenset(range(1, 8))
_HOURS = re.compile(r"^(\d\d:\d\d)-(\d\d:\d\d)$")

Bucket = tuple[str | None, int | None]  # (service tier, long-context threshold)


@dataclass(frozen=True, slots=True)
class ImageKey:
    """The size and quality a LiteLLM key names: ``hd/1024-x-1792/dall-e-3``."""

    size: str
    quality: str


@dataclass(slots=True)
class _Collected:
    rates: dict[Bucket, dict[str, Decimal]] = field(default_factory=dict)
    fields: dict[Bucket, list[str]] = field(default_factory=dict)
    per_image: dict[str, Decimal] = field(default_factory=dict)
    per_second: dict[str, Decimal] = field(default_factory=dict)
    images: list[dict[str, Any]] = field(default_factory=list)
    pixels: list[str] = field(default_factory=list)


def is_price_field(name: str) -> bool:
    return "cost" in name or name in ("tiered_pricing", "off_peak_pricing")


def _is_zero(value: object) -> bool:
    if isinstance(value, Mapping):
        return all(_is_zero(v) for v in value.values())
    return not isinstance(value, bool) and isinstance(value, int | float) and value == 0


def _set_rate(got: _Collected, bucket: Bucket, rate: str, amount: Decimal, name: str) -> str | None:
    """Record a rate; the reason it was not recorded, if it clashes with one already there."""
    rates = got.rates.setdefault(bucket, {})
    if rate in rates and rates[rate] != amount:
        return f"{amount} differs from {rates[rate]} given by another field for the same rate"
    rates[rate] = amount
    got.fields.setdefault(bucket, []).append(name)
    return None


def _rate_field(got: _Collected, name: str, value: object, log: EntryLog) -> bool:
    """Take a ``<rate>[_above_Nk_tokens][_tier]`` field; False if it is not one."""
    found = _FIELD.match(name)
    if found is None:
        return False
    base, k, tier = found["base"], found["k"], found["tier"]
    if base in TOKEN_RATES:
        rate, amount = TOKEN_RATES[base], per_million(value)
    elif base in UNIT_RATES:
        rate, amount = UNIT_RATES[base], plain(money(value))
    else:
        return False
    if tier is not None and tier not in _TIERS:
        if amount:
            log.skip(
                name, f"service tier {tier!r} has no place in llmtally (batch, flex, priority)"
            )
        return True
    bucket = (_TIERS[tier] if tier else None, int(k) * 1000 if k else None)
    clash = _set_rate(got, bucket, rate, amount, name)
    if clash:
        log.skip(name, clash)
    return True


def _take(got: _Collected, name: str, value: object, log: EntryLog) -> None:
    if name in _PER_SECOND:
        if amount := money(value):
            got.per_second[name] = plain(amount)
    elif name in _PER_IMAGE:
        if amount := money(value):
            got.per_image[name] = plain(amount)
    elif sized := _SIZED_IMAGE.match(name):
        got.images.append({"size": sized["size"], "price": plain(money(value))})
    elif name in _PIXEL:
        if money(value):
            got.pixels.append(name)
    elif not _rate_field(got, name, value, log) and not _is_zero(value):
        log.skip(name, "llmtally has no price of this kind")


def _collect(entry: Mapping[str, Any], log: EntryLog) -> _Collected:
    got = _Collected()
    ordered = sorted(entry.items(), key=lambda item: item[0] in _SECONDARY)
    for name, value in ordered:
        if not is_price_field(name) or name in ("tiered_pricing", "off_peak_pricing"):
            continue
        try:
            _take(got, name, value, log)
        except BadValue as exc:
            log.reject(name, str(exc))
    return got


def _images(got: _Collected, kind: str, key: ImageKey | None, log: EntryLog) -> None:
    """Per-image prices: where the key names size and quality, or the field names a size."""
    if key is not None and got.per_image:
        chosen = next(name for name in _PER_IMAGE if name in got.per_image)
        price = got.per_image[chosen]
        got.images.append({"size": key.size, "quality": key.quality, "price": price})
        for name, other in got.per_image.items():
            if other != price:
                log.skip(name, f"a second price per image ({other}); kept {chosen} ({price})")
        return
    for name in got.per_image:
        if kind == "image":
            log.skip(name, "a price per image of unknown size and quality")
        else:
            log.skip(name, "a price per input image; llmtally prices input images by token")


def _audio(got: _Collected, kind: str, log: EntryLog) -> dict[str, Any] | None:
    if not got.per_second:
        return None
    order = list(reversed(_PER_SECOND)) if kind == "tts" else list(_PER_SECOND)
    chosen = next(name for name in order if name in got.per_second)
    price = got.per_second[chosen]
    for name, other in got.per_second.items():
        if other != price:
            log.skip(name, f"a second price per audio second ({other}); kept {chosen} ({price})")
    return {"price": price, "per": "second"}


def _tiered_pricing(got: _Collected, items: object, log: EntryLog) -> None:
    """LiteLLM ``tiered_pricing`` ranges: the range from 0 is the base, others are cliffs."""
    if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
        log.skip("tiered_pricing", "not a list of price ranges")
        return
    for pos, item in enumerate(items):
        where = f"tiered_pricing[{pos}]"
        span = item.get("range")
        if not isinstance(span, list) or not span or not isinstance(span[0], int | float):
            log.skip(where, "no 'range' [start, end] of prompt tokens")
            continue
        start = int(span[0])
        for name, value in item.items():
            if name == "range":
                continue
            if name not in TOKEN_RATES:
                log.skip(f"{where}.{name}", "llmtally has no price of this kind")
                continue
            clash = _set_rate(
                got, (None, start or None), TOKEN_RATES[name], per_million(value), name
            )
            if clash:
                log.skip(f"{where}.{name}", clash)


def _window_hours(spec: Mapping[str, Any]) -> list[tuple[dt.time, dt.time]] | None:
    days = spec.get("weekdays")
    if days is not None and (not isinstance(days, list) or set(days) != _ALL_WEEK):
        return None
    hours = spec.get("hours_utc")
    spans = [hours] if isinstance(hours, str) else hours
    if not isinstance(spans, list):
        return None
    out = []
    for span in spans:
        found = _HOURS.match(span) if isinstance(span, str) else None
        if found is None or found[1] == found[2]:
            return None
        out.append((dt.time.fromisoformat(found[1]), dt.time.fromisoformat(found[2])))
    return out


def _off_peak(spec: object, log: EntryLog) -> list[dict[str, Any]]:
    """``off_peak_pricing``: its rates in UTC windows, if the windows hold every day."""
    windows = spec.get("windows") if isinstance(spec, Mapping) else None
    if not isinstance(spec, Mapping) or not isinstance(windows, list):
        log.skip("off_peak_pricing", "no 'windows' list")
        return []
    rates = {TOKEN_RATES[k]: per_million(v) for k, v in spec.items() if k in TOKEN_RATES}
    unknown = [k for k in spec if k not in TOKEN_RATES and k != "windows"]
    spans = [_window_hours(w) if isinstance(w, Mapping) else None for w in windows]
    if unknown or not rates or any(s is None for s in spans):
        why = "its windows depend on the weekday or span whole days; llmtally windows are daily"
        log.skip("off_peak_pricing", f"fields {unknown} unknown" if unknown else why)
        return []
    return [{"start": start, "end": end, **rates} for span in spans for start, end in span or ()]


def _tiers(got: _Collected, log: EntryLog) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for tier in (None, *_TIERS.values()):
        base = got.rates.get((tier, None), {})
        cliffs = cumulative_cliffs(
            {above: r for (t, above), r in got.rates.items() if t == tier and above is not None}
        )
        if tier is None:
            out.update(base)
            out["long_context"] = cliffs
        elif base:
            out[tier] = {**base, "long_context": cliffs}
        elif cliffs:
            names = [n for (t, a), ns in got.fields.items() if t == tier for n in ns]
            log.skip(", ".join(names), f"{tier} long-context prices without {tier} base prices")
    return out


def price_fields(
    entry: Mapping[str, Any], kind: str, key: ImageKey | None, log: EntryLog
) -> dict[str, Any]:
    """The price fields of one entry (rates, cliffs, tiers, windows, images, audio)."""
    got = _collect(entry, log)
    try:
        if "tiered_pricing" in entry:
            _tiered_pricing(got, entry["tiered_pricing"], log)
        windows = _off_peak(entry["off_peak_pricing"], log) if "off_peak_pricing" in entry else []
    except BadValue as exc:
        log.reject("tiered_pricing/off_peak_pricing", str(exc))
        windows = []
    _images(got, kind, key, log)
    if got.pixels and not got.images:
        for name in got.pixels:
            log.skip(name, "a price per pixel; llmtally prices images by size and quality")
    out = _tiers(got, log)
    out.update(windows=windows, images=got.images, audio=_audio(got, kind, log))
    return out
