"""Advice: cache repeated prompt prefixes (issue 15, "Cache prompt prefixes").

Calls that share a system prompt (the ledger's ``prompt_fingerprint``) send the
same prefix (system + tools tokens) again and again. Where that prefix is at or
above the provider's minimum cacheable size, this module replays the period's
calls in time order through a simulated prompt cache and re-prices each call
with :func:`llmtally.meter.cost`, so the saving is exact Decimal re-pricing, not
a rule of thumb:

- a call within the TTL of the previous use of the prefix reads it from the
  cache (``cache_read`` rate) and refreshes the TTL (caches live "from last use");
- any other call writes it: at the ``cache_write`` (5 min) or ``cache_write_1h``
  rate where the provider charges writes (Anthropic); OpenAI and Gemini cache
  implicitly and a write costs the normal input rate;
- a call that already read from or wrote to a cache is counted as it is (no
  double saving) and counts as a use of the prefix.

Each TTL the provider offers is simulated (5 min everywhere; 1 h on Anthropic)
and the one with the larger saving is chosen. A negative best saving (a prefix
reused less often than the TTL: every call a write, writes at a premium) is
returned as "considered, not recommended" with the reason; a prefix under the
minimum is not considered at all.

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

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Literal

from llmtally.catalog.price import Price
from llmtally.meter import cost
from llmtally.usage import Call, Usage

__all__ = [
    "MINIMUM_PREFIX_TOKENS",
    "CachePrefixAdvice",
    "PlannedCall",
    "PrefixCall",
    "PrefixGroup",
    "TtlOption",
    "advise_cache_prefix",
    "cached_usage",
    "group_by_fingerprint",
    "minimum_prefix_tokens",
]

Ttl = Literal["5m", "1h"]
Status = Literal["recommended", "not_recommended"]
Action = Literal["read", "write", "as_is"]

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

_TTLS: dict[Ttl, dt.timedelta] = {"5m": dt.timedelta(minutes=5), "1h": dt.timedelta(hours=1)}
_WRITE_PRICED = {"anthropic"}
_TTLS_OFFERED: dict[str, tuple[Ttl, ...]] = {"anthropic": ("5m", "1h")}
_MONTH_DAYS = Decimal(30)


def minimum_prefix_tokens(provider: str, model: str) -> int | None:
    """The smallest prefix ``provider`` caches for ``model``; None: no known prompt cache."""
    for name, part, minimum in MINIMUM_PREFIX_TOKENS:
        if name == provider and (part is None or part in model):
            return minimum
    return None


@dataclass(frozen=True, slots=True)
class PrefixCall:
    """One call of a fingerprint: what it sent as the shared prefix and what it cost.

    ``cost`` is the recorded (current) cost in USD; ``price`` the catalog price
    it was metered at (:attr:`llmtally.meter.Cost.price`). The service tier is
    ``usage.service_tier``.
    """

    call_id: str
    started_at: dt.datetime
    prefix_tokens: int
    usage: Usage
    cost: Decimal
    price: Price


@dataclass(frozen=True, slots=True)
class PrefixGroup:
    """The period's calls of one prompt fingerprint on one provider and model."""

    fingerprint: str
    provider: str
    model: str
    calls: tuple[PrefixCall, ...]


@dataclass(frozen=True, slots=True)
class PlannedCall:
    """What the simulated cache does on one call: read or write ``tokens`` of the
    prefix, or leave the call as it is (it already used a cache). The core can
    turn it into a per-call change with :func:`cached_usage`."""

    call_id: str
    action: Action
    tokens: int


@dataclass(frozen=True, slots=True)
class TtlOption:
    """One simulated TTL: how many calls read / wrote the prefix and the cost after."""

    ttl: Ttl
    reads: int
    writes: int
    unchanged: int
    simulated_cost: Decimal
    saving: Decimal
    plan: tuple[PlannedCall, ...] = ()


@dataclass(frozen=True, slots=True)
class CachePrefixAdvice:
    """The advice for one fingerprint: recommended or considered and not recommended."""

    fingerprint: str
    provider: str
    model: str
    status: Status
    reason: str
    prefix_tokens: int
    calls: int
    ttl: Ttl
    hit_rate: Decimal
    current_cost: Decimal
    simulated_cost: Decimal
    period_saving: Decimal
    monthly_saving: Decimal
    options: tuple[TtlOption, ...]
    assumptions: tuple[str, ...]
    how_to_apply: str
    call_ids: tuple[str, ...]

    @property
    def plan(self) -> tuple[PlannedCall, ...]:
        """Each call's read / write / as-is under the chosen TTL."""
        return next(o.plan for o in self.options if o.ttl == self.ttl)


def group_by_fingerprint(calls: Iterable[Call]) -> list[PrefixGroup]:
    """The ledger's calls as groups per (fingerprint, provider, model).

    Calls without a fingerprint, a cost, or per-role system/tools counts are
    left out: nothing exact can be said of them.
    """
    groups: dict[tuple[str, str, str], list[PrefixCall]] = {}
    for call in calls:
        if call.prompt_fingerprint is None or call.cost is None:
            continue
        if call.input_system_tokens is None and call.input_tools_tokens is None:
            continue
        prefix = (call.input_system_tokens or 0) + (call.input_tools_tokens or 0)
        key = (call.prompt_fingerprint, call.provider, call.model)
        item = PrefixCall(
            call.id, call.started_at, prefix, call.usage, call.cost.total, call.cost.price
        )
        groups.setdefault(key, []).append(item)
    return [PrefixGroup(f, p, m, tuple(items)) for (f, p, m), items in groups.items()]


