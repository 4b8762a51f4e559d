"""Stored request and response bodies, re-tokenized for another model.

The request is counted the way its own wire format keeps its prompt
(:meth:`llmtally.providers.wires.Wire.count_prompt`: OpenAI Chat Completions and
Responses, Anthropic Messages, Gemini ``contents``) but with the target
model's tokenizer; the response's visible
text (message content, tool-call arguments; streamed bodies as SSE ``data:``
lines, deltas joined) is counted with the same tokenizer. A body that is not
one of these shapes gives ``None``: the caller falls back to the ratio method.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from llmtally.providers.wires import (
    ANTHROPIC,
    GEMINI,
    OPENAI_CHAT,
    OPENAI_RESPONSES,
    Wire,
    wire_for_path,
)
from llmtally.tokens.base import Tokenizer

__all__ = ["response_text", "retokenize", "wire_of"]


def wire_of(endpoint: str, request: dict[str, Any]) -> Wire | None:
    """The wire format of a recorded request: the one its endpoint takes, else
    the one whose prompt shape it has (a request recorded off the gateway)."""
    wire = wire_for_path(endpoint)
    if wire is not None:
        return wire
    if "contents" in request:
        return GEMINI
    if "messages" in request:
        return ANTHROPIC if endpoint.rstrip("/").endswith("/messages") else OPENAI_CHAT
    return OPENAI_RESPONSES if "input" in request else None


def _json_objects(body: str) -> Iterator[Any]:
    """The JSON body, or each JSON ``data:`` line of a server-sent event stream."""
    text = body.strip()
    if text.startswith(("{", "[")):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            return
        yield from (parsed if isinstance(parsed, list) else [parsed])
        return
    for line in text.splitlines():
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data and data != "[DONE]":
            try:
                yield json.loads(data)
            except json.JSONDecodeError:
                continue


def _openai_texts(obj: dict[str, Any]) -> Iterator[str]:
    for choice in obj.get("choices") or []:
        if not isinstance(choice, dict):
            continue
        message = choice.get("message") or choice.get("delta") or {}
        if isinstance(message, dict):
            if isinstance(message.get("content"), str):
                yield message["content"]
            for call in message.get("tool_calls") or []:
                function = call.get("function") if isinstance(call, dict) else None
                if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                    yield function["arguments"]
        if isinstance(choice.get("text"), str):
            yield choice["text"]


def _anthropic_texts(obj: dict[str, Any]) -> Iterator[str]:
    blocks = obj.get("content") if obj.get("type") == "message" else None
    for block in blocks or []:
        if isinstance(block, dict) and isinstance(block.get("text"), str):
            yield block["text"]
        elif isinstance(block, dict) and block.get("type") == "tool_use":
            yield json.dumps(block.get("input", {}), ensure_ascii=False)
    delta = obj.get("delta")
    if obj.get("type") == "content_block_delta" and isinstance(delta, dict):
        for key in ("text", "partial_json"):
            if isinstance(delta.get(key), str):
                yield delta[key]


def _gemini_texts(obj: dict[str, Any]) -> Iterator[str]:
    for candidate in obj.get("candidates") or []:
        content = candidate.get("content") if isinstance(candidate, dict) else None
        for part in (content or {}).get("parts") or []:
            if (
                isinstance(part, dict)
                and isinstance(part.get("text"), str)
                and not part.get("thought")
            ):
                yield part["text"]


def response_text(body: str) -> str | None:
    """The visible text of a response body (JSON or an SSE stream); None when no
    known shape is found."""
    pieces: list[str] = []
    found = False
    for obj in _json_objects(body):
        if not isinstance(obj, dict):
            continue
        if any(key in obj for key in ("choices", "candidates", "content", "delta", "type")):
            found = True
        for extract in (_openai_texts, _anthropic_texts, _gemini_texts):
            pieces.extend(extract(obj))
    return "".join(pieces) if found else None


def retokenize(
    request_body: str, response_body: str, endpoint: str, tokenizer: Tokenizer
) -> tuple[int, int] | None:
    """(prompt tokens, visible output tokens) of a recorded call on ``tokenizer``,
    or None when a body cannot be read."""
    try:
        request = json.loads(request_body)
    except json.JSONDecodeError:
        return None
    if not isinstance(request, dict):
        return None
    wire = wire_of(endpoint, request)
    text = response_text(response_body)
    if wire is None or text is None:
        return None
    try:
        counted = wire.count_prompt(request, tokenizer)
    except ValueError:
        return None
    if counted is None:
        return None
    return counted.total, tokenizer.count(text) if text else 0
