"""``count_tokens``: text or chat messages -> a :class:`TokenCount` for one model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from llmtally.providers.wires import provider_wire
from llmtally.tokens.base import TokenCount
from llmtally.tokens.chat import count_messages
from llmtally.tokens.registry import TokenizerRegistry, default_registry

__all__ = ["count_tokens"]


def count_tokens(
    text_or_messages: str | Sequence[Mapping[str, Any]],
    model: str,
    *,
    provider: str | None = None,
    registry: TokenizerRegistry | None = None,
) -> TokenCount:
    """Tokens of a text, or of a chat request's messages (with the wire format's
    per-message overhead), for ``model`` as the catalog resolves it."""
    reg = registry or default_registry()
    ref, tokenizer = reg.for_model(model, provider)
    if isinstance(text_or_messages, str):
        return TokenCount(
            count=tokenizer.count(text_or_messages) if text_or_messages else 0,
            tokenizer=tokenizer.name,
            exact=tokenizer.exact,
            model=f"{ref.provider}/{ref.spec.id}",
            method=tokenizer.method,
        )
    counted = count_messages(
        list(text_or_messages),
        tokenizer,
        wire=provider_wire(ref.provider).family,
        model=ref.spec.id,
    )
    return TokenCount(
        count=counted.total,
        tokenizer=tokenizer.name,
        exact=counted.exact,
        model=f"{ref.provider}/{ref.spec.id}",
        method=counted.method,
    )
