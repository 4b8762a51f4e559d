"""Streamed responses -> usage, text and timing, fed the upstream's raw bytes.

One accumulator per wire format watches a streamed response as it passes
through, without holding it up or changing it: :meth:`StreamAccumulator.feed`
takes each chunk exactly as it arrived (an SSE line may be split anywhere) and
never raises on a malformed event (it is counted in ``malformed``).

- ``first_token_at``: :func:`time.monotonic` when the first content-bearing
  event arrived (text, refusal, tool arguments or reasoning), for time to first token;
- ``text``: the generated output so far (text, refusals, tool arguments and
  reasoning, all of it billed output), to estimate usage when a stream is cut;
- ``finished``: the format's terminal event was seen;
- ``model``: the model that served the request, when the stream says;
- ``error``: the payload of an in-stream error event, if one came;
- ``finish_reason``: why the output stopped, normalised
  (:mod:`llmtally.providers.request_facts`), as the last event that said so had it;
- :meth:`~StreamAccumulator.usage`: the final reported usage once seen, read by
  the parser its wire picks for the provider that served it
  (:meth:`llmtally.providers.wires.Wire.parse_usage`; token semantics live
  there, not here); :meth:`~StreamAccumulator.partial_usage`: whatever counts
  were reported so far (Anthropic's ``message_start``, Gemini's running totals).

Formats and their terminal events:

- ``openai_chat``: Chat Completions chunks; usage in the last chunk (``choices:
  []``) when ``stream_options.include_usage`` is true (Groq: the last chunk's
  ``x_groq.usage``; Kimi: the last chunk's ``choices[0].usage``, read by
  :class:`MoonshotChatStream` for the ``moonshot`` providers); ends with ``data: [DONE]``;
- ``openai_responses``: Responses API typed events; ``response.completed``
  (or ``.incomplete``/``.failed``) ends it and carries ``response.usage``;
- ``anthropic``: Messages events; ``message_start`` carries the input and cache
  counts, each ``message_delta`` cumulative counts (the latest value of each
  field wins); ``message_stop`` ends it; ``ping`` is ignored; ``error`` is kept;
- ``bedrock_converse``: ConverseStream's binary event-stream messages
  (:mod:`llmtally.providers.streams_bedrock`); ``metadata`` ends it with the usage;
- ``gemini``: ``streamGenerateContent?alt=sse`` chunks, each a
  ``GenerateContentResponse`` whose ``usageMetadata`` supersedes the last; a
  chunk with a ``finishReason`` ends it (the API sends no sentinel).
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, Literal

from llmtally import fastjson
from llmtally.providers.request_facts import (
    FinishReason,
    anthropic_finish,
    chat_choice_finish,
    gemini_finish,
    responses_finish,
)
from llmtally.providers.streams_sse import SSEEvent, SSEParser
from llmtally.usage import Usage

__all__ = [
    "WIRE_FORMATS",
    "AnthropicStream",
    "GeminiStream",
    "MoonshotChatStream",
    "OpenAIChatStream",
    "OpenAIResponsesStream",
    "StreamAccumulator",
    "WireFormat",
    "accumulator_for",
]

WireFormat = Literal["openai_chat", "openai_responses", "anthropic", "gemini", "bedrock_converse"]
WIRE_FORMATS: tuple[WireFormat, ...] = (
    "openai_chat",
    "openai_responses",
    "anthropic",
    "gemini",
    "bedrock_converse",
)
Clock = Callable[[], float]


def _mapping(value: object) -> Mapping[str, Any] | None:
    return value if isinstance(value, Mapping) else None


class StreamAccumulator(ABC):
    """What one streamed response said, gathered event by event."""

    wire: WireFormat
    provider: str = "openai"

    def __init__(self, *, provider: str | None = None, clock: Clock = time.monotonic) -> None:
        if provider is not None:
            self.provider = provider
        self._clock = clock
        self._sse = SSEParser()
        self._parts: list[str] = []
        self._usage: Mapping[str, Any] | None = None
        self._usage_final = False
        self.first_token_at: float | None = None
        self.finished = False
        self.model: str | None = None
        self.error: Mapping[str, Any] | None = None
        self.finish_reason: FinishReason | None = None
        self.events = 0
        self.malformed = 0

    def feed(self, chunk: bytes) -> None:
        """Take the next bytes of the response body, exactly as they came."""
        for event in self._sse.feed(chunk):
            self.events += 1
            if event.data == "[DONE]":
                self._on_done()
                continue
            try:
                payload = fastjson.loads(event.data)
            except json.JSONDecodeError:
                self.malformed += 1
                continue
            if isinstance(payload, Mapping):
                self._on_event(event, payload)
            else:
                self.malformed += 1

    @property
    def text(self) -> str:
        return "".join(self._parts)

    def usage(self) -> Usage | None:
        """The final reported usage, or None until (unless) the stream sent it.

        Raises :class:`~llmtally.providers.ProviderUsageError` if the upstream
        sent a usage object its parser cannot read."""
        return self.partial_usage() if self._usage_final else None

    def partial_usage(self) -> Usage | None:
        """The usage reported so far (maybe incomplete), or None."""
        if self._usage is None:
            return None
        from llmtally.providers.wires import wire_named  # it names this module's classes

        return wire_named(self.wire).parse_usage(self.provider, self._usage)

    def _output(self, value: object) -> None:
        """Record generated output; the first non-empty piece starts the clock."""
        if isinstance(value, str) and value:
            if self.first_token_at is None:
                self.first_token_at = self._clock()
            self._parts.append(value)

    def _finished_because(self, reason: FinishReason | None) -> None:
        """Keep the latest event's reason (an event without one changes nothing)."""
        if reason is not None:
            self.finish_reason = reason

    def _on_done(self) -> None:
        self.malformed += 1  # only OpenAI Chat ends with [DONE]

    @abstractmethod
    def _on_event(self, event: SSEEvent, payload: Mapping[str, Any]) -> None: ...


