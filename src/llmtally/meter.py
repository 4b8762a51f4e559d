"""Usage x Price -> Cost, in Decimal, one amount per component.

Rules (see docs/decisions.md):
- Token amounts are ``tokens * USD-per-1M / 1e6``, exact, never rounded here.
- A long-context cliff is decided on the whole prompt (cache included) and
  re-prices every token of the request.
- A service tier (batch/flex/priority) uses its own published rates, or its
  published discount factor; a tier the model does not offer is an error,
  never silently the standard price.
- A rate that is not priced apart falls back to the rate it is a kind of:
  reasoning -> output, cache read/write -> input, 1h cache write -> 5m write,
  input image tokens -> input. Audio tokens and media units have no fallback:
  a missing price is an error, never $0.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal

from llmtally.catalog.price import LongContext, Price, Rates
from llmtally.usage import Usage

__all__ = ["COMPONENTS", "Cost", "PricingError", "cost"]

COMPONENTS = (
    "input",
    "cache_read",
    "cache_write",
    "output",
    "reasoning",
    "audio",
    "images",
    "request",
)

_ZERO = Decimal(0)
_SIXTY = Decimal(60)
_HOUR = Decimal(3600)


class PricingError(ValueError):
    """The usage needs a price the catalog entry does not have."""


@dataclass(frozen=True, slots=True)
class Cost:
    input: Decimal
    cache_read: Decimal
    cache_write: Decimal
    output: Decimal
    reasoning: Decimal
    audio: Decimal
    images: Decimal
    request: Decimal
    price: Price
    service_tier: str = "standard"
    long_context_above: int | None = None

    @property
    def total(self) -> Decimal:
        return (
            self.input
            + self.cache_read
            + self.cache_write
            + self.output
            + self.reasoning
            + self.audio
            + self.images
            + self.request
        )

    def breakdown(self) -> dict[str, str]:
        return {name: str(getattr(self, name)) for name in COMPONENTS}


def _require(rate: Decimal | None, what: str, price: Price) -> Decimal:
    if rate is None:
        raise PricingError(f"{price.provider}/{price.model} has no {what} price ({price.entry_id})")
    return rate


def _cliff(tiers: tuple[LongContext, ...], prompt: int) -> LongContext | None:
    hit = None
    for tier in tiers:
        if prompt > tier.above:
            hit = tier
    return hit


def _effective_rates(price: Price, usage: Usage) -> tuple[Rates, Decimal, int | None]:
    """The rates for this request after its service tier and long-context cliff."""
    rates, cliffs, factor = price.rates, price.long_context, Decimal(1)
    if usage.service_tier != "standard":
        tier = price.tiers.get(usage.service_tier)
        if tier is None:
            offered = ", ".join(sorted(price.tiers)) or "none"
            raise PricingError(
                f"{price.provider}/{price.model} has no {usage.service_tier} price "
                f"(tiers offered: {offered})"
            )
        if tier.rates is not None:
            rates, cliffs = rates.overlay(tier.rates), tier.long_context
        else:
            factor = tier.discount or factor
            cliffs = tier.long_context or cliffs
    cliff = _cliff(cliffs, usage.input_tokens)
    if cliff is not None:
        rates = rates.overlay(cliff.rates)
    return rates, factor, cliff.above if cliff else None


def _audio_seconds_cost(usage: Usage, price: Price) -> Decimal:
    if usage.audio_seconds is None:
        return _ZERO
    spec = price.audio
    if spec is None:
        raise PricingError(f"{price.provider}/{price.model} has no per-duration audio price")
    step = Decimal(spec.increment_seconds)
    units = usage.audio_seconds / step
    rounded = units.to_integral_value(ROUND_CEILING if spec.rounding == "up" else ROUND_HALF_UP)
    billed = max(rounded * step, spec.minimum_seconds)
    per_second = spec.price / {"second": Decimal(1), "minute": _SIXTY, "hour": _HOUR}[spec.per]
    return billed * per_second


def _images_cost(usage: Usage, price: Price) -> Decimal:
    total = _ZERO
    for unit in usage.images:
        each = price.images.get((unit.size, unit.quality))
        if each is None:
            known = ", ".join(f"{s} {q}" for s, q in sorted(price.images)) or "none"
            raise PricingError(
                f"{price.provider}/{price.model} has no price for {unit.size} {unit.quality} "
                f"images (priced: {known})"
            )
        total += each * unit.n
    return total


def _input_parts(usage: Usage, r: Rates, price: Price) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    """(input, cache_read, cache_write, audio) in USD x 1e6."""
    uncached = usage.uncached_input_tokens
    audio = min(usage.input_audio_tokens, uncached)
    image = min(usage.input_image_tokens, uncached - audio)
    text = uncached - audio - image
    text_cost = _ZERO
    if text or image:
        base = _require(r.input, "input", price)
        text_cost = text * base + image * (r.input_image if r.input_image is not None else base)
    if usage.characters:
        text_cost += usage.characters * _require(r.characters, "per-character", price)
    read = write = _ZERO
    if usage.cache_read_tokens:
        read = usage.cache_read_tokens * _require(
            r.cache_read if r.cache_read is not None else r.input, "cache read", price
        )
    if usage.cache_write_tokens:
        five = _require(
            r.cache_write if r.cache_write is not None else r.input, "cache write", price
        )
        hour = r.cache_write_1h if r.cache_write_1h is not None else five
        long_lived = usage.cache_write_1h_tokens
        write = (usage.cache_write_tokens - long_lived) * five + long_lived * hour
    audio_cost = audio * _require(r.input_audio, "audio input", price) if audio else _ZERO
    return text_cost, read, write, audio_cost


def _output_parts(
    usage: Usage, r: Rates, price: Price
) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    """(output, reasoning, audio, image) in USD x 1e6."""
    text = (
        usage.output_tokens
        - usage.reasoning_tokens
        - usage.output_audio_tokens
        - usage.output_image_tokens
    )
    out = reasoning = audio = image = _ZERO
    if text:
        out = text * _require(r.output, "output", price)
    if usage.reasoning_tokens:
        rate = r.reasoning if r.reasoning is not None else _require(r.output, "output", price)
        reasoning = usage.reasoning_tokens * rate
    if usage.output_audio_tokens:
        audio = usage.output_audio_tokens * _require(r.output_audio, "audio output", price)
    if usage.output_image_tokens:
        image = usage.output_image_tokens * _require(r.output_image, "image output", price)
    return out, reasoning, audio, image


def cost(usage: Usage, price: Price) -> Cost:
    """The cost of ``usage`` at ``price``, one exact Decimal per component."""
    rates, factor, above = _effective_rates(price, usage)
    text_in, read, write, audio_in = _input_parts(usage, rates, price)
    out, reasoning, audio_out, image_out = _output_parts(usage, rates, price)
    request = usage.requests * rates.request if rates.request is not None else _ZERO
    media_audio = _audio_seconds_cost(usage, price)
    media_images = _images_cost(usage, price)
    if factor != 1:
        request, media_audio, media_images = (
            request * factor,
            media_audio * factor,
            media_images * factor,
        )
    scale = factor.scaleb(-6)
    return Cost(
        input=text_in * scale,
        cache_read=read * scale,
        cache_write=write * scale,
        output=out * scale,
        reasoning=reasoning * scale,
        audio=(audio_in + audio_out) * scale + media_audio,
        images=image_out * scale + media_images,
        request=request,
        price=price,
        service_tier=usage.service_tier,
        long_context_above=above,
    )
