"""A short, stable hash of a request's system prompt, so that calls sharing a
prompt prefix (the same system prompt sent again and again) group together.

Only the system part counts, as each wire keeps it
(:attr:`llmtally.providers.prompts.Prompt.system_text`): OpenAI Chat
``system``/``developer`` messages, the Responses API's ``instructions`` (and
its system/developer input items), Anthropic's ``system`` (prompt-caching
markers removed: they do not change what is sent to the model) and Gemini's
``systemInstruction``. The hash is the first 16 hex digits of SHA-256 over
canonical JSON; None when there is no system prompt.

The same system prompt comes with call after call, so the hash of a prompt made
of texts only (at most ``CACHED_CHARS`` characters) is kept for the last
``CACHED_PROMPTS`` prompts seen.
"""

from __future__ import annotations

import functools
import hashlib
import json
from typing import Any

__all__ = ["CACHED_CHARS", "CACHED_PROMPTS", "prompt_fingerprint"]

CACHED_CHARS = 20_000
CACHED_PROMPTS = 128  # at most 2.5 million characters held


def prompt_fingerprint(system_text: list[Any]) -> str | None:
    """16 hex digits identifying a system prompt (the parts of
    :attr:`llmtally.providers.prompts.Prompt.system_text`), or None for none."""
    if not system_text:
        return None
    if all(type(part) is str for part in system_text):
        if sum(map(len, system_text)) <= CACHED_CHARS:
            return _of_texts(tuple(system_text))
    return _hash(system_text)


@functools.lru_cache(maxsize=CACHED_PROMPTS)
def _of_texts(parts: tuple[str, ...]) -> str:
    return _hash(list(parts))


def _hash(system_text: list[Any]) -> str:
    canonical = json.dumps(system_text, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]