class OpenAIChatStream(StreamAccumulator):
    """OpenAI Chat Completions (and compatible) ``chat.completion.chunk`` events."""

    wire = "openai_chat"

    def _on_done(self) -> None:
        self.finished = True

    def _on_event(self, event: SSEEvent, payload: Mapping[str, Any]) -> None:
        if (error := _mapping(payload.get("error"))) is not None:
            self.error = error
            return
        if isinstance(payload.get("model"), str):
            self.model = payload["model"]
        # Groq reports a stream's usage in the last chunk's x_groq.usage
        # (https://console.groq.com/docs/text-chat#streaming-a-chat-completion).
        groq = _mapping(payload.get("x_groq")) or {}
        if (usage := _mapping(payload.get("usage")) or _mapping(groq.get("usage"))) is not None:
            self._usage, self._usage_final = usage, True
        choices = payload.get("choices")
        for choice in choices if isinstance(choices, list) else ():
            if (_mapping(choice) or {}).get("index", 0) == 0:  # choices[0]'s, as unstreamed
                self._finished_because(chat_choice_finish(choice))
            delta = _mapping((_mapping(choice) or {}).get("delta")) or {}
            self._output(delta.get("reasoning_content"))
            self._output(delta.get("content"))
            self._output(delta.get("refusal"))
            calls = delta.get("tool_calls")
            for call in calls if isinstance(calls, list) else ():
                function = _mapping((_mapping(call) or {}).get("function")) or {}
                self._output(function.get("arguments"))


class MoonshotChatStream(OpenAIChatStream):
    """Kimi's chunks: OpenAI's, with the usage in the last chunk's
    ``choices[0].usage`` (https://platform.moonshot.cn/docs/api/chat, streaming)."""

    def _on_event(self, event: SSEEvent, payload: Mapping[str, Any]) -> None:
        super()._on_event(event, payload)
        choices = payload.get("choices")
        for choice in choices if isinstance(choices, list) else ():
            if (usage := _mapping((_mapping(choice) or {}).get("usage"))) is not None:
                self._usage, self._usage_final = usage, True


_RESPONSES_TEXT = (
    "response.output_text.delta",
    "response.refusal.delta",
    "response.function_call_arguments.delta",
    "response.reasoning_text.delta",
    "response.reasoning_summary_text.delta",
)
_RESPONSES_END = ("response.completed", "response.incomplete", "response.failed")


