"""What the providers' prompt caches are: the smallest prefix each caches, the
TTLs offered, who bills cache writes, how to turn caching on, and the change a
cache makes to a group of calls' usage (issue 15, "Cache prompt prefixes"; the
replay is in ``advisor/prefix_rows.py``, the recommender in ``prompt_cache.py``).

- a call within the TTL of the previous use of the prefix reads it from the
  cache (``cache_read`` rate) and refreshes the TTL (caches live "from last use");
- any other call writes it: at the ``cache_write`` (5 min) or ``cache_write_1h``
  rate where the provider charges writes (Anthropic); OpenAI and Gemini cache
  implicitly and a write costs the normal input rate;
- a call that already read from or wrote to a cache is counted as it is (no
  double saving) and counts as a use of the prefix.

Minimum cacheable prefix (tokens), from the providers' documentation as found
with the ``search`` tool on 2026-12-06 (sources below the table):

=========================================  ======  =======
model                                      tokens  sources
=========================================  ======  =======
Anthropic Haiku 4.5, Opus 4.5 / 4.6        4,096   [1] [2]
Anthropic Haiku 3 / 3.5                    2,048   [1] [2] [3] [4]
Anthropic other (Sonnet, Opus 3 to 4.1)    1,024   [1] [2] [3] [4]
OpenAI (automatic caching)                 1,024   [2]
Gemini 2.5 Flash / Pro (implicit caching)  2,048   [5]
Gemini 3 and later (implicit caching)      4,096   [5]
=========================================  ======  =======

[1] https://docs.orq.ai/docs/proxy/prompt-caching
[2] https://docs.litellm.ai/docs/completion/prompt_caching
[3] https://docs.truefoundry.com/gateway/chat-completions-prompt-caching
[4] https://developers.llamaindex.ai/python/examples/llm/anthropic_prompt_caching
[5] https://ai.google.dev/gemini-api/docs/caching (page updated 2026-10-23; older
    versions of it said 1,024 for 2.5 Flash and 4,096 for 2.5 Pro)

TTLs: Anthropic 5 min by default, 1 h with ``"ttl": "1h"`` (writes at 1.25x /
2x input, reads at 0.1x), https://platform.claude.com/docs/en/build-with-claude/prompt-caching .
OpenAI and Gemini publish no fixed TTL for their automatic caches; 5 min is
assumed, and said so in each result's assumptions.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

from llmtally.advisor.working import CellState, Change

__all__ = [
    "MINIMUM_PREFIX_TOKENS",
    "TTLS_OFFERED",
    "Ttl",
    "assumptions",
    "cache_change",
    "how_to_apply",
    "minimum_prefix_tokens",
]

Ttl = Literal["5m", "1h"]

# (provider, substring of the model id or None for any, minimum tokens): the first match wins.
MINIMUM_PREFIX_TOKENS: tuple[tuple[str, str | None, int], ...] = (
    ("anthropic", "haiku-4-5", 4096),
    ("anthropic", "opus-4-5", 4096),
    ("anthropic", "opus-4-6", 4096),
    ("anthropic", "haiku", 2048),
    ("anthropic", None, 1024),
    ("openai", None, 1024),
    ("google", "gemini-2.5", 2048),
    ("google", None, 4096),
)

WRITE_PRICED = {"anthropic"}
TTLS_OFFERED: dict[str, tuple[Ttl, ...]] = {"anthropic": ("5m", "1h")}


def minimum_prefix_tokens(provider: str, model: str) -> int | None:
    """The smallest prefix ``provider`` caches for ``model``; None: no known prompt cache."""
    for name, part, minimum in MINIMUM_PREFIX_TOKENS:
        if name == provider and (part is None or part in model):
            return minimum
    return None


def cache_change(read_tokens: int, write_tokens: int, ttl: Ttl, provider: str) -> Change:
    """The change that reads ``read_tokens`` of a cell's prompts from the cache and
    writes ``write_tokens``. A write is priced apart only where the provider
    charges writes (Anthropic); elsewhere it stays plain input."""
    written = write_tokens if provider in WRITE_PRICED else 0
    hour = written if ttl == "1h" else 0

    def change(state: CellState) -> CellState:
        usage = state.usage
        return replace(
            state,
            usage=replace(
                usage,
                cache_read_tokens=usage.cache_read_tokens + read_tokens,
                cache_write_tokens=usage.cache_write_tokens + written,
                cache_write_1h_tokens=usage.cache_write_1h_tokens + hour,
            ),
        )

    return change


def assumptions(calls: int, days: str, provider: str, ttl: Ttl) -> tuple[str, ...]:
    found = [
        f"the {calls:,} calls of {days} day(s) repeat over a 30-day month",
        "the prefix (system + tools tokens) is sent first and byte-identical in every call",
        "the cache lives from the last use: a read refreshes the TTL",
        "calls that already read from or wrote to a cache are counted as they are",
        "where a response cache answers some calls, the reads and writes are scaled "
        "to the calls still sent",
    ]
    if provider in WRITE_PRICED:
        found.append(f"a cache write is billed at the {ttl} write rate")
    else:
        found.append("the provider caches implicitly: a write costs the normal input rate")
        found.append("the provider publishes no fixed TTL: 5 minutes is assumed")
    return tuple(found)


def how_to_apply(provider: str, ttl: Ttl) -> str:
    if provider == "anthropic":
        control = '{"type": "ephemeral"}' if ttl == "5m" else '{"type": "ephemeral", "ttl": "1h"}'
        return (
            'system=[{"type": "text", "text": SYSTEM_PROMPT, '
            f'"cache_control": {control}}}]  # mark the end of the shared prefix'
        )
    return (
        "Keep the prefix first and identical in every request (system prompt and "
        "tools before anything that varies: no timestamps or ids in it); the "
        "provider caches it automatically."
    )
