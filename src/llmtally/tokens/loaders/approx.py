"""Documented approximations: a count from another tokenizer, flagged ``exact=False``.

Each says in ``method`` what it counts with and why no exact count is
possible offline. They have no ids of their own: ``encode`` raises.
"""

from __future__ import annotations

from dataclasses import dataclass

from llmtally.tokens.base import Tokenizer
from llmtally.tokens.loaders.common import SplitKind

__all__ = ["APPROXIMATIONS", "Approximation", "ApproximationSpec"]


@dataclass(frozen=True, slots=True)
class ApproximationSpec:
    name: str
    base: str  # the registered tokenizer that counts
    method: str


APPROXIMATIONS = {
    a.name: a
    for a in (
        ApproximationSpec(
            "claude_approx",
            "claude_legacy",
            "Anthropic's legacy Claude tokenizer (Claude <= 2.1, anthropic 0.38.0 "
            "tokenizer.json); Anthropic states it is only a rough estimate for Claude 3 "
            "and later, whose tokenizer is not published. Exact: the Messages count_tokens API.",
        ),
        ApproximationSpec(
            "gemini_approx",
            "o200k_base",
            "o200k_base count as a proxy: no offline Gemini tokenizer exists (Gemini uses "
            "its own SentencePiece vocabulary of about 256k entries, not published as a "
            "file). Exact: the Gemini countTokens API or usage_metadata.",
        ),
        ApproximationSpec(
            "grok_approx",
            "o200k_base",
            "o200k_base count as a proxy: xAI publishes no tokenizer on PyPI. "
            "Exact: the xAI tokenize-text API or the usage of a response.",
        ),
        ApproximationSpec(
            "openai_unlisted_approx",
            "o200k_base",
            "o200k_base, the encoding of every current OpenAI chat model, for an OpenAI "
            "model that tiktoken's model table does not list. Exact once tiktoken lists it.",
        ),
        ApproximationSpec(
            "mistral_tekken_approx",
            "mistral_tekken",
            "Tekken (tekken_240911.json) for a later Mistral model whose own tokenizer file "
            "mistral-common does not ship; later Tekken versions add control tokens to the "
            "same vocabulary, so plain text should count the same, unverified offline.",
        ),
    )
}


class Approximation:
    """A count made by ``base`` for a model whose own tokenizer is not available."""

    exact = False

    def __init__(self, spec: ApproximationSpec, base: Tokenizer) -> None:
        self.name = spec.name
        self.method = spec.method
        self.base = base
        self.split_kind: SplitKind = getattr(base, "split_kind", SplitKind.BYTE_LEVEL)

    def encode(self, text: str) -> list[int]:
        raise NotImplementedError(f"{self.name} is an approximation and has no token ids")

    def count(self, text: str) -> int:
        return self.base.count(text)

    def __repr__(self) -> str:
        return f"<Approximation {self.name} via {self.base.name}>"
