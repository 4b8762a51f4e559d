"""What an estimate says about each model, and its JSON form (amounts as exact strings).

Amounts are in the estimate's ``currency`` (USD unless every price is in one
other currency, or another was asked for); a price in another currency was
converted at the rate in ``fx`` (every digit used, its day and source). Per
request and per month are exact; per day is the month divided by
``days_per_month``, exact when that division terminates and else rounded
half-even to 10 places (the ledger's precision), as is a per-request figure
that spreads a monthly amount.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal, Inexact, localcontext
from typing import Any

from llmtally.currency import Converted
from llmtally.meter import decimal_text

__all__ = [
    "COMPONENTS",
    "SOURCES",
    "CacheLine",
    "CallLine",
    "Estimate",
    "FxLine",
    "ModelEstimate",
    "Tally",
    "divide",
]

COMPONENTS = (
    "input",
    "cache_read",
    "cache_write",
    "output",
    "reasoning",
    "images",
    "audio",
    "embeddings",
    "storage",
    "fees",
)
# Where the money goes: the user's visible prompt, the hidden system prompt,
# history or retrieved context, the visible answer, hidden reasoning, calls
# made in the background, media (images in and out, audio), embeddings and
# vector storage, per-request fees.
SOURCES = (
    "prompt",
    "system",
    "context",
    "output",
    "reasoning",
    "background",
    "media",
    "embeddings",
    "storage",
    "fees",
)
_PLACES = Decimal(1).scaleb(-10)


def divide(amount: Decimal, by: Decimal) -> Decimal:
    """``amount / by``: exact when it terminates, else rounded half-even to 10 places."""
    with localcontext() as ctx:
        ctx.prec = 60
        ctx.clear_flags()
        quotient = amount / by
        exact = not ctx.flags[Inexact]
    # (not ``quotient * by == amount``: that product rounds to 60 digits too, so
    # 1/30 looked exact)
    return quotient if exact else quotient.quantize(_PLACES, ROUND_HALF_EVEN)


def _text(amount: Decimal | None) -> str | None:
    return None if amount is None else decimal_text(amount)


class Tally:
    """USD by (source, component), added up exactly."""

    def __init__(self) -> None:
        self.cells: defaultdict[tuple[str, str], Decimal] = defaultdict(Decimal)

    def add(self, source: str, component: str, amount: Decimal) -> None:
        if amount:
            self.cells[(source, component)] += amount

    def merge(self, other: Tally, times: Decimal = Decimal(1)) -> None:
        for key, amount in other.cells.items():
            self.cells[key] += amount * times

    @property
    def total(self) -> Decimal:
        return sum(self.cells.values(), Decimal(0))

    def by(self, axis: int, names: tuple[str, ...]) -> dict[str, Decimal]:
        out = dict.fromkeys(names, Decimal(0))
        for key, amount in self.cells.items():
            out[key[axis]] += amount
        return out


@dataclass(frozen=True, slots=True)
class CallLine:
    """One kind of call made for each request (the request itself, or a
    background call): ``per_request`` of them, at ``cost_per_request`` in all."""

    name: str
    model: str
    price_id: str
    per_request: Decimal
    cost_per_request: Decimal
    tokens: dict[str, Decimal]

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model": self.model,
            "price_id": self.price_id,
            "per_request": decimal_text(self.per_request),
            "cost_per_request": decimal_text(self.cost_per_request),
            "tokens_per_call": {k: decimal_text(v) for k, v in self.tokens.items()},
        }


@dataclass(frozen=True, slots=True)
class CacheLine:
    """Prompt caching on one kind of call: what it saves against no caching
    (negative when cache writes cost more than the reads save), and the hit
    rate at which it breaks even."""

    call: str
    hit_rate: Decimal
    ttl: str
    priced: bool
    saving_per_request: Decimal
    saving_per_month: Decimal
    break_even_hit_rate: Decimal | None

    def as_json(self) -> dict[str, Any]:
        return {
            "call": self.call,
            "hit_rate": decimal_text(self.hit_rate),
            "ttl": self.ttl,
            "priced": self.priced,
            "net_saving_per_request": decimal_text(self.saving_per_request),
            "net_saving_per_month": decimal_text(self.saving_per_month),
            "break_even_hit_rate": _text(self.break_even_hit_rate),
        }


@dataclass(frozen=True, slots=True)
class FxLine:
    """A conversion an estimate used: 1 ``source`` = ``rate`` ``target`` (every
    digit the figures were computed with), the rate's day and where it was read."""

    source: str
    target: str
    rate: Decimal
    day: dt.date
    where: str

    @classmethod
    def of(cls, found: Converted) -> FxLine:
        return cls(
            found.original.currency,
            found.amount.currency,
            found.rate,
            found.rate_date,
            found.source,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "from": self.source,
            "to": self.target,
            "rate": decimal_text(self.rate),
            "date": self.day.isoformat(),
            "source": self.where,
        }

    def text(self) -> str:
        return (
            f"1 {self.source} = {decimal_text(self.rate)} {self.target} "
            f"({self.day.isoformat()}, {self.where})"
        )


