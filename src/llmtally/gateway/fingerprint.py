"""A short, stable hash of a request's system prompt, so that calls sharing a
prompt prefix (the same system prompt sent again and again) group together.

Only the system part counts: OpenAI Chat ``system``/``developer`` messages,
the Responses API's ``instructions`` (and its system/developer input items),
Anthropic's ``system`` (prompt-caching markers removed: they do not change
what is sent to the model) and Gemini's ``systemInstruction``. The hash is the
first 16 hex digits of SHA-256 over canonical JSON; None when there is no
system prompt.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

__all__ = ["prompt_fingerprint", "system_prompt"]

_SYSTEM_ROLES = ("system", "developer")


def _without_cache_markers(value: Any) -> Any:
    if isinstance(value, list):
        return [_without_cache_markers(item) for item in value]
    if isinstance(value, dict):
        return {k: _without_cache_markers(v) for k, v in value.items() if k != "cache_control"}
    return value


def _system_messages(items: Any) -> list[Any]:
    if not isinstance(items, list):
        return []
    return [
        item.get("content")
        for item in items
        if isinstance(item, Mapping) and item.get("role") in _SYSTEM_ROLES
    ]


def system_prompt(body: Mapping[str, Any]) -> list[Any]:
    """The system part of a chat request body, in order; [] when it has none."""
    parts: list[Any] = []
    for key in ("system", "instructions", "systemInstruction", "system_instruction"):
        if body.get(key) not in (None, "", []):
            parts.append(_without_cache_markers(body[key]))
    parts.extend(_system_messages(body.get("messages")))
    parts.extend(_system_messages(body.get("input")))
    return parts


def prompt_fingerprint(body: Mapping[str, Any]) -> str | None:
    """16 hex digits identifying the system prompt of ``body``, or None."""
    parts = system_prompt(body)
    if not parts:
        return None
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]
