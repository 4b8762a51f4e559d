"""Per-token rates of one price, service tier and prompt size, read off the meter.

Estimates and re-pricing work with expected (fractional) token counts, which a
``Usage`` cannot hold; they multiply counts by the rates here instead. Each
rate is the meter's own answer for one token of that kind in a request whose
prompt has ``prompt_tokens`` tokens, so tiers, long-context cliffs and the
meter's fallbacks (reasoning -> output, cache -> input, ...) apply exactly as
they do to a recorded call.

Two more facts of the request decide a rate, and a card carries both:
- ``output_tokens``, the request's whole output (reasoning included): a cliff
  with ``output_above`` (Doubao's longer-answer price) applies only when it is
  longer. For a price with such a cliff each probe carries that output (input
  kinds bill it apart, in the ``output`` component they do not read; output
  kinds bill all of it in the component read and divide by the count, exactly:
  the component is that many tokens times the per-token rate). For any other
  price the output is 0 and every probe prices a single token, as before.
- ``fx``: the factor from the price's currency to the currency the figures are
  in (1 when they are the same, which leaves every rate as the meter gave it).

``output_thinking`` is the rate of an answer token in a request that reports
reasoning tokens: the price's thinking rate where it has one (Qwen's, Doubao's
thinking mode bill every output token at it), else the plain output rate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Literal, get_args

from llmtally.catalog.price import Price
from llmtally.meter import PricingError, cost
from llmtally.usage import SERVICE_TIERS, ServiceTier, Usage

__all__ = [
    "RATE_KINDS",
    "RateCard",
    "RateKind",
    "as_tier",
    "offers_tier",
    "output_size",
    "require_tier",
]

RateKind = Literal[
    "input",
    "cache_read",
    "cache_write",
    "cache_write_1h",
    "input_image",
    "input_audio",
    "output",
    "output_thinking",
    "reasoning",
    "output_audio",
    "output_image",
    "request",
]
RATE_KINDS: tuple[RateKind, ...] = get_args(RateKind)


def as_tier(name: str) -> ServiceTier:
    """A service tier by name (as the ledger stores it); ValueError for another name."""
    for tier in SERVICE_TIERS:
        if tier == name:
            return tier
    raise ValueError(f"unknown service tier {name!r}; known: {', '.join(SERVICE_TIERS)}")


def offers_tier(price: Price, tier: str) -> bool:
    return tier == "standard" or tier in price.tiers


# kind -> (the one token's fields, the component that bills it, where the rest of
# the prompt goes: billed apart, so that the component read holds one token only).
_SHAPES: dict[RateKind, tuple[dict[str, int], str, str]] = {
    "input": ({}, "input", "cache_read_tokens"),
    "cache_read": ({"cache_read_tokens": 1}, "cache_read", "uncached"),
    "cache_write": ({"cache_write_tokens": 1}, "cache_write", "cache_read_tokens"),
    "cache_write_1h": (
        {"cache_write_tokens": 1, "cache_write_1h_tokens": 1},
        "cache_write",
        "cache_read_tokens",
    ),
    "input_image": ({"input_image_tokens": 1}, "input", "cache_read_tokens"),
    "input_audio": ({"input_audio_tokens": 1}, "audio", "cache_read_tokens"),
    "output": ({"output_tokens": 1}, "output", "prompt"),
    # one answer token beside one reasoning token: the thinking rate where there is one
    "output_thinking": ({"output_tokens": 2, "reasoning_tokens": 1}, "output", "prompt"),
    "reasoning": ({"output_tokens": 1, "reasoning_tokens": 1}, "reasoning", "prompt"),
    "output_audio": ({"output_tokens": 1, "output_audio_tokens": 1}, "audio", "prompt"),
    "output_image": ({"output_tokens": 1, "output_image_tokens": 1}, "images", "prompt"),
    "request": ({}, "request", "prompt"),
}


def _has_output_cliff(price: Price) -> bool:
    cliffs = [*price.long_context, *(c for t in price.tiers.values() for c in t.long_context)]
    return any(c.output_above is not None for c in cliffs)


def output_size(price: Price, output_tokens: Decimal | int) -> int:
    """The request's output as a card needs it: whole tokens (an expectation
    rounded half-even) where ``price`` has a cliff that looks at the output, else
    0 (so that cards of other prices are shared whatever the output)."""
    if not _has_output_cliff(price):
        return 0
    return int(Decimal(output_tokens).to_integral_value(ROUND_HALF_EVEN))


def _whole_output(kind: RateKind, output: int) -> tuple[dict[str, int], int]:
    """An output-side kind's tokens as the request's whole output of ``output``
    tokens, and how many of them the kind's component bills."""
    if kind == "output_thinking":  # one reasoning token, the rest answer
        total = max(output, 2)
        return {"output_tokens": total, "reasoning_tokens": 1}, total - 1
    one, _, _ = _SHAPES[kind]
    return dict.fromkeys(one, output), output


