"""Per-token rates of one price, service tier and prompt size, read off the meter.

Estimates and re-pricing work with expected (fractional) token counts, which a
``Usage`` cannot hold; they multiply counts by the rates here instead. Each
rate is the meter's own answer for one token of that kind in a request whose
prompt has ``prompt_tokens`` tokens, so tiers, long-context cliffs and the
meter's fallbacks (reasoning -> output, cache -> input, ...) apply exactly as
they do to a recorded call. No division: every probe prices a single token.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal, get_args

from llmtally.catalog.price import Price
from llmtally.meter import PricingError, cost
from llmtally.usage import SERVICE_TIERS, ServiceTier, Usage

__all__ = ["RATE_KINDS", "RateCard", "RateKind", "as_tier", "offers_tier", "require_tier"]

RateKind = Literal[
    "input",
    "cache_read",
    "cache_write",
    "cache_write_1h",
    "input_image",
    "input_audio",
    "output",
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
    "reasoning": ({"output_tokens": 1, "reasoning_tokens": 1}, "reasoning", "prompt"),
    "output_audio": ({"output_tokens": 1, "output_audio_tokens": 1}, "audio", "prompt"),
    "output_image": ({"output_tokens": 1, "output_image_tokens": 1}, "images", "prompt"),
    "request": ({}, "request", "prompt"),
}


def _probe(kind: RateKind, prompt: int, tier: ServiceTier) -> tuple[Usage, str]:
    """A usage billing one token of ``kind`` in a request of ``prompt`` prompt
    tokens, and the component of its cost that holds that token."""
    one, component, rest = _SHAPES[kind]
    counts: dict[str, Any] = dict(one)
    if rest == "prompt":  # output side: the whole prompt read from cache, billed apart
        counts.update(input_tokens=prompt, cache_read_tokens=prompt)
    else:
        size = max(prompt, 1)
        counts["input_tokens"] = size
        if rest != "uncached":
            counts[rest] = size - 1
    return Usage(**counts, service_tier=tier), component


@dataclass(slots=True)
class RateCard:
    """USD per token of each kind for ``price`` in ``tier`` with a prompt of
    ``prompt_tokens`` (which decides a long-context cliff). ``rate`` raises
    :class:`~llmtally.meter.PricingError` for a kind the price cannot bill."""

    price: Price
    tier: ServiceTier
    prompt_tokens: int
    _known: dict[RateKind, Decimal] = field(default_factory=dict)

    def rate(self, kind: RateKind) -> Decimal:
        known = self._known.get(kind)
        if known is None:
            usage, component = _probe(kind, self.prompt_tokens, self.tier)
            known = getattr(cost(usage, self.price), component)
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
