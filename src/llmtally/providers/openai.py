"""OpenAI's usage objects -> :class:`~llmtally.usage.Usage`.

One parser reads the three OpenAI shapes, told apart by their fields:

- Chat Completions: ``prompt_tokens``, ``completion_tokens``,
  ``prompt_tokens_details`` and ``completion_tokens_details``;
- Responses API: ``input_tokens``, ``output_tokens``, ``input_tokens_details``
  and ``output_tokens_details``;
- embeddings: ``prompt_tokens`` and ``total_tokens`` only.

OpenAI's semantics, decided here and nowhere else:

- the prompt total counts every prompt token; ``cached_tokens`` (cache reads),
  ``cache_write_tokens``, ``audio_tokens`` and ``image_tokens`` are subsets of it;
- the completion total counts every output token *including* reasoning;
  ``reasoning_tokens``, ``audio_tokens`` and ``image_tokens`` are subsets of it,
  and so are ``accepted_prediction_tokens``/``rejected_prediction_tokens``
  (OpenAI bills rejected predictions as completion tokens), so nothing is added.

The OpenAI-compatible providers (Mistral, Groq, Together, OpenRouter) send the
same shape with the same meaning and use :func:`parse_openai`; extra keys such
as OpenRouter's ``cost`` or Groq's ``queue_time`` are ignored. xAI differs in
one respect and has its own entry, :func:`parse_xai`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from llmtally.providers.registry import Fields
from llmtally.usage import Usage

__all__ = ["parse_openai", "parse_xai"]

# (prompt, completion, reasoning, total or None) -> billed output tokens
OutputRule = Callable[[int, int, int, "int | None"], int]


@dataclass(frozen=True, slots=True)
class _Shape:
    prompt: str
    completion: str
    prompt_details: str
    completion_details: str


_CHAT = _Shape(
    "prompt_tokens", "completion_tokens", "prompt_tokens_details", "completion_tokens_details"
)
_RESPONSES = _Shape(
    "input_tokens", "output_tokens", "input_tokens_details", "output_tokens_details"
)


def _shape_of(fields: Fields) -> _Shape:
    # A Chat total wins: some gateways add zeroed Responses fields beside it.
    if "prompt_tokens" in fields:
        return _CHAT
    if "input_tokens" in fields or "output_tokens" in fields:
        return _RESPONSES
    return _CHAT  # reading it reports the missing prompt_tokens


def _completion(fields: Fields, shape: _Shape, prompt: int) -> int:
    """The output total; an embeddings usage has none (its total is its prompt)."""
    if shape is _CHAT and shape.completion not in fields and shape.completion_details not in fields:
        if fields.optional("total_tokens") == prompt:
            return 0
    return fields.required(shape.completion)


def _reasoning_included(prompt: int, completion: int, reasoning: int, total: int | None) -> int:
    return completion


def _parse(usage: Mapping[str, Any], output_rule: OutputRule) -> Usage:
    fields = Fields(usage)
    shape = _shape_of(fields)
    prompt = fields.required(shape.prompt)
    completion = _completion(fields, shape, prompt)
    inputs = fields.child(shape.prompt_details)
    outputs = fields.child(shape.completion_details)
    reasoning = outputs.count("reasoning_tokens")
    # Part of the completion total already; read only so a bad value is reported.
    outputs.count("accepted_prediction_tokens")
    outputs.count("rejected_prediction_tokens")
    return Usage(
        input_tokens=prompt,
        cache_read_tokens=inputs.count("cached_tokens"),
        cache_write_tokens=inputs.count("cache_write_tokens"),
        input_audio_tokens=inputs.count("audio_tokens"),
        input_image_tokens=inputs.count("image_tokens"),
        output_tokens=output_rule(prompt, completion, reasoning, fields.optional("total_tokens")),
        reasoning_tokens=reasoning,
        output_audio_tokens=outputs.count("audio_tokens"),
        output_image_tokens=outputs.count("image_tokens"),
    )


def parse_openai(usage: Mapping[str, Any]) -> Usage:
    """An OpenAI (or OpenAI-compatible) Chat Completions, Responses or embeddings usage."""
    return _parse(usage, _reasoning_included)


def _xai_output(prompt: int, completion: int, reasoning: int, total: int | None) -> int:
    # xAI reports reasoning tokens *beside* completion tokens, not inside them:
    # - xAI's Reasoning guide (https://docs.x.ai/docs/guides/reasoning, "Usage
    #   Example"; the grok-3-mini sample output, as mirrored at
    #   https://grok-api.apidog.io/reasoning-15799160e0) answers "The result of 101
    #   multiplied by 3 is 303." with 14 completion tokens and 310 reasoning tokens;
    # - xAI's Consumption and Rate Limits page (https://docs.x.ai/developers/rate-limits)
    #   bills "Completion tokens" and "Reasoning tokens" as separate categories,
    #   both at the completion token price;
    # - Google's Grok reference (https://cloud.google.com/vertex-ai/generative-ai/docs/
    #   partner-models/grok/capabilities/reasoning): reasoning_tokens are "separated
    #   from the completion_tokens"; its example has total 837 = 663 + 50 + 124.
    # So billed output = completion + reasoning. Some gateways re-report xAI in
    # OpenAI's convention (reasoning inside completion); their total_tokens then
    # equals prompt + completion, and only that explicit total overrides the
    # documented rule.
    if reasoning and total == prompt + completion and reasoning <= completion:
        return completion
    return completion + reasoning


def parse_xai(usage: Mapping[str, Any]) -> Usage:
    """An xAI Chat Completions or Responses usage (OpenAI's shape, reasoning apart)."""
    return _parse(usage, _xai_output)
