"""Rows for ``llmtally prices``: the models a pattern names, with today's unit prices."""

from __future__ import annotations

import datetime as dt
import fnmatch
from dataclasses import dataclass
from decimal import Decimal

from llmtally.catalog.catalog import Catalog, NoPriceError
from llmtally.catalog.matching import ModelRef, UnknownModelError
from llmtally.catalog.price import Price

__all__ = ["PriceRow", "price_rows"]


@dataclass(frozen=True, slots=True)
class PriceRow:
    provider: str
    model: str
    kind: str
    input: Decimal | None
    cache_read: Decimal | None
    output: Decimal | None
    batch_input: Decimal | None
    batch_output: Decimal | None
    context_window: int | None
    effective: dt.date | None
    source: str

    def as_json(self) -> dict[str, object]:
        def text(value: Decimal | None) -> str | None:
            return None if value is None else str(value)

        return {
            "provider": self.provider,
            "model": self.model,
            "kind": self.kind,
            "input_per_1m": text(self.input),
            "cache_read_per_1m": text(self.cache_read),
            "output_per_1m": text(self.output),
            "batch_input_per_1m": text(self.batch_input),
            "batch_output_per_1m": text(self.batch_output),
            "context_window": self.context_window,
            "effective": self.effective.isoformat() if self.effective else None,
            "source": self.source,
        }


def _batch(price: Price) -> tuple[Decimal | None, Decimal | None]:
    tier = price.tiers.get("batch")
    if tier is None:
        return None, None
    if tier.rates is not None:
        rates = price.rates.overlay(tier.rates)
        return rates.input, rates.output
    factor = tier.discount or Decimal(1)
    base = price.rates
    return (
        base.input * factor if base.input is not None else None,
        base.output * factor if base.output is not None else None,
    )


def _row(ref: ModelRef, price: Price) -> PriceRow:
    batch_in, batch_out = _batch(price)
    return PriceRow(
        provider=ref.provider,
        model=ref.spec.id,
        kind=ref.spec.kind,
        input=price.rates.input,
        cache_read=price.rates.cache_read,
        output=price.rates.output,
        batch_input=batch_in,
        batch_output=batch_out,
        context_window=ref.spec.context_window,
        effective=price.effective,
        source=price.source,
    )


def _selected(catalog: Catalog, pattern: str | None) -> list[ModelRef]:
    refs = list(catalog.refs())
    if not pattern:
        return refs
    needle = pattern.lower()
    if any(ch in needle for ch in "*?["):
        return [
            r
            for r in refs
            if fnmatch.fnmatch(r.spec.id.lower(), needle)
            or fnmatch.fnmatch(f"{r.provider}/{r.spec.id}".lower(), needle)
        ]
    hits = [
        r
        for r in refs
        if needle in f"{r.provider}/{r.spec.id}".lower()
        or any(needle in alias.lower() for alias in r.spec.aliases)
    ]
    if not hits:
        hits = [catalog.lookup(None, pattern)]  # by the matching rules, or UnknownModelError
    return hits


def price_rows(
    catalog: Catalog, pattern: str | None = None, at: dt.datetime | None = None
) -> list[PriceRow]:
    """Matching models with the prices in force at ``at``; models not yet priced are left out."""
    rows = []
    for ref in _selected(catalog, pattern):
        try:
            rows.append(_row(ref, catalog.price_of(ref, at)))
        except NoPriceError:
            continue
    if not rows and pattern:
        raise UnknownModelError(pattern, None, catalog.index.near(None, pattern.lower()))
    return sorted(rows, key=lambda r: (r.provider, r.model))
