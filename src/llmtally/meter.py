"""Usage x Price -> Cost, in Decimal, one amount per component.

Rules (see docs/decisions.md):
- Token amounts are ``tokens * USD-per-1M / 1e6``, exact, never rounded here.
- A long-context cliff is decided on the whole prompt (cache included) and
  re-prices every token of the request; a cliff with ``output_above`` also needs
  the output (reasoning included; per request, for a sum of ``requests``) to be
  longer than that.
- A service tier (batch/flex/priority) uses its own published rates, or its
  published discount factor; a tier the model does not offer is an error,
  never silently the standard price.
- A rate that is not priced apart falls back to the rate it is a kind of:
  reasoning -> output, cache read/write -> input, 1h cache write -> 5m write,
  input image tokens -> input. A request that reports reasoning tokens, at a
  price with an ``output_thinking`` rate, has all its text output (answer and
  reasoning) billed at that rate (Qwen's and Doubao's thinking mode). Audio
  tokens and media units have no fallback: a missing price is an error, never $0.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from typing import NamedTuple

from llmtally.catalog.price import LongContext, Price, Rates, Tier
from llmtally.usage import Usage

__all__ = [
    "COMPONENTS",
    "Cost",
    "PricingError",
    "Savings",
    "cost",
    "decimal_text",
    "savings",
    "time_cost",
]

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
_ONE = Decimal(1)
_PER_TOKEN = Decimal("0.000001")
_SIXTY = Decimal(60)
_HOUR = Decimal(3600)


class PricingError(ValueError):
    """The usage needs a price the catalog entry does not have."""


class Cost(NamedTuple):
    """One call's cost in USD, one exact amount per component."""

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
        return {name: decimal_text(getattr(self, name)) for name in COMPONENTS}


def decimal_text(amount: Decimal) -> str:
    """An exact amount as plain digits, without trailing zeros or an exponent."""
    return f"{amount.normalize():f}"


def _require(rate: Decimal | None, what: str, price: Price) -> Decimal:
    if rate is None:
        raise PricingError(f"{price.provider}/{price.model} has no {what} price ({price.entry_id})")
    return rate


@dataclass(frozen=True, slots=True)
class _Plan:
    """One (service tier, cliff) of a price: per-token rates with the tier's
    discount folded in, and the factor left for per-unit prices."""

    per_token: Rates
    factor: Decimal
    above: int | None


def _tier_and_cliffs(price: Price, name: str) -> tuple[Tier | None, tuple[LongContext, ...]]:
    if name == "standard":
        return None, price.long_context
    tier = price.tiers.get(name)
    if tier is None:
        offered = ", ".join(sorted(price.tiers)) or "none"
        raise PricingError(
            f"{price.provider}/{price.model} has no {name} price (tiers offered: {offered})"
        )
    if tier.rates is not None:
        return tier, tier.long_context
    return tier, tier.long_context or price.long_context


def _plan(price: Price, usage: Usage, prompt_tokens: int | None = None) -> _Plan:
    """The rates for this request after its service tier and long-context cliff
    (crossed by ``prompt_tokens``, the request's whole prompt: its input tokens)."""
    tier, cliffs = _tier_and_cliffs(price, usage.service_tier)
    prompt = usage.input_tokens if prompt_tokens is None else prompt_tokens
    cliff = None
    for candidate in cliffs:
        if prompt > candidate.above and (
            candidate.output_above is None
            or usage.output_tokens > candidate.output_above * usage.requests
        ):
            cliff = candidate
    key = (usage.service_tier, cliff.above if cliff else None)
    plan = price.memo.get(key)
    if isinstance(plan, _Plan):
        return plan
    rates, factor = price.rates, _ONE
    if tier is not None and tier.rates is not None:
        rates = rates.overlay(tier.rates)
    elif tier is not None:
        factor = tier.discount or _ONE
    if cliff is not None:
        rates = rates.overlay(cliff.rates)
    plan = _Plan(rates.scaled(factor * _PER_TOKEN), factor, key[1])
    price.memo[key] = plan
    return plan


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
    # Multiply before dividing, so that whole units come out exact.
    return billed * spec.price / {"second": _ONE, "minute": _SIXTY, "hour": _HOUR}[spec.per]


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
    """(input, cache_read, cache_write, audio) in USD, at per-token rates."""
    uncached = usage.input_tokens - usage.cache_read_tokens - usage.cache_write_tokens
    audio = min(usage.input_audio_tokens, uncached)
    image = min(usage.input_image_tokens, uncached - audio)
    text = uncached - audio - image
    text_cost = read = write = audio_cost = _ZERO
    if text or image:
        base = _require(r.input, "input", price)
        text_cost = text * base
        if image:
            text_cost += image * (r.input_image if r.input_image is not None else base)
    if usage.characters:
        text_cost += usage.characters * _require(r.characters, "per-character", price)
    if usage.cache_read_tokens:
        rate = r.cache_read if r.cache_read is not None else r.input
        read = usage.cache_read_tokens * _require(rate, "cache read", price)
    if usage.cache_write_tokens:
        rate = r.cache_write if r.cache_write is not None else r.input
        five = _require(rate, "cache write", price)
        hour = r.cache_write_1h if r.cache_write_1h is not None else five
        long_lived = usage.cache_write_1h_tokens
        write = (usage.cache_write_tokens - long_lived) * five + long_lived * hour
    if audio:
        audio_cost = audio * _require(r.input_audio, "audio input", price)
    return text_cost, read, write, audio_cost


