"""Moonshot (Kimi) chat usage -> :class:`~llmtally.usage.Usage`.

Kimi sends OpenAI's Chat Completions shape, read by
:func:`~llmtally.providers.openai.parse_openai` with OpenAI's meaning, and
reports its context-cache hits as a top-level ``usage.cached_tokens``
(https://platform.moonshot.cn/docs/api/chat, the usage object;
https://platform.moonshot.ai/docs/api/chat for the international platform): a
subset of ``prompt_tokens``, decided here. Where a response also carries
OpenAI's ``prompt_tokens_details.cached_tokens``, the top-level field wins.

In a stream Kimi puts the usage in the last chunk's ``choices[0].usage``
rather than in a chunk of its own (:class:`~llmtally.providers.streams.MoonshotChatStream`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from llmtally.providers.openai import parse_openai
from llmtally.providers.registry import Fields
from llmtally.usage import Usage

__all__ = ["parse_moonshot"]


def parse_moonshot(usage: Mapping[str, Any]) -> Usage:
    """A Moonshot (Kimi) Chat Completions ``usage`` object."""
    parsed = parse_openai(usage)
    cached = Fields(usage).optional("cached_tokens")
    if cached is None:
        return parsed
    return replace(parsed, cache_read_tokens=cached)
