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
        # Issue 17. The vendors below publish no vocabulary on PyPI (read 2026-12-07): the
        # Qwen vocabulary, a Chinese-first byte-level BPE of 151,643 tokens, is the
        # closest measured family llmtally ships; each method says what the vendor states.
        ApproximationSpec(
            "qwen35_approx",
            "qwen",
            "Qwen3 vocabulary (151,643 tokens) for Qwen3.5 and later, whose larger "
            "vocabulary is not on PyPI; Alibaba's own dashscope 2.0.2 get_tokenizer still "
            "counts every qwen* model with this vocabulary. Exact: the usage of a response.",
        ),
        ApproximationSpec(
            "kimi_approx",
            "qwen",
            "qwen count as a proxy: Moonshot publishes no tokenizer on PyPI; its docs "
            "(platform.moonshot.cn/docs, Token, read 2026-12-07) put 1 token at about "
            "1.5-2 Chinese characters of ordinary Chinese text and state nothing for "
            "English. Exact: POST /v1/tokenizers/estimate-token-count or a response's usage.",
        ),
        ApproximationSpec(
            "glm_approx",
            "qwen",
            "qwen count as a proxy: Zhipu publishes no tokenizer on PyPI (zhipuai and "
            "zai-sdk call the API) and no characters-per-token figure was found in its "
            "docs (2026-12-07); qwen is the closest measured Chinese-first family. "
            "Exact: the usage of a response.",
        ),
        ApproximationSpec(
            "doubao_approx",
            "qwen",
            "qwen count as a proxy: ByteDance publishes no Doubao tokenizer on PyPI "
            "(volcengine SDKs call the API) and no characters-per-token figure was found "
            "in Volcengine Ark's docs (2026-12-07). Exact: the usage of a response.",
        ),
        ApproximationSpec(
            "minimax_approx",
            "qwen",
            "qwen count as a proxy: MiniMax publishes no tokenizer on PyPI and no "
            "characters-per-token figure was found in its docs (2026-12-07). Exact: "
            "POST /v1/responses/input_tokens or the usage of a response.",
        ),
        ApproximationSpec(
            "hunyuan_approx",
            "qwen",
            "qwen count as a proxy: Tencent publishes no Hunyuan tokenizer on PyPI "
            "(tencentcloud-sdk-python calls the API) and no characters-per-token figure "
            "was found in its docs (2026-12-07). Exact: the Hunyuan GetTokenCount API "
            "(cloud.tencent.com/document/product/1729/101835) or a response's usage.",
        ),
        ApproximationSpec(
            "ernie_approx",
            "qianfan_local",
            "Baidu's own offline estimate from its Qianfan SDK (qianfan 0.4.12.3, "
            "Tokenizer.count_tokens mode='local'): int(0.625 x CJK characters + 1 x "
            "words); Baidu calls it a local simulation. Exact: Qianfan's tokenizer API "
            "or the usage of a response.",
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
