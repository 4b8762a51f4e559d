"""Resolved prices: what the meter multiplies usage by.

A :class:`Price` is one model's price entry in force at one instant (with a
time-of-day window already applied), plus what varies per request: long
context cliffs and service tiers. Built from the validated file schema once,
at load time.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, fields, replace
from decimal import ROUND_HALF_EVEN, Decimal

from llmtally.catalog.schema import (
    RATE_FIELDS,
    AudioSpec,
    LongContextSpec,
    PriceSpec,
    RatesSpec,
    SelfHostedSpec,
    TierSpec,
    WindowSpec,
)

__all__ = ["LongContext", "Price", "Rates", "Tier", "Window", "price_from_spec"]

_MILLION = Decimal(1_000_000)
_SECONDS_PER_HOUR = Decimal(3600)
# A computed rate per 1M tokens keeps 16 places: the cost of up to a trillion
# tokens stays exact to the ledger's 10 places, and no 28-digit repeating
# decimal reaches a price list or --json.
_RATE_QUANTUM = Decimal(1).scaleb(-16)


@dataclass(frozen=True, slots=True)
class Rates:
    """Unit prices; ``None`` means "not priced apart" (the meter falls back)."""

    input: Decimal | None = None
    output: Decimal | None = None
    cache_read: Decimal | None = None
    cache_write: Decimal | None = None
    cache_write_1h: Decimal | None = None
    reasoning: Decimal | None = None
    output_thinking: Decimal | None = None
    input_audio: Decimal | None = None
    output_audio: Decimal | None = None
    input_image: Decimal | None = None
    output_image: Decimal | None = None
    request: Decimal | None = None
    characters: Decimal | None = None

    @classmethod
    def from_spec(cls, spec: RatesSpec) -> Rates:
        return cls(**{name: getattr(spec, name) for name in RATE_FIELDS})

    def overlay(self, other: Rates) -> Rates:
        """These rates with every rate that ``other`` sets replaced."""
        changes = {f.name: getattr(other, f.name) for f in fields(other)}
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def scaled(self, factor: Decimal) -> Rates:
        changes = {f.name: getattr(self, f.name) for f in fields(self)}
        return replace(self, **{k: v * factor for k, v in changes.items() if v is not None})

    def as_dict(self) -> dict[str, str]:
        return {
            f.name: str(getattr(self, f.name))
            for f in fields(self)
            if getattr(self, f.name) is not None
        }


@dataclass(frozen=True, slots=True)
class LongContext:
    """A cliff: crossed by a prompt of more than ``above`` tokens and, where
    ``output_above`` is set, an output of more than that many tokens."""

    above: int
    rates: Rates
    output_above: int | None = None


@dataclass(frozen=True, slots=True)
class Tier:
    discount: Decimal | None
    rates: Rates | None
    long_context: tuple[LongContext, ...] = ()


@dataclass(frozen=True, slots=True)
class Window:
    start: dt.time
    end: dt.time
    discount: Decimal | None
    rates: Rates | None

    def contains(self, moment: dt.time) -> bool:
        if self.start <= self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end

    @property
    def label(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M} UTC"


@dataclass(frozen=True, slots=True)
class Price:
    """A model's prices in force at one instant."""

    provider: str
    model: str
    effective: dt.date | None
    source: str
    catalog_version: str
    rates: Rates
    long_context: tuple[LongContext, ...] = ()
    tiers: dict[str, Tier] = field(default_factory=dict)
    images: dict[tuple[str, str], Decimal] = field(default_factory=dict)
    audio: AudioSpec | None = None
    windows: tuple[Window, ...] = ()
    window: str | None = None
    self_hosted: SelfHostedSpec | None = None
    currency: str = "USD"  # ISO 4217: every rate above, and the meter's amounts, are in it
    # Derived values (per-token plans, window variants), computed once on first use.
    memo: dict[object, object] = field(default_factory=dict, compare=False, repr=False)

    @property
    def entry_id(self) -> str:
        since = self.effective.isoformat() if self.effective else "launch"
        return f"{self.provider}/{self.model}@{since}"

    def in_window(self, moment: dt.datetime | None) -> Price:
        """This price with the time-of-day window active at ``moment`` applied."""
        if not self.windows or moment is None:
            return self
        at = moment.astimezone(dt.UTC).time() if moment.tzinfo else moment.time()
        for index, win in enumerate(self.windows):
            if win.contains(at):
                variant = self.memo.get(("window", index))
                if not isinstance(variant, Price):
                    if win.rates is not None:
                        variant = replace(self, rates=self.rates.overlay(win.rates))
                    else:
                        variant = self.scaled(win.discount or Decimal(1))
                    variant = replace(variant, window=win.label, windows=(), memo={})
                    self.memo[("window", index)] = variant
                return variant
        return self

    def scaled(self, factor: Decimal) -> Price:
        """Every price of this entry times ``factor``: base, cliffs, tiers, media, windows."""

        def cliffs(items: tuple[LongContext, ...]) -> tuple[LongContext, ...]:
            return tuple(replace(c, rates=c.rates.scaled(factor)) for c in items)

        tiers = {
            name: Tier(
                discount=t.discount,
                rates=t.rates.scaled(factor) if t.rates else None,
                long_context=cliffs(t.long_context),
            )
            for name, t in self.tiers.items()
        }
        audio = self.audio
        if audio is not None:
            audio = audio.model_copy(update={"price": audio.price * factor})
        return replace(
            self,
            rates=self.rates.scaled(factor),
            long_context=cliffs(self.long_context),
            tiers=tiers,
            images={k: v * factor for k, v in self.images.items()},
            audio=audio,
            windows=tuple(
                replace(w, rates=w.rates.scaled(factor)) if w.rates else w for w in self.windows
            ),
            memo={},
        )

    def describe(self) -> dict[str, str | None]:
        return {
            "id": self.entry_id,
            "provider": self.provider,
            "model": self.model,
            "effective": self.effective.isoformat() if self.effective else None,
            "source": self.source,
            "window": self.window,
            "catalog_version": self.catalog_version,
        }


