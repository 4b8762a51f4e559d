"""What the call page shows of a call billed in another currency than USD
(issue 17): what was billed and the rate its USD was converted at, and, on a
page shown in that same currency, the cost as billed rather than a round trip
through the ledger's USD (docs/currencies.md).

The ledger keeps the billed total (``calls.billed_total``), not the billed
components. They are priced again: the row's ``price_id`` names the catalog
entry (``provider/model@effective``); the call's usage is priced with the entry
in force at the call's time (``Catalog.price_at``, then ``meter.cost``), and the
result is used only when that is the same entry, in the billed currency, and its
total is the billed total exactly. Otherwise the total is shown as billed and
the components converted from USD, with a note saying why.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from llmtally.currency import Money
from llmtally.currency.display import money_exact
from llmtally.meter import COMPONENTS, cost
from llmtally.web.call_view import CostRow

if TYPE_CHECKING:
    from llmtally.catalog import Catalog
    from llmtally.catalog.price import Price
    from llmtally.ledger import Store
    from llmtally.usage import Call

__all__ = ["AsBilled", "Billed", "as_billed", "billed_of_call"]


@dataclass(frozen=True, slots=True)
class Billed:
    """A call's ``billed_*`` and ``fx_*`` columns (``llmtally.currency.pivot``)."""

    amount: Decimal | None
    currency: str
    fx_rate: str | None  # 1 billed unit in USD, every digit used; None: not converted
    fx_date: str | None
    fx_source: str | None

    def exact(self, amount: Decimal) -> str:
        """Every digit of ``amount`` in the billed currency: ``¥0.432 CNY``."""
        return money_exact(Money(amount, self.currency))


@dataclass(frozen=True, slots=True)
class AsBilled:
    """The cost table of a call on a page in the currency it was billed in."""

    total: Decimal  # the billed total, exactly
    costs: list[CostRow]  # the components in that currency; empty when not repriced
    why_not: str | None  # why the components are converted from USD instead


def billed_of_call(store: Store, call_id: str) -> Billed | None:
    """What ``call_id`` billed when that was not USD (None for a USD call)."""
    from llmtally.cli.calls_cmd import billed_of  # the one reader of billed_*/fx_*

    found = billed_of(store, [call_id]).get(call_id)
    if found is None:
        return None
    amount = None if found["amount"] is None else Decimal(found["amount"])
    return Billed(amount, found["currency"], found["fx_rate"], found["fx_date"], found["fx_source"])


def as_billed(call: Call, billed: Billed | None, code: str, catalog: Catalog) -> AsBilled | None:
    """The cost as billed, for a page in ``code``; None unless ``call`` was billed
    in ``code`` (and priced)."""
    if billed is None or billed.currency != code or billed.amount is None or call.cost is None:
        return None
    costs, why_not = _repriced(call, call.cost.price, billed, catalog)
    return AsBilled(billed.amount, costs, why_not)


def _repriced(
    call: Call, entry: Price, billed: Billed, catalog: Catalog
) -> tuple[list[CostRow], str | None]:
    """The components of ``call`` priced again at ``entry`` (the row's
    ``price_id``; its currency is not stored), or none and why not."""
    try:
        price = catalog.price_at(entry.provider, entry.model, call.started_at)
    except (LookupError, ValueError) as exc:
        return [], f"{entry.entry_id} could not be priced again: {exc}"
    if price.entry_id != entry.entry_id or price.currency != billed.currency:
        return [], f"the catalog's price is now {price.entry_id} ({price.currency})"
    again = cost(call.usage, price)
    if again.total != billed.amount:
        return [], f"priced again it comes to {billed.exact(again.total)}, not the billed total"
    rows = [CostRow(name, getattr(again, name)) for name in COMPONENTS]
    return [row for row in rows if row.amount], None