def _probe(kind: RateKind, prompt: int, tier: ServiceTier, output: int) -> tuple[Usage, str, int]:
    """A usage billing ``count`` tokens of ``kind`` in a request of ``prompt``
    prompt tokens and (where ``output`` is above 0) ``output`` output tokens, the
    component of its cost that holds those tokens only, and ``count``."""
    one, component, rest = _SHAPES[kind]
    counts: dict[str, Any] = dict(one)
    count = 1
    if rest == "prompt":  # output side: the whole prompt read from cache, billed apart
        counts.update(input_tokens=prompt, cache_read_tokens=prompt)
        if output and kind == "request":
            counts["output_tokens"] = output
        elif output:
            whole, count = _whole_output(kind, output)
            counts.update(whole)
    else:
        size = max(prompt, 1)
        counts["input_tokens"] = size
        if rest != "uncached":
            counts[rest] = size - 1
        if output:  # billed in the output component, which an input kind does not read
            counts["output_tokens"] = output
    return Usage(**counts, service_tier=tier), component, count


@dataclass(slots=True)
class RateCard:
    """The price per token of each kind for ``price`` in ``tier`` with a prompt of
    ``prompt_tokens`` and an output of ``output_tokens`` (which decide the
    long-context cliffs; see :func:`output_size`), times ``fx`` (the price's
    currency into the figures'). ``rate`` raises
    :class:`~llmtally.meter.PricingError` for a kind the price cannot bill."""

    price: Price
    tier: ServiceTier
    prompt_tokens: int
    output_tokens: int = 0
    fx: Decimal = Decimal(1)
    _known: dict[RateKind, Decimal] = field(default_factory=dict)

    def rate(self, kind: RateKind) -> Decimal:
        known = self._known.get(kind)
        if known is None:
            usage, component, count = _probe(
                kind, self.prompt_tokens, self.tier, self.output_tokens
            )
            known = getattr(cost(usage, self.price), component)
            if count != 1:  # exact: the component is count x the per-token rate
                known = known / count
            if self.fx != 1:
                known = known * self.fx
            self._known[kind] = known
        return known

    def prices_cache_reads(self) -> bool:
        """Whether the price has a cache-read rate of its own (else no prompt caching)."""
        return self._has("cache_read")

    def prices_cache_writes(self) -> bool:
        """Whether cache writes carry their own price (a premium, as Anthropic's)."""
        return self._has("cache_write")

    def _has(self, name: str) -> bool:
        tier = self.price.tiers.get(self.tier)
        tier_rates = tier.rates if tier is not None else None
        own = getattr(self.price.rates, name) is not None
        return own or (tier_rates is not None and getattr(tier_rates, name) is not None)


def require_tier(price: Price, tier: str) -> None:
    """PricingError naming the tiers offered when ``price`` has no ``tier``."""
    if not offers_tier(price, tier):
        offered = ", ".join(sorted(price.tiers)) or "none"
        raise PricingError(
            f"{price.provider}/{price.model} has no {tier} price (tiers offered: {offered})"
        )