def _self_hosted_rates(spec: SelfHostedSpec) -> Rates:
    """Instance dollars per hour spread over the tokens it processes per hour,
    per 1M tokens, to _RATE_QUANTUM."""

    def per_million(tokens_per_second: Decimal) -> Decimal:
        per_hour = tokens_per_second * _SECONDS_PER_HOUR
        rate = spec.usd_per_hour * _MILLION / per_hour
        return rate.quantize(_RATE_QUANTUM, ROUND_HALF_EVEN)

    return Rates(
        input=per_million(spec.input_tokens_per_second),
        output=per_million(spec.output_tokens_per_second),
    )


def _long_context(specs: list[LongContextSpec]) -> tuple[LongContext, ...]:
    ordered = sorted(specs, key=lambda s: s.above)
    return tuple(
        LongContext(above=s.above, rates=Rates.from_spec(s), output_above=s.output_above)
        for s in ordered
    )


def _tier(spec: TierSpec) -> Tier:
    if spec.discount is not None:
        return Tier(
            discount=spec.discount, rates=None, long_context=_long_context(spec.long_context)
        )
    return Tier(
        discount=None, rates=Rates.from_spec(spec), long_context=_long_context(spec.long_context)
    )


def _window(spec: WindowSpec) -> Window:
    has_rates = any(getattr(spec, name) is not None for name in RATE_FIELDS)
    return Window(
        start=spec.start,
        end=spec.end,
        discount=spec.discount,
        rates=Rates.from_spec(spec) if has_rates else None,
    )


def price_from_spec(
    provider: str, model: str, spec: PriceSpec, version: str, currency: str = "USD"
) -> Price:
    rates = Rates.from_spec(spec)
    if spec.self_hosted is not None:
        rates = _self_hosted_rates(spec.self_hosted).overlay(rates)
    tiers = {
        name: _tier(tier)
        for name, tier in (("batch", spec.batch), ("flex", spec.flex), ("priority", spec.priority))
        if tier is not None
    }
    return Price(
        provider=provider,
        model=model,
        effective=spec.effective,
        source=spec.source,
        catalog_version=version,
        rates=rates,
        long_context=_long_context(spec.long_context),
        tiers=tiers,
        images={(i.size, i.quality): i.price for i in spec.images},
        audio=spec.audio,
        windows=tuple(_window(w) for w in spec.windows),
        self_hosted=spec.self_hosted,
        currency=currency,
    )
