"""What moving a feature to another model would save: every call of the period
re-priced by the meter at the candidate's catalog price in force when it
started, with the token counts as recorded, against the same calls at their own
model's price (as ``llmtally advise`` prices calls), scaled to 30 days.

The token counts are an assumption (``SAME_TOKENS``): the candidate's tokenizer
may count the same prompt differently, and its answers may be longer or shorter.
A call that cannot be priced either way (a model or a candidate without a price
on that day) is left out of both sums and counted as ``unpriced``. Amounts are
USD: a price in another currency is converted at the rate of the call's UTC day
(:func:`llmtally.currency.pivot.usd_amount`, as the ledger converts); a call
with no rate for that day is unpriced too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from llmtally.advisor.period import MONTH_DAYS
from llmtally.catalog import Catalog
from llmtally.catalog.price import Price
from llmtally.currency.pivot import usd_amount
from llmtally.meter import cost
from llmtally.usage import Call, Usage

__all__ = ["SAME_TOKENS", "Repricing", "month_factor", "reprice"]

SAME_TOKENS = "the same token counts on the candidate; its tokenizer may count differently"


def month_factor(since: dt.datetime, until: dt.datetime) -> Decimal:
    """The factor that scales the period's amounts to 30 days (as ``advise`` does)."""
    seconds = Decimal(int((until - since).total_seconds()))
    return Decimal(MONTH_DAYS * 86400) / seconds


@dataclass(frozen=True, slots=True)
class Repricing:
    """The feature's period calls at their own prices and at the candidate's."""

    model: str  # the candidate
    provider: str  # its catalog provider
    calls: int  # priced both ways
    unpriced: int  # left out: no price for the call's model or the candidate that day
    current: Decimal  # what the priced calls cost (the meter, at their own price)
    candidate: Decimal  # what they would cost on the candidate
    to_month: Decimal

    @property
    def saving(self) -> Decimal:
        """Over the period (negative: the candidate costs more)."""
        return self.current - self.candidate

    @property
    def monthly_saving(self) -> Decimal:
        return self.saving * self.to_month


class _Prices:
    """The meter's cost of a usage at a (provider, model)'s price at a moment,
    memoised per (price in force, usage): a period shares few prices and usages."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._memo: dict[tuple[int, Usage], tuple[Price, Decimal | None]] = {}

    def cost(self, provider: str, model: str, at: dt.datetime, usage: Usage) -> Decimal | None:
        try:
            price = self.catalog.price_at(provider, model, at)
        except (LookupError, ValueError):
            return None
        key = (id(price), usage)
        found = self._memo.get(key)
        if found is None or found[0] is not price:  # the price kept: an id is never stale
            found = (price, _metered(usage, price))
            self._memo[key] = found
        amount = found[1]
        if amount is None or price.currency == "USD":
            return amount
        return usd_amount(amount, price.currency, at)


def _metered(usage: Usage, price: Price) -> Decimal | None:
    try:
        return cost(usage, price).total
    except (LookupError, ValueError):
        return None


@dataclass(slots=True)
class _Tally:
    current: Decimal = Decimal(0)
    candidate: Decimal = Decimal(0)
    priced: int = 0
    unpriced: int = 0


def reprice(
    calls: Iterable[Call],
    catalog: Catalog,
    candidates: Sequence[tuple[str, str, str]],
    to_month: Decimal,
) -> dict[str, Repricing]:
    """The calls re-priced on each candidate, ``(name, catalog provider, catalog
    model)``, in one pass over ``calls`` (a stream: nothing is kept); by name."""
    prices = _Prices(catalog)
    tallies = {name: _Tally() for name, _, _ in candidates}
    for call in calls:
        before = prices.cost(call.provider, call.model, call.started_at, call.usage)
        for name, provider, model in candidates:
            after = prices.cost(provider, model, call.started_at, call.usage)
            tally = tallies[name]
            if before is None or after is None:
                tally.unpriced += 1
                continue
            tally.current += before
            tally.candidate += after
            tally.priced += 1
    return {
        name: Repricing(
            name, provider, tallies[name].priced, tallies[name].unpriced,
            tallies[name].current, tallies[name].candidate, to_month,
        )
        for name, provider, _ in candidates
    }  # fmt: skip
