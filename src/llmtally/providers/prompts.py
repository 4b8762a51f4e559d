"""Where each wire format keeps the parts of a request that cost prompt tokens.

A :class:`Prompt` is what a chat-like request sends the model: its messages in
the wire's message grammar (read by :func:`llmtally.tokens.chat.count_messages`),
its top-level system prompt, its tool schemas, and the system text as sent (for
the system-prompt fingerprint). One reader per wire format:

- OpenAI Chat Completions: ``messages`` (system/developer messages are part of
  them), ``tools``
  (https://platform.openai.com/docs/api-reference/chat/create);
- OpenAI Responses: ``instructions`` is the system prompt; ``input`` is a string
  or a list of items: messages (``role`` + ``content``), ``function_call`` items
  (the model's earlier tool calls: history) and ``function_call_output`` items
  (what a tool returned: retrieved context); ``tools`` of ``type: function``
  carry schemas, built-in tools (web search, file search) do not
  (https://platform.openai.com/docs/api-reference/responses/create);
- Anthropic Messages: ``system``, ``messages``, ``tools``
  (https://docs.anthropic.com/en/api/messages);
- Gemini ``generateContent``: ``systemInstruction`` (REST) or
  ``system_instruction`` (the SDKs' snake case, also accepted by the REST API),
  ``contents``, ``tools``
  (https://ai.google.dev/api/generate-content#request-body).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Prompt", "anthropic_prompt", "chat_prompt", "gemini_prompt", "responses_prompt"]

_SYSTEM_ROLES = ("system", "developer")


@dataclass(frozen=True, slots=True)
class Prompt:
    """The prompt parts of one request; ``system_text`` is the system part as
    sent, in order (top-level system prompt, then system/developer messages)."""

    messages: list[Any]
    system: Any
    tools: list[Any] | None
    system_text: list[Any]


def _list(value: object) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def _tools(body: Mapping[str, Any]) -> list[Any] | None:
    tools = body.get("tools")
    return list(tools) if isinstance(tools, list) else None


def _system_messages(items: list[Any]) -> list[Any]:
    return [
        item.get("content")
        for item in items
        if isinstance(item, Mapping) and item.get("role") in _SYSTEM_ROLES
    ]


def _without_cache_markers(value: Any) -> Any:
    """Anthropic's ``cache_control`` markers do not change what the model reads."""
    if isinstance(value, list):
        return [_without_cache_markers(item) for item in value]
    if isinstance(value, dict):
        return {k: _without_cache_markers(v) for k, v in value.items() if k != "cache_control"}
    return value


def _given(value: object) -> bool:
    return value not in (None, "", [])


def chat_prompt(body: Mapping[str, Any]) -> Prompt | None:
    if not isinstance(body.get("messages"), list):
        return None
    messages = _list(body["messages"])
    return Prompt(messages, None, _tools(body), _system_messages(messages))


def _responses_item(item: object) -> dict[str, Any]:
    """One Responses ``input`` item as a Chat-style message."""
    if isinstance(item, Mapping) and "role" in item and "content" in item:
        return {"role": item["role"], "content": item["content"]}
    kind = item.get("type") if isinstance(item, Mapping) else None
    if isinstance(item, Mapping) and kind == "function_call_output":
        output = item.get("output")
        return {"role": "tool", "content": output if isinstance(output, str | list) else ""}
    if isinstance(item, Mapping) and kind == "function_call":
        call = {"name": item.get("name"), "arguments": item.get("arguments")}
        return {"role": "assistant", "tool_calls": [{"type": "function", "function": call}]}
    # Anything else (reasoning items, built-in tool calls): its JSON, as history.
    return {"role": "assistant", "content": json.dumps(item, ensure_ascii=False)}


def responses_prompt(body: Mapping[str, Any]) -> Prompt | None:
    given = body.get("input")
    if isinstance(given, str):
        messages: list[Any] = [{"role": "user", "content": given}]
    elif isinstance(given, list):
        messages = [_responses_item(item) for item in given]
    else:
        return None
    instructions = body.get("instructions")
    system = instructions if isinstance(instructions, str) and instructions else None
    tools = [
        t for t in _tools(body) or [] if isinstance(t, Mapping) and t.get("type") == "function"
    ]
    text = [system] if system else []
    return Prompt(messages, system, tools or None, text + _system_messages(_list(given)))


def anthropic_prompt(body: Mapping[str, Any]) -> Prompt | None:
    if not isinstance(body.get("messages"), list):
        return None
    system = body.get("system")
    text = [_without_cache_markers(system)] if _given(system) else []
    return Prompt(_list(body["messages"]), system if _given(system) else None, _tools(body), text)


def gemini_prompt(body: Mapping[str, Any]) -> Prompt | None:
    if not isinstance(body.get("contents"), list):
        return None
    system = body.get("systemInstruction", body.get("system_instruction"))
    system = system if _given(system) else None
    text = [system] if system is not None else []
    return Prompt(_list(body["contents"]), system, _tools(body), text)
