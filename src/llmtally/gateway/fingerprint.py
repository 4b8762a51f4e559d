"""A short, stable hash of a request's system prompt, so that calls sharing a
prompt prefix (the same system prompt sent again and again) group together.

Only the system part counts, as each wire keeps it
(:attr:`llmtally.providers.prompts.Prompt.system_text`): OpenAI Chat
``system``/``developer`` messages, the Responses API's ``instructions`` (and
its system/developer input items), Anthropic's ``system`` (prompt-caching
markers removed: they do not change what is sent to the model) and Gemini's
``systemInstruction``. The hash is the first 16 hex digits of SHA-256 over
canonical JSON; None when there is no system prompt.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

__all__ = ["prompt_fingerprint"]


def prompt_fingerprint(system_text: list[Any]) -> str | None:
    """16 hex digits identifying a system prompt (the parts of
    :attr:`llmtally.providers.prompts.Prompt.system_text`), or None for none."""
    if not system_text:
        return None
    canonical = json.dumps(system_text, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]
