"""Which tokenizer counts for a model: rules from a canonical (provider, model id).

Order, first hit wins:

1. OpenAI models, on OpenAI or resold by Azure OpenAI (:data:`OPENAI_HOSTS`,
   whose ids are OpenAI's, dated, some with an ``-azure`` suffix that is
   peeled): tiktoken's own model table
   (``tiktoken.model.encoding_name_for_model``), after peeling a fine-tune's
   ``ft:`` prefix (tiktoken's ``ft:gpt-4`` prefix would send ``ft:gpt-4.1``
   to cl100k_base, which is wrong);
2. :data:`RULES`, a list of (providers, regex searched in the lower-cased id,
   tokenizer) rows. A row whose tokenizer is None says the model is known to
   have no offline tokenizer, and why.

A model with no rule raises :class:`TokenizerUnavailableError` naming it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from llmtally.tokens.base import TokenizerUnavailableError

__all__ = ["OPENAI_HOSTS", "RULES", "Rule", "tiktoken_encoding", "tokenizer_for"]

_OPENAI_ENCODINGS = {"o200k_base", "cl100k_base", "o200k_harmony"}
# Azure OpenAI's deployment types run OpenAI's own models: same tokenizer.
OPENAI_HOSTS = ("openai", "azure", "azure-datazone", "azure-regional")
_AZURE_SUFFIX = "-azure"  # catalog ids where OpenAI's dated name is taken by the imported layer


@dataclass(frozen=True, slots=True)
class Rule:
    pattern: re.Pattern[str]
    tokenizer: str | None  # None: no offline tokenizer, see ``reason``
    providers: frozenset[str] = frozenset()  # empty: any host
    reason: str = ""

    def matches(self, provider: str, model: str) -> bool:
        if self.providers and provider not in self.providers:
            return False
        return self.pattern.search(model) is not None


def _rule(pattern: str, tokenizer: str | None, *providers: str, reason: str = "") -> Rule:
    return Rule(re.compile(pattern), tokenizer, frozenset(providers), reason)


_GEMMA = (
    "Gemma's tokenizer is not in this release: the only offline copy is inside a GGUF "
    "file read by llama-cpp-python, which llmtally does not install"
)
_SPEECH = "MiniMax's speech (T2A) models are billed per character of input text, not per token"
_MISTRAL_LATER = r"(^|/)(open-)?(mistral|ministral|magistral|devstral|codestral|pixtral|voxtral|mixtral|labs-leanstral)"  # noqa: E501

RULES: tuple[Rule, ...] = (
    # OpenAI names tiktoken's table does not list (it runs first, see tokenizer_for).
    _rule(r"(^|/)gpt-oss", "o200k_harmony"),
    _rule(
        r"^(gpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|o1|o3|o4|chatgpt-4o|gpt-image-1|gpt-realtime"
        r"|gpt-audio|codex-mini|computer-use)",
        "o200k_base",
        *OPENAI_HOSTS,
    ),
    _rule(
        r"^(gpt-4|gpt-3\.5|gpt-35|text-embedding-ada-002|text-embedding-3)",
        "cl100k_base",
        *OPENAI_HOSTS,
    ),
    _rule(r"^(gpt-|chat-latest|chatgpt-)", "openai_unlisted_approx", *OPENAI_HOSTS),
    # Anthropic, on any host (Bedrock: anthropic.claude-..., global./us./eu.anthropic.
    # claude-..., ARNs ending in either): the legacy tokenizer is Claude <= 2.1's own.
    _rule(r"(^|/|anthropic\.)claude-(v1|v2|instant|2)(\b|$)", "claude_legacy"),
    _rule(r"(^|/|anthropic\.)claude", "claude_approx"),
    # The embedded local model (its GGUF's own vocabulary, via llama.cpp).
    _rule(r"smollm2", "smollm2"),
    # Google.
    _rule(r"gemma", None, reason=_GEMMA),
    _rule(r"(^|/)(gemini|learnlm)", "gemini_approx"),
    _rule(r"^(deep-research|nano-banana|text-embedding-004)", "gemini_approx", "google"),
    # xAI.
    _rule(r"(^|/)grok", "grok_approx"),
    # DeepSeek: the R1 distills keep their base model's tokenizer.
    _rule(r"deepseek-r1-distill-llama", "llama3"),
    _rule(r"deepseek-r1-distill-qwen", "qwen"),
    _rule(r"(^|/)deepseek-(v3|v4|chat|reasoner|r1|flash)", "deepseek_v3"),
    # Meta Llama, on any host.
    _rule(r"llama-?(guard-)?4(?!\d)", "llama4"),
    _rule(r"llama-?(guard-)?3(?!\d)", "llama3"),
    # Qwen2 / 2.5 / 3 (one vocabulary; Qwen1.5 shares it). Qwen3.5 and later differ.
    _rule(r"(^|/)qwen-?(1\.5|2\.5|2|3)(?![.\d])", "qwen"),
    _rule(r"(^|/)qwen-?3\.[5-9]", "qwen35_approx"),
    # Alibaba's commercial names (qwen-plus, qwen-max, qwen-flash, qwen-turbo, qwen-long,
    # qwen-vl-..., QwQ, QVQ): Qwen2.5/3-based, and Alibaba's own dashscope 2.0.2
    # get_tokenizer counts every qwen* model with qwen.tiktoken, this same vocabulary
    # (151,643 ranks; ids checked equal to the qwen tokenizer's, 2026-12-07).
    _rule(r"(^|/)(qwen-(max|plus|turbo|flash|long|coder|vl|omni|math|mt)|qwq|qvq)", "qwen"),
    # Issue 17's Chinese vendors, on their own platforms only: no vocabulary on PyPI, so
    # documented approximations (loaders/approx.py). Third-party hosts of the open
    # weights (Together's Kimi, GLM, MiniMax) have no rule yet.
    _rule(r"(^|/)(kimi|moonshot-v1)", "kimi_approx", "moonshot", "moonshot-cn"),
    _rule(r"(^|/)(glm|chatglm|embedding-)", "glm_approx", "zhipu", "zai"),
    _rule(r"(^|/)doubao", "doubao_approx", "volcengine"),
    _rule(r"(^|/)(minimax-|m2-her)", "minimax_approx", "minimax", "minimax-intl"),
    _rule(r"^speech-", None, "minimax", "minimax-intl", reason=_SPEECH),
    _rule(r"(^|/)hunyuan", "hunyuan_approx", "tencent"),
    _rule(r"(^|/)ernie", "ernie_approx", "baidu"),
    # Mistral: mistral-common's model table, then later models on the Tekken vocabulary.
    _rule(r"mistral-7b-(instruct-)?v0\.3", "mistral_spm_v3"),
    _rule(r"mistral-7b|mixtral-8x7b|mistral-embed|mistral-medium-2312", "mistral_spm_v1"),
    _rule(
        r"^mistral-tiny(-2312)?$|mistral-small-(2312|2402)|mistral-large-2402",
        "mistral_spm_v2",
    ),
    _rule(
        r"mixtral-8x22b|codestral-(2405|22b|mamba)|mistral-large-2407|mistral-tiny-2407",
        "mistral_spm_v3",
    ),
    _rule(r"mistral-large-2411|pixtral-large", "mistral_spm_v7"),
    _rule(
        r"mistral-nemo|ministral-[38]b(-2410)?$|mistral-small-2409|pixtral-12b",
        "mistral_tekken",
    ),
    _rule(_MISTRAL_LATER, "mistral_tekken_approx"),
)


def tiktoken_encoding(model: str) -> str | None:
    """tiktoken's encoding for an OpenAI model id (``ft:`` peeled), or None."""
    from tiktoken.model import encoding_name_for_model

    name = model.removeprefix("ft:")
    try:
        return encoding_name_for_model(name)
    except KeyError:
        return None


def tokenizer_for(provider: str, model: str) -> str:
    """The registered tokenizer name for a catalog model."""
    lowered = model.lower()
    if provider in OPENAI_HOSTS:
        if provider != "openai":
            lowered = lowered.removesuffix(_AZURE_SUFFIX)
        encoding = tiktoken_encoding(lowered)
        if encoding in _OPENAI_ENCODINGS:
            return encoding
        if encoding is not None:
            raise TokenizerUnavailableError(
                f"{provider}/{model} uses tiktoken's {encoding}, a retired encoding "
                "that llmtally does not ship"
            )
    for rule in RULES:
        if rule.matches(provider, lowered):
            if rule.tokenizer is None:
                raise TokenizerUnavailableError(f"{provider}/{model}: {rule.reason}")
            return rule.tokenizer
    raise TokenizerUnavailableError(
        f"no offline tokenizer is known for {provider}/{model}: no tokenizer rule names it"
    )
