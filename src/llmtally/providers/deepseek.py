"""DeepSeek chat usage -> :class:`~llmtally.usage.Usage`.

DeepSeek sends OpenAI's Chat Completions shape, read by
:func:`~llmtally.providers.openai.parse_openai` with OpenAI's meaning
(``completion_tokens`` already count the ``reasoning_tokens`` of
``deepseek-reasoner``), plus its own cache fields, decided here:

- ``prompt_tokens`` = ``prompt_cache_hit_tokens`` + ``prompt_cache_miss_tokens``;
- cache reads are ``prompt_cache_hit_tokens`` (``prompt_tokens_details.cached_tokens``,
  when that is all there is). DeepSeek does not charge cache writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from llmtally.providers.openai import parse_openai
from llmtally.providers.registry import Fields, ProviderUsageError
from llmtally.usage import Usage

__all__ = ["parse_deepseek"]


def parse_deepseek(usage: Mapping[str, Any]) -> Usage:
    """A DeepSeek Chat Completions ``usage`` object."""
    parsed = parse_openai(usage)
    fields = Fields(usage)
    hit = fields.optional("prompt_cache_hit_tokens")
    miss = fields.optional("prompt_cache_miss_tokens")
    if hit is not None and miss is not None and hit + miss != parsed.input_tokens:
        raise ProviderUsageError(
            f"usage.prompt_cache_hit_tokens + usage.prompt_cache_miss_tokens = {hit + miss}"
            f" must equal usage.prompt_tokens = {parsed.input_tokens}"
        )
    if hit is None:
        return parsed
    return replace(parsed, cache_read_tokens=hit)
