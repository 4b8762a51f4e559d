"""Counterfactual re-pricing: what calls would have cost on another model or
service tier, from sums of their usage (``llmtally.advisor.realised_sql``).

Each group of calls shares the price entry (day), time-of-day window (slot) and
long-context cliff (bucket) of the target model, so the meter's cost of the
group's summed usage is exactly the sum of the calls' costs: per-token prices
are linear. Two things are per call, not per token, and are kept exact apart:
the long-context cliff (decided on each call's own prompt: every call of a group
is on the same side of every threshold, so the group's smallest prompt decides
it) and per-duration audio (rounded per call: the group's calls share one
length, so one call's audio cost times the count). A cliff that also needs a
long output (``output_above``) keeps that condition, which the meter decides on
the group's output per call (its mean: exact when the group's calls are on one
side of the bound, else an approximation).

Amounts are USD, as the ledger's: a target priced in another currency is
converted at the rate of the group's UTC day (:func:`llmtally.currency.pivot.usd_amount`,
the ledger's own rule); with no rate the group is left out as unpriced, never
added as if it were dollars.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from llmtally.advisor.realised_sql import UsageGroup
from llmtally.catalog import Catalog
from llmtally.catalog.price import LongContext, Price
from llmtally.currency.pivot import usd_amount
from llmtally.meter import cost
from llmtally.usage import ServiceTier, Usage

__all__ = ["Repriced", "Target", "price_facts", "reprice"]

# A call's (provider, model, service tier) under the change undone.
Target = Callable[[UsageGroup], tuple[str, str, ServiceTier]]
_NEVER = 1 << 62


@dataclass(frozen=True, slots=True)
class Repriced:
    """``calls`` priced both ways: ``actual`` (as the ledger recorded them) and
    ``counterfactual`` (on the target); ``unpriced``: calls the target cannot
    price (left out of both sums)."""

    calls: int
    actual: Decimal
    counterfactual: Decimal
    unpriced: int

    @property
    def saving(self) -> Decimal:
        return self.counterfactual - self.actual


def price_facts(
    catalog: Catalog, models: Iterable[tuple[str, str]]
) -> tuple[list[dt.time], list[int]]:
    """The time-of-day window edges and long-context thresholds of every price
    the ``(provider, model)`` pairs ever had, sorted: the group boundaries."""
    edges: set[dt.time] = set()
    thresholds: set[int] = set()
    for provider, model in models:
        try:
            ref = catalog.index.find(provider, model)
        except (LookupError, ValueError):
            continue
        for price in catalog.history(ref):
            for window in price.windows:
                edges.update((window.start, window.end))
            cliffs = [*price.long_context]
            for tier in price.tiers.values():
                cliffs.extend(tier.long_context)
            thresholds.update(c.above for c in cliffs)
    edges.discard(dt.time(0))
    return sorted(edges), sorted(thresholds)


def _decided(price: Price, prompt: int) -> Price:
    """``price`` with each long-context cliff settled for a prompt of ``prompt``
    tokens: one that applies to it always applies, one that does not never does."""

    def settle(cliffs: tuple[LongContext, ...]) -> tuple[LongContext, ...]:
        # replace, not a new LongContext: every other field (output_above) survives
        return tuple(replace(c, above=-1 if prompt > c.above else _NEVER) for c in cliffs)

    tiers = {
        name: replace(t, long_context=settle(t.long_context)) for name, t in price.tiers.items()
    }
    return replace(price, long_context=settle(price.long_context), tiers=tiers, memo={})


def _slot_start(edges: list[dt.time], slot: int) -> dt.time:
    return dt.time(0) if slot == 0 else edges[slot - 1]


def _group_cost(group: UsageGroup, price: Price, tier: ServiceTier) -> Decimal:
    counts: dict[str, Any] = dict(group.counts)  # USAGE_COUNTS: Usage's whole-number fields
    summed = Usage(**counts, images=group.images, service_tier=tier)
    total = cost(summed, price).total
    if group.audio_seconds is not None:
        one = Usage(requests=0, audio_seconds=group.audio_seconds, service_tier=tier)
        total += cost(one, price).total * group.calls
    return total


def reprice(
    groups: Iterable[UsageGroup], catalog: Catalog, target: Target, edges: list[dt.time]
) -> Repriced:
    """Every group's recorded cost and its cost on ``target`` (``edges``: the
    slot boundaries the groups were summed with)."""
    n = unpriced = 0
    actual = counterfactual = Decimal(0)
    decided: dict[tuple[int, int], Price] = {}
    for group in groups:
        provider, model, tier = target(group)
        at = dt.datetime.combine(group.day, _slot_start(edges, group.slot), dt.UTC)
        try:
            price = catalog.price_at(provider, model, at)
            key = (id(price), group.min_input)
            settled = decided.get(key)
            if settled is None:
                settled = decided[key] = _decided(price, group.min_input)
            would = usd_amount(_group_cost(group, settled, tier), price.currency, at)
        except (LookupError, ValueError):
            would = None
        if would is None:  # no price, or no rate to USD for that day
            unpriced += group.calls
            continue
        n += group.calls
        actual += group.cost
        counterfactual += would
    return Repriced(n, actual, counterfactual, unpriced)
