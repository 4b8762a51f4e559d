"""Four facts about one call, read from its request and response when it is recorded.

The cost advisor needs them over millions of calls, so they are columns of the
ledger (``calls.request_sha256``, ``finish_reason``, ``max_output_tokens``,
``reasoning_effort``), never found again by parsing stored bodies:

- :func:`request_sha256`: the hex SHA-256 of the request body bytes exactly as
  the client sent them (identical repeated requests: a response-cache
  opportunity); None when there was no JSON body;
- :func:`finish_reason`: why the output stopped, normalised to one of
  :data:`FINISH_REASONS`, from a whole response body, or from one streamed
  event (:class:`llmtally.providers.streams.StreamAccumulator` keeps the last
  event's);
- :func:`max_output_tokens`: the output cap the request asked for;
- :func:`reasoning_effort`: how hard the request asked the model to think.

Where each wire keeps them (API references):

- OpenAI Chat Completions, https://platform.openai.com/docs/api-reference/chat/object :
  ``choices[0].finish_reason`` (``stop``, ``length``, ``tool_calls``,
  ``content_filter``, deprecated ``function_call``), each streamed chunk's
  ``choices[].finish_reason``
  (https://platform.openai.com/docs/api-reference/chat-streaming/streaming);
  request ``max_completion_tokens`` (or deprecated ``max_tokens``) and
  ``reasoning_effort`` (https://platform.openai.com/docs/api-reference/chat/create);
- OpenAI Responses, https://platform.openai.com/docs/api-reference/responses/object :
  ``status`` (``completed``, ``incomplete`` with ``incomplete_details.reason``
  ``max_output_tokens`` or ``content_filter``, ``failed``...), streamed as the
  ``response`` of ``response.completed`` / ``response.incomplete``; request
  ``max_output_tokens`` and ``reasoning.effort``;
- Anthropic Messages, https://docs.anthropic.com/en/api/messages : ``stop_reason``
  (``end_turn``, ``stop_sequence``, ``max_tokens``, ``tool_use``, ``refusal``,
  ``pause_turn``...; https://docs.anthropic.com/en/api/handling-stop-reasons),
  streamed in ``message_delta``'s ``delta.stop_reason``
  (https://docs.anthropic.com/en/api/messages-streaming); request
  ``max_tokens`` and ``thinking: {type: "enabled", budget_tokens}``
  (https://docs.anthropic.com/en/docs/build-with-claude/extended-thinking);
- Gemini, https://ai.google.dev/api/generate-content#FinishReason :
  ``candidates[0].finishReason`` (``STOP``, ``MAX_TOKENS``, ``SAFETY``,
  ``RECITATION``, ``BLOCKLIST``, ``PROHIBITED_CONTENT``, ``SPII``, ``OTHER``...),
  the last streamed chunk's; request ``generationConfig.maxOutputTokens`` and
  ``generationConfig.thinkingConfig.thinkingBudget`` / ``thinkingLevel``
  (https://ai.google.dev/gemini-api/docs/thinking);
- AWS Bedrock Converse,
  https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html :
  ``stopReason`` (``end_turn``, ``tool_use``, ``max_tokens``, ``stop_sequence``,
  ``guardrail_intervened``, ``content_filtered``...); request
  ``inferenceConfig.maxTokens`` and, for Anthropic's models,
  ``additionalModelRequestFields.thinking`` as in Anthropic's Messages.

Bodies may be huge, deeply nested or hostile: nothing here raises, recurses or
walks more than a bounded number of items; a value of the wrong type, an
absurd number or a long string gives None.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "EFFORT_MAX_CHARS",
    "FINISH_REASONS",
    "FinishReason",
    "anthropic_finish",
    "bedrock_finish",
    "chat_choice_finish",
    "finish_reason",
    "max_output_tokens",
    "reasoning_effort",
    "request_sha256",
    "responses_finish",
    "gemini_finish",
]

FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "other"]
FINISH_REASONS: tuple[FinishReason, ...] = (
    "stop",
    "length",
    "tool_calls",
    "content_filter",
    "other",
)
EFFORT_MAX_CHARS = 32
# No provider takes a cap or budget near this; past it a number is garbage.
_LARGEST = 2**53
_SCANNED_ITEMS = 1000  # output items of a Responses body looked at, at most

_CHAT: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}
_ANTHROPIC: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
_GEMINI: dict[str, FinishReason] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
}
_BEDROCK: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}
_RESPONSES_INCOMPLETE: dict[str, FinishReason] = {
    "max_output_tokens": "length",
    "content_filter": "content_filter",
}


def _mapping(value: object) -> Mapping[str, Any] | None:
    return value if isinstance(value, Mapping) else None


def _first(value: object) -> Mapping[str, Any] | None:
    """The first item of a list, when it is an object."""
    return _mapping(value[0]) if isinstance(value, list) and value else None


def _count(value: object) -> int | None:
    """A positive int (never a bool or a float), else None."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 < value <= _LARGEST else None


def _normalised(raw: object, table: Mapping[str, FinishReason]) -> FinishReason | None:
    """A provider's reason through ``table``; another non-empty string is ``other``."""
    if not isinstance(raw, str) or not raw:
        return None
    return table.get(raw, "other")


def _effort(value: object) -> str | None:
    if not isinstance(value, str) or not value or len(value) > EFFORT_MAX_CHARS:
        return None
    return value if value.isprintable() else None


def _budget(value: object) -> str | None:
    """``budget:<n>`` for an int budget (Gemini's -1 is "dynamic", 0 "off")."""
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) > _LARGEST:
        return None
    return f"budget:{value}"


# -- the response: why the output stopped --------------------------------------------


