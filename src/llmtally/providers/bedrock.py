"""AWS Bedrock Converse usage -> :class:`~llmtally.usage.Usage`.

Converse reports ``usage`` as a TokenUsage
(https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_TokenUsage.html):
``inputTokens``, ``outputTokens`` and ``totalTokens`` (required), and
``cacheReadInputTokens`` / ``cacheWriteInputTokens`` (optional), and
``cacheDetails``, the cache writes by TTL (a list of CacheDetail ``{ttl: "5m" |
"1h", inputTokens}``,
https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_CacheDetail.html).
Bedrock's semantics, decided here:

- ``inputTokens`` counts the prompt tokens that were neither read from nor
  written to the cache, as Anthropic's ``input_tokens`` does (the prompt
  caching guide, https://docs.aws.amazon.com/bedrock/latest/userguide/prompt-caching.html:
  ``totalTokens`` = ``inputTokens`` + ``outputTokens`` + the two cache counts),
  so every prompt token is the sum of the three;
- a response whose ``totalTokens`` is exactly ``inputTokens`` + ``outputTokens``
  while it reports cache tokens (no more than ``inputTokens``) counted them
  inside ``inputTokens``, and is read that way;
- ``cacheDetails`` splits the writes by TTL: its ``1h`` entries are the
  1-hour writes (priced at ``cache_write_1h``); ``cacheWriteInputTokens`` stays
  the total (the details are summed only when it is absent), as Anthropic's
  ``cache_creation`` split is read;
- ``outputTokens`` counts every output token (reasoning included).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llmtally.providers.registry import Fields, ProviderUsageError
from llmtally.usage import Usage

__all__ = ["parse_bedrock"]


_TTLS = ("5m", "1h")


def _writes_by_ttl(fields: Fields) -> tuple[int, int]:
    """(every write, the 1-hour writes) listed in ``cacheDetails``."""
    every = one_hour = 0
    for detail in fields.items("cacheDetails"):
        ttl = detail.text("ttl")
        if ttl not in _TTLS:
            raise ProviderUsageError(
                f"{detail.path}.ttl: must be one of {', '.join(_TTLS)}, got {ttl!r}"
            )
        tokens = detail.required("inputTokens")
        every += tokens
        one_hour += tokens if ttl == "1h" else 0
    return every, one_hour


def parse_bedrock(usage: Mapping[str, Any]) -> Usage:
    """A Bedrock Converse (or ConverseStream ``metadata``) ``usage`` object."""
    fields = Fields(usage)
    given = fields.required("inputTokens")
    output = fields.required("outputTokens")
    read = fields.count("cacheReadInputTokens")
    detailed, one_hour = _writes_by_ttl(fields)
    write = fields.count("cacheWriteInputTokens", default=detailed)
    total = fields.optional("totalTokens")
    cached = read + write
    inside = cached > 0 and cached <= given and total == given + output
    return Usage(
        input_tokens=given if inside else given + cached,
        cache_read_tokens=read,
        cache_write_tokens=write,
        cache_write_1h_tokens=one_hour,
        output_tokens=output,
    )