@dataclass(frozen=True, slots=True)
class ModelEstimate:
    """One model's projected cost; ``error`` (and no amounts) when it cannot be
    priced. ``price_currency``: the currency its price file bills in (its
    amounts are in the estimate's currency)."""

    model: str
    price_currency: str = "USD"
    per_request: Decimal | None = None
    per_day: Decimal | None = None
    per_month: Decimal | None = None
    one_off: Decimal = Decimal(0)
    components: dict[str, Decimal] = field(default_factory=dict)
    sources: dict[str, Decimal] = field(default_factory=dict)
    calls: tuple[CallLine, ...] = ()
    caches: tuple[CacheLine, ...] = ()
    notes: tuple[str, ...] = ()
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "price_currency": self.price_currency,
            "per_request": _text(self.per_request),
            "per_day": _text(self.per_day),
            "per_month": _text(self.per_month),
            "one_off": decimal_text(self.one_off),
            "components_per_month": {k: decimal_text(v) for k, v in self.components.items()},
            "sources_per_month": {k: decimal_text(v) for k, v in self.sources.items()},
            "calls": [c.as_json() for c in self.calls],
            "cache": [c.as_json() for c in self.caches],
            "notes": list(self.notes),
            "error": self.error,
        }


def _order(row: ModelEstimate) -> tuple[bool, Decimal, str]:
    return (row.per_month is None, row.per_month or Decimal(0), row.model)


@dataclass(frozen=True, slots=True)
class Estimate:
    """Every model's estimate for one workload, cheapest first (errors last)."""

    name: str
    price_date: dt.date
    requests_per_month: Decimal
    days_per_month: Decimal
    models: tuple[ModelEstimate, ...]
    currency: str = "USD"  # every amount above is in it
    fx: tuple[FxLine, ...] = ()  # the conversions used (none: every price was in it)

    @classmethod
    def sorted(
        cls,
        name: str,
        price_date: dt.date,
        requests_per_month: Decimal,
        days_per_month: Decimal,
        rows: list[ModelEstimate],
        money: tuple[str, tuple[FxLine, ...]] = ("USD", ()),
    ) -> Estimate:
        ordered = tuple(sorted(rows, key=_order))
        return cls(name, price_date, requests_per_month, days_per_month, ordered, *money)

    def model(self, name: str) -> ModelEstimate:
        """The estimate for ``name`` (``provider/id`` or the id alone)."""
        for row in self.models:
            if name in (row.model, row.model.split("/", 1)[-1]):
                return row
        raise KeyError(f"no estimate for {name!r}; have {', '.join(r.model for r in self.models)}")

    def as_json(self) -> dict[str, Any]:
        return {
            "workload": self.name,
            "price_date": self.price_date.isoformat(),
            "requests_per_month": decimal_text(self.requests_per_month),
            "days_per_month": decimal_text(self.days_per_month),
            "currency": self.currency,
            "fx": [line.as_json() for line in self.fx],
            "models": [m.as_json() for m in self.models],
        }