def _thinking_parts(text: int, reasoning: int, r: Rates, price: Price) -> tuple[Decimal, Decimal]:
    """(answer, reasoning) of a request that reports reasoning tokens: both at the
    thinking rate where the price has one (Qwen's and Doubao's thinking mode),
    else the answer at ``output`` and the reasoning at ``reasoning``."""
    thinking = r.output_thinking
    if thinking is not None:
        return text * thinking, reasoning * thinking
    answer = text * _require(r.output, "output", price) if text else _ZERO
    rate = r.reasoning if r.reasoning is not None else _require(r.output, "output", price)
    return answer, reasoning * rate


def _output_parts(
    usage: Usage, r: Rates, price: Price
) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    """(output, reasoning, audio, image) in USD, at per-token rates."""
    text = (
        usage.output_tokens
        - usage.reasoning_tokens
        - usage.output_audio_tokens
        - usage.output_image_tokens
    )
    out = reasoning = audio = image = _ZERO
    if usage.reasoning_tokens:
        out, reasoning = _thinking_parts(text, usage.reasoning_tokens, r, price)
    elif text:
        out = text * _require(r.output, "output", price)
    if usage.output_audio_tokens:
        audio = usage.output_audio_tokens * _require(r.output_audio, "audio output", price)
    if usage.output_image_tokens:
        image = usage.output_image_tokens * _require(r.output_image, "image output", price)
    return out, reasoning, audio, image


def _unit_parts(usage: Usage, plan: _Plan, price: Price) -> tuple[Decimal, Decimal, Decimal]:
    """(request fees, audio by duration, images) in USD, tier factor applied."""
    if usage.audio_seconds is None and not usage.images and plan.per_token.request is None:
        return _ZERO, _ZERO, _ZERO
    # Per-request fees are not per token: undo the per-token scaling.
    fee = plan.per_token.request
    request = usage.requests * fee / _PER_TOKEN if fee is not None else _ZERO
    audio = _audio_seconds_cost(usage, price) * plan.factor
    images = _images_cost(usage, price) * plan.factor
    return request, audio, images


def cost(usage: Usage, price: Price, prompt_tokens: int | None = None) -> Cost:
    """The cost of ``usage`` at ``price``, one exact Decimal per component.

    ``usage`` may be the sum of many requests on the same side of every
    long-context cliff (``requests`` of them, as the advisor prices groups of
    calls): ``prompt_tokens``, one request's prompt size, then decides the cliff
    in place of the summed ``input_tokens``."""
    plan = _plan(price, usage, prompt_tokens)
    rates = plan.per_token
    text_in, read, write, audio_in = _input_parts(usage, rates, price)
    out, reasoning, audio_out, image_out = _output_parts(usage, rates, price)
    request, media_audio, media_images = _unit_parts(usage, plan, price)
    return Cost(
        input=text_in,
        cache_read=read,
        cache_write=write,
        output=out,
        reasoning=reasoning,
        audio=audio_in + audio_out + media_audio,
        images=image_out + media_images,
        request=request,
        price=price,
        service_tier=usage.service_tier,
        long_context_above=plan.above,
    )


class Savings(NamedTuple):
    """What a call saved against list price, USD; negative when it paid more."""

    cache: Decimal
    tier: Decimal


def savings(usage: Usage, price: Price, paid: Cost) -> Savings:
    """``cache``: the cost with every cached token billed as plain input, minus
    ``paid`` (cache-write premiums make it negative); ``tier``: the standard
    tier's cost minus ``paid`` (batch and flex save, priority costs more)."""
    cache = _ZERO
    if usage.cache_read_tokens or usage.cache_write_tokens or usage.cache_write_1h_tokens:
        bare = replace(usage, cache_read_tokens=0, cache_write_tokens=0, cache_write_1h_tokens=0)
        cache = cost(bare, price).total - paid.total
    tier = _ZERO
    if usage.service_tier != "standard":
        tier = cost(replace(usage, service_tier="standard"), price).total - paid.total
    return Savings(cache, tier)


def time_cost(price: Price, usd_per_hour: Decimal, prefill_s: Decimal, decode_s: Decimal) -> Cost:
    """A call on a machine of your own, priced by the time it held that machine:
    ``usd_per_hour`` x seconds / 3600, the prompt's processing (until the first
    token) as input and the generation as output. This assumes one call at a
    time (llama.cpp's default); for servers that batch many calls at once, price
    by measured throughput (a catalog ``self_hosted`` entry) instead."""
    if prefill_s < 0 or decode_s < 0:
        raise PricingError(f"negative call time: prefill {prefill_s} s, decode {decode_s} s")
    per_second = usd_per_hour / _HOUR
    return Cost(
        input=prefill_s * per_second,
        cache_read=_ZERO,
        cache_write=_ZERO,
        output=decode_s * per_second,
        reasoning=_ZERO,
        audio=_ZERO,
        images=_ZERO,
        request=_ZERO,
        price=price,
    )