def cached_usage(usage: Usage, tokens: int, action: Action, ttl: Ttl, provider: str) -> Usage:
    """``usage`` with ``tokens`` of its prompt read from, or written to, the cache
    (``as_is``: unchanged). A write is priced apart only where the provider
    charges writes (Anthropic); elsewhere it is billed as plain input."""
    if action == "read":
        return replace(usage, cache_read_tokens=tokens)
    if action == "as_is" or provider not in _WRITE_PRICED:
        return usage
    hour = tokens if ttl == "1h" else 0
    return replace(usage, cache_write_tokens=tokens, cache_write_1h_tokens=hour)


def _simulate(group: PrefixGroup, ttl: Ttl) -> TtlOption:
    """Replay the group's calls in time order through a cache with ``ttl``."""
    span = _TTLS[ttl]
    last_use: dt.datetime | None = None
    current = saving = Decimal(0)
    plan: list[PlannedCall] = []
    for call in sorted(group.calls, key=lambda c: c.started_at):
        current += call.cost
        usage = call.usage
        tokens = min(call.prefix_tokens, usage.input_tokens)
        action: Action
        if usage.cache_read_tokens > 0 or usage.cache_write_tokens > 0:
            action = "as_is"
        elif last_use is not None and call.started_at - last_use <= span:
            action = "read"
        else:
            action = "write"
        if action != "as_is":
            after = cached_usage(usage, tokens, action, ttl, group.provider)
            # Re-price both ways at the same price: the difference is the cache's alone.
            saving += cost(usage, call.price).total - cost(after, call.price).total
        plan.append(PlannedCall(call.call_id, action, tokens))
        last_use = call.started_at
    # Reads count the calls that already read from a cache too (the hit rate's numerator).
    reads = sum(p.action == "read" for p in plan)
    reads += sum(c.usage.cache_read_tokens > 0 for c in group.calls)
    writes = sum(p.action == "write" for p in plan)
    unchanged = sum(p.action == "as_is" for p in plan)
    return TtlOption(ttl, reads, writes, unchanged, current - saving, saving, tuple(plan))


def _assumptions(group: PrefixGroup, option: TtlOption, days: Decimal) -> tuple[str, ...]:
    found = [
        f"the {len(group.calls)} calls of {days} day(s) repeat over a 30-day month",
        "the prefix (system + tools tokens) is sent first and byte-identical in every call",
        "the cache lives from the last use: a read refreshes the TTL",
        "calls that already read from or wrote to a cache are counted as they are",
    ]
    if group.provider in _WRITE_PRICED:
        found.append(f"a cache write is billed at the {option.ttl} write rate")
    else:
        found.append("the provider caches implicitly: a write costs the normal input rate")
        found.append("the provider publishes no fixed TTL: 5 minutes is assumed")
    return tuple(found)


def _how_to_apply(provider: str, ttl: Ttl) -> str:
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


def _reason(best: TtlOption, chosen_other: TtlOption | None) -> str:
    if best.saving > 0:
        why = f"{best.reads} of {len(best.plan)} calls read the prefix"
        if chosen_other is not None:
            why += (
                f"; the {best.ttl} TTL saves more than {chosen_other.ttl} ({chosen_other.saving})"
            )
        return why
    return (
        f"reused less often than the TTL: {best.writes} writes and {best.reads} reads; "
        f"net of write premiums, caching would cost {-best.saving} USD more over the period"
    )


def _advise_group(group: PrefixGroup, days: Decimal) -> CachePrefixAdvice:
    ttls = _TTLS_OFFERED.get(group.provider, ("5m",))
    options = tuple(_simulate(group, ttl) for ttl in ttls)
    best = options[0]
    for option in options[1:]:
        if option.saving > best.saving:
            best = option  # ties keep the shorter TTL: cheaper writes, the default
    others = [o for o in options if o is not best]
    total = len(group.calls)
    return CachePrefixAdvice(
        fingerprint=group.fingerprint,
        provider=group.provider,
        model=group.model,
        status="recommended" if best.saving > 0 else "not_recommended",
        reason=_reason(best, others[0] if others else None),
        prefix_tokens=max(c.prefix_tokens for c in group.calls),
        calls=total,
        ttl=best.ttl,
        hit_rate=Decimal(best.reads) / Decimal(total),
        current_cost=best.simulated_cost + best.saving,
        simulated_cost=best.simulated_cost,
        period_saving=best.saving,
        monthly_saving=best.saving * _MONTH_DAYS / days,
        options=options,
        assumptions=_assumptions(group, best, days),
        how_to_apply=_how_to_apply(group.provider, best.ttl),
        call_ids=tuple(c.call_id for c in sorted(group.calls, key=lambda c: c.started_at)),
    )


def _eligible(group: PrefixGroup) -> bool:
    """Whether the group's prefix reaches the provider's minimum (a known cache)."""
    minimum = minimum_prefix_tokens(group.provider, group.model)
    if minimum is None or not group.calls:
        return False
    return min(c.prefix_tokens for c in group.calls) >= minimum


def advise_cache_prefix(
    groups: Iterable[PrefixGroup], period_days: Decimal | int
) -> list[CachePrefixAdvice]:
    """Cache advice for every group whose prefix reaches its provider's minimum.

    ``period_days`` is the length of the period the calls come from; savings
    are scaled to 30 days from it. Groups under the minimum (or on a provider
    with no known prompt cache) are left out; the others come back recommended
    or, with a zero or negative saving, not recommended with the reason, the
    largest monthly saving first.
    """
    days = Decimal(period_days)
    if days <= 0:
        raise ValueError(f"period_days must be > 0, got {period_days}")
    found = [_advise_group(g, days) for g in groups if _eligible(g)]
    return sorted(found, key=lambda a: (-a.monthly_saving, a.fingerprint, a.model))