class OpenAIResponsesStream(StreamAccumulator):
    """OpenAI Responses API typed events."""

    wire = "openai_responses"

    def _on_event(self, event: SSEEvent, payload: Mapping[str, Any]) -> None:
        kind = payload.get("type", event.event)
        if kind in _RESPONSES_TEXT:
            self._output(payload.get("delta"))
        elif kind == "error":
            self.error = payload
        elif (response := _mapping(payload.get("response"))) is not None:
            if isinstance(response.get("model"), str):
                self.model = response["model"]
            if kind in _RESPONSES_END:
                self.finished = True
                self._finished_because(responses_finish(response))
                if (usage := _mapping(response.get("usage"))) is not None:
                    self._usage, self._usage_final = usage, True


class AnthropicStream(StreamAccumulator):
    """Anthropic Messages events (``message_start`` ... ``message_stop``)."""

    wire = "anthropic"
    provider = "anthropic"

    def _merge(self, usage: Mapping[str, Any]) -> None:
        # Each field keeps its latest reported value; a null does not erase one.
        merged = dict(self._usage or {})
        merged.update({key: value for key, value in usage.items() if value is not None})
        self._usage = merged

    def _on_event(self, event: SSEEvent, payload: Mapping[str, Any]) -> None:
        kind = payload.get("type", event.event)
        if kind == "content_block_delta":
            delta = _mapping(payload.get("delta")) or {}
            for key in ("text", "thinking", "partial_json"):
                self._output(delta.get(key))
        elif kind == "content_block_start":
            block = _mapping(payload.get("content_block")) or {}
            self._output(block.get("text"))
        elif kind == "message_start":
            message = _mapping(payload.get("message")) or {}
            if isinstance(message.get("model"), str):
                self.model = message["model"]
            self._merge(_mapping(message.get("usage")) or {})
        elif kind == "message_delta":
            self._finished_because(anthropic_finish(_mapping(payload.get("delta")) or {}))
            if (usage := _mapping(payload.get("usage"))) is not None:
                self._merge(usage)
                self._usage_final = True
        elif kind == "message_stop":
            self.finished = True
        elif kind == "error":
            self.error = _mapping(payload.get("error")) or payload


class GeminiStream(StreamAccumulator):
    """Gemini ``streamGenerateContent?alt=sse`` chunks."""

    wire = "gemini"
    provider = "google"

    def _on_event(self, event: SSEEvent, payload: Mapping[str, Any]) -> None:
        if (error := _mapping(payload.get("error"))) is not None:
            self.error = error
            return
        if isinstance(payload.get("modelVersion"), str):
            self.model = payload["modelVersion"]
        self._finished_because(gemini_finish(payload))
        candidates = payload.get("candidates")
        for candidate in candidates if isinstance(candidates, list) else ():
            candidate = _mapping(candidate) or {}
            parts = (_mapping(candidate.get("content")) or {}).get("parts")
            for part in parts if isinstance(parts, list) else ():
                self._output((_mapping(part) or {}).get("text"))
            if candidate.get("finishReason"):
                self.finished = True
        if (usage := _mapping(payload.get("usageMetadata"))) is not None:
            self._usage = usage
        self._usage_final = self.finished and self._usage is not None


_ACCUMULATORS: dict[str, type[StreamAccumulator]] = {
    "openai_chat": OpenAIChatStream,
    "openai_responses": OpenAIResponsesStream,
    "anthropic": AnthropicStream,
    "gemini": GeminiStream,
}
# OpenAI-compatible hosts whose chat streams report usage elsewhere
_CHAT_BY_PROVIDER: dict[str | None, type[StreamAccumulator]] = {
    "moonshot": MoonshotChatStream,
    "moonshot-cn": MoonshotChatStream,
}


def accumulator_for(
    wire: WireFormat, *, provider: str | None = None, clock: Clock = time.monotonic
) -> StreamAccumulator:
    """A new accumulator for ``wire``; ``provider`` picks the usage parser
    (e.g. ``deepseek`` or ``xai`` over the ``openai_chat`` format)."""
    try:
        kind = _ACCUMULATORS[wire]
    except KeyError:
        if wire != "bedrock_converse":
            known = ", ".join(WIRE_FORMATS)
            raise ValueError(f"wire must be one of {known}, got {wire!r}") from None
        from llmtally.providers.streams_bedrock import BedrockConverseStream  # binary frames

        kind = BedrockConverseStream
    if provider in _CHAT_BY_PROVIDER and wire == "openai_chat":
        kind = _CHAT_BY_PROVIDER[provider]
    return kind(provider=provider, clock=clock)
