"""DashScope (Alibaba Cloud Model Studio, Qwen) usage -> :class:`~llmtally.usage.Usage`.

DashScope's OpenAI-compatible mode sends OpenAI's shapes, read by
:func:`~llmtally.providers.openai.parse_openai` with OpenAI's meaning, plus the
counts of its explicit context cache ("Context cache", explicit cache:
https://help.aliyun.com/zh/model-studio/context-cache,
https://www.alibabacloud.com/help/en/model-studio/context-cache), decided here:

- ``prompt_tokens_details.cache_creation_input_tokens``: the prompt tokens written
  to an explicit cache (a ``cache_control`` marker in the request), billed at 125%
  of the input price: ``cache_write_tokens``, a subset of ``prompt_tokens`` like
  ``cached_tokens`` (the page's own examples print ``prompt_tokens -
  cache_creation_input_tokens - cached_tokens`` as the tokens neither hit nor cached);
- ``prompt_tokens_details.cached_tokens``: cache hits, explicit (10% of input) or
  implicit (20%) alike: ``cache_read_tokens``. The two are mutually exclusive per
  request, and an explicit call also carries ``cache_type: "ephemeral"``, but
  :class:`~llmtally.usage.Usage` has no place for the kind of hit, so every hit is
  priced at the model's one ``cache_read`` rate, the implicit 20% (docs/decisions.md);
- the Responses API (session cache, billed as explicit cache) reports its cache
  writes only per billed item, ``x_details[].prompt_tokens_details``: summed here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from llmtally.providers.openai import parse_openai
from llmtally.providers.registry import Fields
from llmtally.usage import Usage

__all__ = ["parse_dashscope"]

_CREATED = "cache_creation_input_tokens"


def _cache_writes(usage: Mapping[str, Any]) -> int:
    """Explicit-cache creation tokens: the Chat Completions detail, else the sum
    of the Responses API's ``x_details`` items."""
    fields = Fields(usage)
    chat = fields.child("prompt_tokens_details").optional(_CREATED)
    if chat is not None:
        return chat
    items = fields.items("x_details")
    return sum(item.child("prompt_tokens_details").count(_CREATED) for item in items)


def parse_dashscope(usage: Mapping[str, Any]) -> Usage:
    """A DashScope (Qwen) Chat Completions or Responses ``usage`` object."""
    parsed = parse_openai(usage)
    written = _cache_writes(usage)
    if not written:
        return parsed
    return replace(parsed, cache_write_tokens=written)
