"""The working copy that keeps savings from being counted twice.

Each call of the period has a state: the usage it would be billed for (with its
service tier) and whether a response cache would answer it (then it costs $0).
Recommendations apply in order: each one's saving is the re-priced cost of its
calls in the current state minus their cost with its change applied, and the
change is then kept in the state. So a later recommendation is priced on top of
the earlier ones, and the sum of the savings is the saving of all changes
together (e.g. batch on a feature whose repeats a cache answers saves only on the
calls still sent). Costs come from the meter at the price in force at each call.

Costs are memoised per (catalog price in force, usage): most calls of a period
share a handful of prices and many repeat a usage, and a state is priced twice
(before and after each change). The price object is the key's identity (the
catalog returns the same object for the same entry and time-of-day window) and is
kept beside the result, so a recycled id can never hit a stale entry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from decimal import Decimal

from llmtally.advisor.period import PeriodCall
from llmtally.catalog import Catalog
from llmtally.catalog.price import Price
from llmtally.meter import Cost, cost, savings
from llmtally.usage import ServiceTier, Usage

__all__ = ["CallState", "Change", "Working"]


@dataclass(frozen=True, slots=True)
class CallState:
    """How a call would be billed under the changes applied so far."""

    usage: Usage
    cached: bool = False


Change = Callable[[CallState], CallState]


def to_tier(tier: ServiceTier) -> Change:
    """The change that sends a call at another service tier."""
    return lambda state: replace(state, usage=replace(state.usage, service_tier=tier))


def answered_from_cache(state: CallState) -> CallState:
    """The change that answers a call from a response cache (nothing billed)."""
    return replace(state, cached=True)


def _priced(usage: Usage, price: Price) -> Cost | None:
    """``price_usage``'s cost once its price is found (the same steps and errors:
    its savings are computed too, so a usage they cannot price has no cost here
    either), without looking the price up a second time."""
    try:
        paid = cost(usage, price)
        savings(usage, price, paid)
    except (LookupError, ValueError):
        return None
    return paid


class Working:
    """Every call's state; prices states with the catalog (memoised, see above)."""

    def __init__(self, calls: Iterable[PeriodCall], catalog: Catalog) -> None:
        self._calls = {item.call.id: item for item in calls}
        self._state = {cid: CallState(item.call.usage) for cid, item in self._calls.items()}
        self._catalog = catalog
        self._memo: dict[tuple[int, Usage], tuple[Price, Cost | None]] = {}

    @property
    def catalog(self) -> Catalog:
        """The prices every state is priced with."""
        return self._catalog

    def state(self, call_id: str) -> CallState:
        return self._state[call_id]

    def price(self, call_id: str, state: CallState) -> Decimal | None:
        """The call's cost in ``state``; None when it cannot be priced."""
        if state.cached:
            return Decimal(0)
        paid = self.cost(call_id, state.usage)
        return None if paid is None else paid.total

    def cost(self, call_id: str, usage: Usage) -> Cost | None:
        """The meter's cost of the call with ``usage`` at the price in force when it
        started (``llmtally.pricing.price_usage``'s, memoised); None: cannot be priced."""
        call = self._calls[call_id].call
        try:
            price = self._catalog.price_at(call.provider, call.model, call.started_at)
        except (LookupError, ValueError):
            return None
        key = (id(price), usage)
        found = self._memo.get(key)
        if found is None or found[0] is not price:
            found = (price, _priced(usage, price))
            self._memo[key] = found
        return found[1]

    def saving(self, call_ids: Iterable[str], change: Change) -> Decimal:
        """What ``change`` saves on ``call_ids`` from their current state (calls
        that cannot be priced either way save nothing)."""
        total = Decimal(0)
        for cid in call_ids:
            now = self._state[cid]
            before, after = self.price(cid, now), self.price(cid, change(now))
            if before is not None and after is not None:
                total += before - after
        return total

    def apply(self, call_ids: Iterable[str], change: Change) -> None:
        for cid in call_ids:
            self._state[cid] = change(self._state[cid])