def chat_choice_finish(choice: object) -> FinishReason | None:
    """One Chat Completions choice's (or streamed chunk choice's) finish reason."""
    return _normalised((_mapping(choice) or {}).get("finish_reason"), _CHAT)


def _chat_finish(body: Mapping[str, Any]) -> FinishReason | None:
    return chat_choice_finish(_first(body.get("choices")))


def responses_finish(response: Mapping[str, Any]) -> FinishReason | None:
    """A Responses API ``response`` object's: ``completed`` is ``stop`` (or
    ``tool_calls`` when it ends in a function call), ``incomplete`` by its
    reason; None while it is still in progress."""
    status = response.get("status")
    if status == "incomplete":
        details = _mapping(response.get("incomplete_details")) or {}
        return _normalised(details.get("reason"), _RESPONSES_INCOMPLETE) or "other"
    if status == "completed":
        output = response.get("output")
        items = output[:_SCANNED_ITEMS] if isinstance(output, list) else []
        called = any((_mapping(item) or {}).get("type") == "function_call" for item in items)
        return "tool_calls" if called else "stop"
    if status in ("failed", "cancelled"):
        return "other"
    return None


def anthropic_finish(message: Mapping[str, Any]) -> FinishReason | None:
    """A Messages response's ``stop_reason`` (or a ``message_delta``'s ``delta``)."""
    return _normalised(message.get("stop_reason"), _ANTHROPIC)


def gemini_finish(body: Mapping[str, Any]) -> FinishReason | None:
    """A ``GenerateContentResponse``'s (or streamed chunk's) first candidate's."""
    return _normalised((_first(body.get("candidates")) or {}).get("finishReason"), _GEMINI)


def bedrock_finish(body: Mapping[str, Any]) -> FinishReason | None:
    """A Converse response's (or ConverseStream ``messageStop``'s) ``stopReason``."""
    return _normalised(body.get("stopReason"), _BEDROCK)


# -- the request: the output cap and the reasoning asked for -------------------------


def _chat_cap(request: Mapping[str, Any]) -> int | None:
    return _count(request.get("max_completion_tokens")) or _count(request.get("max_tokens"))


def _responses_cap(request: Mapping[str, Any]) -> int | None:
    return _count(request.get("max_output_tokens"))


def _anthropic_cap(request: Mapping[str, Any]) -> int | None:
    return _count(request.get("max_tokens"))


def _generation_config(request: Mapping[str, Any]) -> Mapping[str, Any]:
    return _mapping(request.get("generationConfig")) or {}


def _gemini_cap(request: Mapping[str, Any]) -> int | None:
    return _count(_generation_config(request).get("maxOutputTokens"))


def _bedrock_cap(request: Mapping[str, Any]) -> int | None:
    return _count((_mapping(request.get("inferenceConfig")) or {}).get("maxTokens"))


def _bedrock_effort(request: Mapping[str, Any]) -> str | None:
    return _anthropic_effort(_mapping(request.get("additionalModelRequestFields")) or {})


def _chat_effort(request: Mapping[str, Any]) -> str | None:
    return _effort(request.get("reasoning_effort"))


def _responses_effort(request: Mapping[str, Any]) -> str | None:
    return _effort((_mapping(request.get("reasoning")) or {}).get("effort"))


def _anthropic_effort(request: Mapping[str, Any]) -> str | None:
    thinking = _mapping(request.get("thinking")) or {}
    if thinking.get("type") != "enabled":
        return None
    return _budget(thinking.get("budget_tokens"))


def _gemini_effort(request: Mapping[str, Any]) -> str | None:
    thinking = _mapping(_generation_config(request).get("thinkingConfig")) or {}
    if "thinkingBudget" in thinking:
        return _budget(thinking["thinkingBudget"])
    return _effort(thinking.get("thinkingLevel"))


@dataclass(frozen=True, slots=True)
class _Facts:
    """Where one wire format keeps the facts (see the module docstring)."""

    finish: Callable[[Mapping[str, Any]], FinishReason | None]
    cap: Callable[[Mapping[str, Any]], int | None]
    effort: Callable[[Mapping[str, Any]], str | None]


# Keyed by llmtally.providers.wires.WireName; embeddings, images and audio have none.
_WIRES: dict[str, _Facts] = {
    "openai_chat": _Facts(_chat_finish, _chat_cap, _chat_effort),
    "openai_responses": _Facts(responses_finish, _responses_cap, _responses_effort),
    "anthropic": _Facts(anthropic_finish, _anthropic_cap, _anthropic_effort),
    "gemini": _Facts(gemini_finish, _gemini_cap, _gemini_effort),
    "bedrock_converse": _Facts(bedrock_finish, _bedrock_cap, _bedrock_effort),
}


def request_sha256(body: bytes | None) -> str | None:
    """The hex SHA-256 of a JSON request body as sent; None without one."""
    return hashlib.sha256(body).hexdigest() if body else None


def finish_reason(wire: str, body: object) -> FinishReason | None:
    """Why a whole response body of ``wire`` says its output stopped."""
    facts, found = _WIRES.get(wire), _mapping(body)
    if facts is None or found is None:
        return None
    return facts.finish(found)


def max_output_tokens(wire: str, request: object) -> int | None:
    """The output cap a request of ``wire`` asked for (a positive int), else None."""
    facts, found = _WIRES.get(wire), _mapping(request)
    return facts.cap(found) if facts is not None and found is not None else None


def reasoning_effort(wire: str, request: object) -> str | None:
    """The reasoning a request of ``wire`` asked for: an effort name (``low``,
    ``high``...) or ``budget:<tokens>``; None when absent or over 32 characters."""
    facts, found = _WIRES.get(wire), _mapping(request)
    return facts.effort(found) if facts is not None and found is not None else None
