"""Cache prompt prefixes: the advisor's recommender over ``advisor/cache_prefix.py``.

It runs the cache simulation on the working copy, not on the ledger as recorded:
calls a response cache already answers (duplicates) are not sent, so they
neither read nor write the prefix, and every other call is simulated with its
current usage. Each recommended prefix becomes a candidate whose change applies
the chosen plan call by call (:func:`cached_usage`: a read, a write, or as is),
so the core prices it on top of the changes before it and the recommenders
after it (batch) see the cached usage. A prefix whose best TTL does not pay
(written more often than read) is reported as considered, with the reason.

The core's ``Change`` sees only a call's state, not its id; the plan differs per
call (the first of a burst writes, the rest read), so the change looks up the
state object each call had when the plan was made (held here, so it stays the
same object) and leaves any other state as it is.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from llmtally.advisor.cache_prefix import (
    CachePrefixAdvice,
    advise_cache_prefix,
    cached_usage,
    group_by_fingerprint,
    minimum_prefix_tokens,
)
from llmtally.advisor.candidate import Candidate, Found
from llmtally.advisor.grouping import NO_FEATURE
from llmtally.advisor.period import Period, PeriodCall
from llmtally.advisor.recommendation import Confidence, Considered
from llmtally.advisor.working import CallState, Change, Working
from llmtally.usage import Call

__all__ = ["KIND", "prompt_cache_recommender"]

KIND = "prompt_cache"


def _sent(period: Period, working: Working) -> dict[str, PeriodCall]:
    """The calls still sent (not answered by a response cache), by id."""
    return {i.call.id: i for i in period.calls if not working.state(i.call.id).cached}


def _where(advice: CachePrefixAdvice, sent: dict[str, PeriodCall]) -> dict[str, str]:
    features = sorted({sent[c].call.feature or NO_FEATURE for c in advice.call_ids})
    return {
        "feature": ", ".join(features),
        "provider": advice.provider,
        "model": advice.model,
        "fingerprint": advice.fingerprint,
    }


def _evidence(advice: CachePrefixAdvice, period: Period) -> dict[str, str]:
    return {
        "fingerprint": advice.fingerprint,
        "model": advice.model,
        "since": period.since.isoformat(),
        "until": period.until.isoformat(),
        "ttl": advice.ttl,
        "hit_rate": str(advice.hit_rate.quantize(Decimal("0.001"))),
    }


def _plan_change(advice: CachePrefixAdvice, working: Working) -> Change:
    """The change that applies ``advice``'s plan to each of its calls."""
    planned: dict[int, tuple[CallState, CallState]] = {}
    for step in advice.plan:
        state = working.state(step.call_id)
        usage = cached_usage(state.usage, step.tokens, step.action, advice.ttl, advice.provider)
        planned[id(state)] = (state, replace(state, usage=usage))

    def change(state: CallState) -> CallState:
        found = planned.get(id(state))
        return found[1] if found is not None and found[0] is state else state

    return change


def _confidence(advice: CachePrefixAdvice) -> Confidence:
    if advice.provider == "anthropic":
        return Confidence("high", "the reads and writes follow the observed call times")
    return Confidence(
        "medium",
        f"{advice.provider} caches implicitly with no published TTL: 5 minutes assumed",
    )


def _candidate(
    advice: CachePrefixAdvice, period: Period, working: Working, sent: dict[str, PeriodCall]
) -> Candidate:
    return Candidate(
        kind=KIND,
        title=f"Cache the {advice.prefix_tokens:,}-token prompt prefix ({advice.ttl} TTL)",
        where=_where(advice, sent),
        evidence=_evidence(advice, period),
        call_ids=tuple(step.call_id for step in advice.plan),
        change=_plan_change(advice, working),
        assumptions=(*advice.assumptions, "calls a response cache answers are not sent"),
        confidence=_confidence(advice),
        how_to_apply=advice.how_to_apply,
    )


def _period_days(period: Period) -> Decimal:
    return Decimal(int((period.until - period.since).total_seconds())) / Decimal(86400)


def _as_now(item: PeriodCall, working: Working) -> Call | None:
    """The call with its current usage, priced at the catalog price in force (a
    call read back from the ledger carries its price's id, not its rates); None
    when the catalog cannot price it."""
    call = item.call
    usage = working.state(call.id).usage
    paid = working.cost(call.id, usage)  # price_usage's cost, memoised per price and usage
    return None if paid is None else replace(call, usage=usage, cost=paid)


def _may_cache(call: Call, known: dict[tuple[str, str], bool]) -> bool:
    """Whether the call could be in a prefix group at all: ``group_by_fingerprint``
    drops calls without a fingerprint or system/tools counts and
    ``advise_cache_prefix`` providers without a known prompt cache. Checked before
    re-pricing (the costly part); the same calls are kept either way."""
    if call.prompt_fingerprint is None:
        return False
    if call.input_system_tokens is None and call.input_tools_tokens is None:
        return False
    key = (call.provider, call.model)
    if key not in known:
        known[key] = minimum_prefix_tokens(*key) is not None
    return known[key]


def prompt_cache_recommender(period: Period, working: Working) -> Found:
    """One candidate per (fingerprint, provider, model) whose cached prefix pays."""
    sent = _sent(period, working)
    known: dict[tuple[str, str], bool] = {}
    now = (_as_now(item, working) for item in sent.values() if _may_cache(item.call, known))
    calls = [call for call in now if call is not None]
    found = Found()
    for advice in advise_cache_prefix(group_by_fingerprint(calls), _period_days(period)):
        if advice.status == "recommended":
            found.candidates.append(_candidate(advice, period, working, sent))
        else:
            monthly = advice.period_saving * period.to_month
            found.considered.append(Considered(KIND, _where(advice, sent), advice.reason, monthly))
    return found
