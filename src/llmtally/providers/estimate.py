"""Usage estimated offline, for a stream that was cut or an upstream that sent none.

The prompt is counted with :func:`llmtally.tokens.chat.count_messages` in the
request's wire format; the output is the tokens of the text generated so far.
Counts the upstream did report before the cut (Anthropic's ``message_start``
input and cache counts, a running output total) are kept where they are
larger than the estimate. The result is marked ``source="estimated"``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from llmtally.providers.streams import StreamAccumulator, WireFormat
from llmtally.tokens.base import Tokenizer
from llmtally.tokens.chat import Wire, count_messages
from llmtally.usage import Usage

__all__ = ["estimate_usage", "prompt_tokens", "settle_usage", "tokenizer_for"]

_TOKEN_WIRE: dict[str, Wire] = {
    "openai_chat": "openai",
    "openai_responses": "openai",
    "anthropic": "anthropic",
    "gemini": "gemini",
}


def _responses_messages(body: Mapping[str, Any]) -> list[Any]:
    """A Responses API ``input`` as Chat-style messages (items without a role as JSON)."""
    given = body.get("input", [])
    if isinstance(given, str):
        return [{"role": "user", "content": given}]
    messages: list[Any] = []
    for item in given if isinstance(given, list) else [given]:
        if isinstance(item, Mapping) and "role" in item and "content" in item:
            messages.append({"role": item["role"], "content": item["content"]})
        else:
            messages.append({"role": "user", "content": json.dumps(item, ensure_ascii=False)})
    return messages


def _request_parts(body: Mapping[str, Any], wire: WireFormat) -> tuple[list[Any], Any, Any]:
    """(messages, system, tools) of a request body in ``wire`` format."""
    if wire == "openai_chat":
        return list(body.get("messages", [])), None, body.get("tools")
    if wire == "openai_responses":
        return _responses_messages(body), body.get("instructions"), body.get("tools")
    if wire == "anthropic":
        return list(body.get("messages", [])), body.get("system"), body.get("tools")
    if wire == "gemini":
        system = body.get("systemInstruction", body.get("system_instruction"))
        return list(body.get("contents", [])), system, body.get("tools")
    raise ValueError(f"unknown wire format {wire!r}")


def prompt_tokens(
    body: Mapping[str, Any], wire: WireFormat, tokenizer: Tokenizer, *, model: str | None = None
) -> int:
    """The estimated prompt tokens of one request body."""
    messages, system, tools = _request_parts(body, wire)
    counted = count_messages(
        messages,
        tokenizer,
        wire=_TOKEN_WIRE[wire],
        model=model or body.get("model"),
        tools=tools,
        system=system,
    )
    return counted.total


def tokenizer_for(model: str, provider: str | None = None) -> Tokenizer:
    """The offline tokenizer the catalog names for ``model`` (see
    :meth:`llmtally.tokens.registry.TokenizerRegistry.for_model` for its errors)."""
    from llmtally.tokens.registry import default_registry  # loads the catalog: keep lazy

    return default_registry().for_model(model, provider)[1]


def estimate_usage(
    body: Mapping[str, Any],
    wire: WireFormat,
    *,
    tokenizer: Tokenizer | None = None,
    output_text: str = "",
    reported: Usage | None = None,
    model: str | None = None,
    provider: str | None = None,
) -> Usage:
    """Usage for ``body`` and the ``output_text`` generated for it, estimated.

    ``tokenizer`` defaults to the one the catalog names for ``model`` (or the
    body's ``model``) at ``provider``. ``reported`` holds counts the upstream
    sent before the stream stopped; each total is the larger of it and the
    estimate, and its subsets are kept."""
    model = model or body.get("model")
    if tokenizer is None:
        if not isinstance(model, str):
            raise ValueError("estimate_usage needs a tokenizer or a model name")
        tokenizer = tokenizer_for(model, provider)
    inputs = prompt_tokens(body, wire, tokenizer, model=model)
    outputs = tokenizer.count(output_text) if output_text else 0
    if reported is None:
        return Usage(input_tokens=inputs, output_tokens=outputs, source="estimated")
    return replace(
        reported,
        input_tokens=max(inputs, reported.input_tokens),
        output_tokens=max(outputs, reported.output_tokens),
        source="estimated",
    )


def settle_usage(
    stream: StreamAccumulator,
    body: Mapping[str, Any],
    *,
    tokenizer: Tokenizer | None = None,
    model: str | None = None,
    provider: str | None = None,
) -> Usage:
    """The stream's reported usage when it sent one; else an estimate from the
    request and the text streamed so far (what the upstream reported kept)."""
    reported = stream.usage()
    if reported is not None:
        return reported
    return estimate_usage(
        body,
        stream.wire,
        tokenizer=tokenizer,
        output_text=stream.text,
        reported=stream.partial_usage(),
        model=model or body.get("model") or stream.model,
        provider=provider,
    )
