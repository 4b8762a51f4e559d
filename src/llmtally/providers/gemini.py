"""Gemini ``usageMetadata`` -> :class:`~llmtally.usage.Usage`.

Reads the REST form (camelCase: ``promptTokenCount``) and the Python SDK's
dump (snake_case: ``prompt_token_count``) alike; Gemini API and Vertex AI send
the same object.

Gemini's semantics, decided here and nowhere else:

- ``promptTokenCount`` counts every prompt token, the cached content
  included: ``cachedContentTokenCount`` is a subset of it (cache reads);
- ``toolUsePromptTokenCount`` (tool results fed back to the model) is *not*
  in ``promptTokenCount`` and is billed as input, so it is added to it;
- ``candidatesTokenCount`` does *not* count ``thoughtsTokenCount``; both are
  billed as output, so output = candidates + thoughts, and reasoning = thoughts;
  the Live API names the candidates total ``responseTokenCount``;
- ``promptTokensDetails``/``toolUsePromptTokensDetails`` and
  ``candidatesTokensDetails`` (``responseTokensDetails``) break the totals down
  by modality: ``AUDIO`` and ``IMAGE`` become the audio and image subsets.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from llmtally.providers.openai import parse_openai
from llmtally.providers.registry import Fields
from llmtally.usage import Usage

__all__ = ["parse_gemini", "parse_gemini_openai"]

_CAMEL_NAMES = (
    "promptTokenCount",
    "cachedContentTokenCount",
    "toolUsePromptTokenCount",
    "candidatesTokenCount",
    "responseTokenCount",
    "thoughtsTokenCount",
    "totalTokenCount",
)
_UPPER = re.compile(r"(?<!^)(?=[A-Z])")


def _snake(name: str) -> str:
    return _UPPER.sub("_", name).lower()


class _Names:
    """Field names in the style the object was sent in."""

    def __init__(self, usage: Mapping[str, Any]) -> None:
        camel = any(name in usage for name in _CAMEL_NAMES)
        self.snake = not camel and any(_snake(name) in usage for name in _CAMEL_NAMES)

    def __call__(self, camel_name: str) -> str:
        return _snake(camel_name) if self.snake else camel_name


def _by_modality(entries: list[Fields], name: _Names) -> dict[str, int]:
    counts: dict[str, int] = {}
    for entry in entries:
        modality = (entry.text("modality") or "MODALITY_UNSPECIFIED").upper()
        counts[modality] = counts.get(modality, 0) + entry.count(name("tokenCount"))
    return counts


def parse_gemini(usage: Mapping[str, Any]) -> Usage:
    """A Gemini / Vertex AI ``usageMetadata`` object (REST or SDK dump)."""
    fields = Fields(usage)
    name = _Names(usage)
    candidates = fields.optional(name("candidatesTokenCount"))
    if candidates is None:
        candidates = fields.count(name("responseTokenCount"))
    thoughts = fields.count(name("thoughtsTokenCount"))
    inputs = _by_modality(
        fields.items(name("promptTokensDetails"))
        + fields.items(name("toolUsePromptTokensDetails")),
        name,
    )
    outputs = _by_modality(
        fields.items(name("candidatesTokensDetails"))
        or fields.items(name("responseTokensDetails")),
        name,
    )
    return Usage(
        input_tokens=fields.required(name("promptTokenCount"))
        + fields.count(name("toolUsePromptTokenCount")),
        cache_read_tokens=fields.count(name("cachedContentTokenCount")),
        input_audio_tokens=inputs.get("AUDIO", 0),
        input_image_tokens=inputs.get("IMAGE", 0),
        output_tokens=candidates + thoughts,
        reasoning_tokens=thoughts,
        output_audio_tokens=outputs.get("AUDIO", 0),
        output_image_tokens=outputs.get("IMAGE", 0),
    )


def parse_gemini_openai(usage: Mapping[str, Any]) -> Usage:
    """A Gemini ``usage`` from Google's OpenAI-compatible endpoint
    (``/v1beta/openai/chat/completions``, https://ai.google.dev/gemini-api/docs/openai).

    It has OpenAI's shape, but ``completion_tokens`` is Gemini's candidates count:
    the thoughts of a thinking model are billed as output yet reported only in
    ``total_tokens`` (= prompt + candidates + thoughts), unless a
    ``completion_tokens_details.reasoning_tokens`` says so the OpenAI way. So
    billed output = ``total_tokens`` - ``prompt_tokens`` where that is larger."""
    parsed = parse_openai(usage)
    total = Fields(usage).optional("total_tokens")
    if parsed.reasoning_tokens or total is None:
        return parsed
    hidden = total - parsed.input_tokens - parsed.output_tokens
    if hidden <= 0:
        return parsed
    return replace(parsed, output_tokens=parsed.output_tokens + hidden, reasoning_tokens=hidden)
