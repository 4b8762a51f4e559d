"""Rows for ``llmtally prices``: the models a pattern names, with today's unit prices.

Each row's prices are in its price file's currency (``currency``: CNY for the
mainland China files, USD unless a file names another); nothing is converted.
``output_thinking`` is the price of every output token of a request that
reports reasoning (Qwen's, Doubao's thinking mode); ``long_context`` lists the
length tiers (cliffs) of the standard price, each with its prompt bound and,
where the tier also needs a long answer, its output bound (``output_above``);
``rates`` (JSON only) every unit price the standard price sets, by its price-file
name (``cache_write``, ``cache_write_1h``, ``characters``, ``input_audio``, ...).
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from dataclasses import dataclass
from decimal import Decimal

from llmtally.catalog.catalog import Catalog, NoPriceError
from llmtally.catalog.matching import ModelRef, UnknownModelError
from llmtally.catalog.price import LongContext, Price, Rates

__all__ = ["Cliff", "PriceRow", "price_rows"]

# The rates a length tier may re-price that the listing shows, with their JSON names.
CLIFF_RATES = ("input", "cache_read", "output", "output_thinking")


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True, slots=True)
class Cliff:
    """A length tier: a prompt of more than ``above`` tokens (and, where
    ``output_above`` is set, an output of more than that many) re-prices the
    whole request at ``rates`` (the rates it leaves out stay as they were)."""

    above: int
    output_above: int | None
    rates: Rates

    @classmethod
    def of(cls, cliff: LongContext) -> Cliff:
        return cls(cliff.above, cliff.output_above, cliff.rates)

    def as_json(self) -> dict[str, object]:
        found: dict[str, object] = {"above": self.above, "output_above": self.output_above}
        for name in CLIFF_RATES:
            value = getattr(self.rates, name)
            if value is not None:
                found[f"{name}_per_1m"] = _text(value)
        return found


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
    currency: str = "USD"  # ISO 4217: every price of the row is in it
    output_thinking: Decimal | None = None
    long_context: tuple[Cliff, ...] = ()
    rates: Rates = Rates()  # every unit price of the standard price (cache writes, audio...)

    def as_json(self) -> dict[str, object]:
        text = _text
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
            "currency": self.currency,
            "output_thinking_per_1m": text(self.output_thinking),
            "long_context": [c.as_json() for c in self.long_context],
            # every rate the file sets, per 1M tokens (per 1M characters for
            # ``characters``), by the price file's own names: cache writes, audio, ...
            "rates": self.rates.as_dict(),
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
        currency=price.currency,
        output_thinking=price.rates.output_thinking,
        long_context=tuple(Cliff.of(c) for c in price.long_context),
        rates=price.rates,
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
