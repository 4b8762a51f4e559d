"""Anthropic Messages usage -> :class:`~llmtally.usage.Usage`.

Anthropic's semantics, decided here and nowhere else:

- ``input_tokens`` counts only the tokens after the last cache breakpoint: it
  *excludes* ``cache_read_input_tokens`` and ``cache_creation_input_tokens``,
  so every prompt token is the sum of the three;
- ``cache_creation`` splits the cache writes by TTL
  (``ephemeral_5m_input_tokens``, ``ephemeral_1h_input_tokens``). The total
  write count is ``cache_creation_input_tokens`` (the billed field; the split
  is summed only when that field is absent);
- ``output_tokens`` counts every output token, extended thinking included;
  ``output_tokens_details.thinking_tokens``, when sent, is a subset of it;
- ``service_tier`` is ``standard``, ``priority`` or ``batch``;
- ``server_tool_use`` (web search and fetch requests) is priced per request,
  which ``Usage`` does not carry yet: it is read past, and ``requests`` stays 1.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llmtally.providers.registry import Fields, ProviderUsageError
from llmtally.usage import ServiceTier, Usage

__all__ = ["parse_anthropic"]

_TIERS: dict[str, ServiceTier] = {"standard": "standard", "priority": "priority", "batch": "batch"}


def _service_tier(fields: Fields) -> ServiceTier:
    tier = fields.text("service_tier")
    if tier is None:
        return "standard"
    try:
        return _TIERS[tier]
    except KeyError:
        known = ", ".join(_TIERS)
        raise ProviderUsageError(
            f"{fields.path}.service_tier: must be one of {known}, got {tier!r}"
        ) from None


def parse_anthropic(usage: Mapping[str, Any]) -> Usage:
    """An Anthropic Messages (or Message Batches result) ``usage`` object."""
    fields = Fields(usage)
    uncached = fields.required("input_tokens")
    cache_read = fields.count("cache_read_input_tokens")
    split = fields.child("cache_creation")
    five_minutes = split.count("ephemeral_5m_input_tokens")
    one_hour = split.count("ephemeral_1h_input_tokens")
    cache_write = fields.optional("cache_creation_input_tokens")
    if cache_write is None:
        cache_write = five_minutes + one_hour
    return Usage(
        input_tokens=uncached + cache_read + cache_write,
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        cache_write_1h_tokens=one_hour,
        output_tokens=fields.required("output_tokens"),
        reasoning_tokens=fields.child("output_tokens_details").count("thinking_tokens"),
        service_tier=_service_tier(fields),
    )
