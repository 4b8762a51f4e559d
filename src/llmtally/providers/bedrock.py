"""AWS Bedrock Converse usage -> :class:`~llmtally.usage.Usage`.

Converse reports ``usage`` as a TokenUsage
(https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_TokenUsage.html):
``inputTokens``, ``outputTokens`` and ``totalTokens`` (required), and
``cacheReadInputTokens`` / ``cacheWriteInputTokens`` (optional). Bedrock's
semantics, decided here:

- ``inputTokens`` counts the prompt tokens that were neither read from nor
  written to the cache, as Anthropic's ``input_tokens`` does (the prompt
  caching guide, https://docs.aws.amazon.com/bedrock/latest/userguide/prompt-caching.html:
  ``totalTokens`` = ``inputTokens`` + ``outputTokens`` + the two cache counts),
  so every prompt token is the sum of the three;
- a response whose ``totalTokens`` is exactly ``inputTokens`` + ``outputTokens``
  while it reports cache tokens (no more than ``inputTokens``) counted them
  inside ``inputTokens``, and is read that way;
- ``outputTokens`` counts every output token (reasoning included).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llmtally.providers.registry import Fields
from llmtally.usage import Usage

__all__ = ["parse_bedrock"]


def parse_bedrock(usage: Mapping[str, Any]) -> Usage:
    """A Bedrock Converse (or ConverseStream ``metadata``) ``usage`` object."""
    fields = Fields(usage)
    given = fields.required("inputTokens")
    output = fields.required("outputTokens")
    read = fields.count("cacheReadInputTokens")
    write = fields.count("cacheWriteInputTokens")
    total = fields.optional("totalTokens")
    cached = read + write
    inside = cached > 0 and cached <= given and total == given + output
    return Usage(
        input_tokens=given if inside else given + cached,
        cache_read_tokens=read,
        cache_write_tokens=write,
        output_tokens=output,
    )
