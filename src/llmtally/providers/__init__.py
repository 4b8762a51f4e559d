"""Provider wire formats -> :class:`~llmtally.usage.Usage`, one module per format.

>>> parse_usage("anthropic", {"input_tokens": 10, "cache_read_input_tokens": 90,
...                           "output_tokens": 5}).input_tokens
100

Each provider's token semantics (what includes what) are decided in its own
module; :func:`default_registry` says which provider ids use which parser.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from llmtally.providers.adjust import StreamUsageRequest, UsageChunkFilter, with_stream_usage
from llmtally.providers.anthropic import parse_anthropic
from llmtally.providers.bedrock import parse_bedrock
from llmtally.providers.dashscope import parse_dashscope
from llmtally.providers.deepseek import parse_deepseek
from llmtally.providers.gemini import parse_gemini
from llmtally.providers.moonshot import parse_moonshot
from llmtally.providers.openai import parse_openai, parse_xai
from llmtally.providers.registry import (
    InconsistentUsageError,
    ProviderUsageError,
    Registry,
    UnknownProviderError,
    UsageParser,
)
from llmtally.providers.streams import StreamAccumulator, WireFormat, accumulator_for
from llmtally.usage import Usage

__all__ = [
    "InconsistentUsageError",
    "ProviderUsageError",
    "Registry",
    "StreamAccumulator",
    "StreamUsageRequest",
    "UnknownProviderError",
    "UsageChunkFilter",
    "UsageParser",
    "WireFormat",
    "accumulator_for",
    "default_registry",
    "parse_anthropic",
    "parse_bedrock",
    "parse_dashscope",
    "parse_deepseek",
    "parse_gemini",
    "parse_moonshot",
    "parse_openai",
    "parse_usage",
    "parse_xai",
    "with_stream_usage",
]


def default_registry() -> Registry:
    """A new registry holding the built-in parsers under their ids and aliases."""
    registry = Registry()
    registry.register("openai", parse_openai)
    registry.register("anthropic", parse_anthropic)
    registry.register(
        "google",
        parse_gemini,
        aliases=("gemini", "vertex_ai", "google-gla", "google-vertex"),
    )
    registry.register("deepseek", parse_deepseek)
    registry.register("mistral", parse_openai)
    registry.register("groq", parse_openai)
    registry.register("together", parse_openai, aliases=("together_ai", "togetherai"))
    registry.register("xai", parse_xai, aliases=("x-ai", "grok"))
    registry.register("openrouter", parse_openai)
    # China's OpenAI-compatible APIs (issue 17): the mainland and international
    # price files are separate provider ids, read alike. DashScope adds its
    # explicit-cache creation count to OpenAI's shape.
    registry.register("alibaba", parse_dashscope, aliases=("alibaba-cn", "dashscope"))
    registry.register("moonshot", parse_moonshot, aliases=("moonshot-cn", "kimi"))
    registry.register("zai", parse_openai, aliases=("zhipu",))
    registry.register("volcengine", parse_openai, aliases=("doubao",))
    # Qianfan (Baidu ERNIE) reports prompt-cache hits as usage.cached_tokens: Kimi's reading.
    registry.register("baidu", parse_moonshot, aliases=("qianfan",))
    # The cloud resellers: Azure OpenAI sends OpenAI's shapes; Bedrock Converse its own.
    registry.register("azure", parse_openai, aliases=("azure-datazone", "azure-regional"))
    registry.register("bedrock", parse_bedrock, aliases=("bedrock-cross-region", "aws-bedrock"))
    return registry


@cache
def _builtin() -> Registry:
    # The one shared registry, built on first use; callers that register their
    # own parsers build a Registry of their own and pass it in.
    return default_registry()


def parse_usage(
    provider: str, usage: Mapping[str, Any], *, registry: Registry | None = None
) -> Usage:
    """Parse one provider ``usage`` object into a :class:`Usage`.

    Raises :class:`UnknownProviderError` for a provider with no parser,
    :class:`ProviderUsageError` for a malformed object (the message names the
    provider and the field path) and :class:`InconsistentUsageError` for counts
    that cannot all be true.
    """
    return (registry if registry is not None else _builtin()).parse(provider, usage)
