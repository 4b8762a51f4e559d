"""The working copy that keeps savings from being counted twice.

Each cell of the period (``llmtally.advisor.cells``: calls billed alike, summed)
has a state: the summed usage it would be billed for, the calls still sent (a
response cache answers the others), one request's prompt size (for long-context
cliffs) and the model it would be sent to. Recommendations apply in order: each
one's saving is the re-priced cost of its cells in the current state minus their
cost with its change applied, and the change is then kept in the state. So a
later recommendation is priced on top of the earlier ones, and the sum of the
savings is the saving of all changes together (e.g. batch on a feature whose
repeats a cache answers saves only on the calls still sent). Costs come from the
meter at the price in force at the cell's first call (every call of a cell is
billed at the same rates, see ``cells``), in USD: a price in another currency
(a CNY file) is converted at the rate of that call's UTC day, as the ledger
converts (:func:`llmtally.currency.pivot.usd_amount`), so a saving between a
USD and a CNY model compares dollars with dollars; with no rate the state
cannot be priced (it saves nothing), never priced as if it were dollars.

Costs are memoised per (catalog price, usage, prompt size): a state is priced
twice (before and after each change). The price object is the key's identity
(the catalog returns the same object for the same entry and time-of-day window)
and is kept beside the result, so a recycled id can never hit a stale entry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from decimal import Decimal

from llmtally.advisor.cells import Cell
from llmtally.advisor.usage_sum import subtract
from llmtally.catalog import Catalog
from llmtally.catalog.price import Price
from llmtally.currency.pivot import usd_amount
from llmtally.meter import Cost, cost
from llmtally.usage import ServiceTier, Usage

__all__ = [
    "CellState",
    "Change",
    "Part",
    "Working",
    "at_flat_cost",
    "to_model",
    "to_tier",
    "without",
]


@dataclass(frozen=True, slots=True)
class CellState:
    """How a cell would be billed under the changes applied so far."""

    usage: Usage
    calls: int
    prompt_tokens: int
    provider: str
    model: str
    flat: Decimal | None = None  # a cost that no longer follows the tokens (self-hosting)


Change = Callable[[CellState], CellState]
Part = tuple[int, Change]  # a cell's id and the change to it


def to_tier(tier: ServiceTier) -> Change:
    """The change that sends a cell's calls at another service tier."""
    return lambda state: replace(state, usage=replace(state.usage, service_tier=tier))


def to_model(provider: str, model: str) -> Change:
    """The change that sends a cell's calls to another model (same token counts)."""
    return lambda state: replace(state, provider=provider, model=model)


def without(usage: Usage, calls: int) -> Change:
    """The change that stops sending ``calls`` of a cell whose usage is ``usage``
    (a response cache answers them: nothing billed)."""

    def change(state: CellState) -> CellState:
        return replace(state, usage=subtract(state.usage, usage), calls=state.calls - calls)

    return change


def at_flat_cost(amount: Decimal) -> Change:
    """The change that bills a cell ``amount`` whatever its tokens (its share of
    machines of one's own, say)."""
    return lambda state: replace(state, flat=amount)


def _priced(usage: Usage, price: Price, prompt_tokens: int) -> Cost | None:
    try:
        return cost(usage, price, prompt_tokens)
    except (LookupError, ValueError):
        return None


class Working:
    """Every cell's state; prices states with the catalog (memoised, see above)."""

    def __init__(self, cells: Iterable[Cell], catalog: Catalog) -> None:
        self._cells = {cell.id: cell for cell in cells}
        self._state = {
            cid: CellState(cell.usage, cell.calls, cell.prompt_tokens, cell.provider, cell.model)
            for cid, cell in self._cells.items()
        }
        self._catalog = catalog
        self._memo: dict[tuple[int, Usage, int], tuple[Price, Cost | None]] = {}
        self.answered: set[str] = set()  # calls a kept change stops sending

    @property
    def catalog(self) -> Catalog:
        """The prices every state is priced with."""
        return self._catalog

    @property
    def cells(self) -> Iterable[Cell]:
        return self._cells.values()

    def cell(self, cell_id: int) -> Cell:
        return self._cells[cell_id]

    def state(self, cell_id: int) -> CellState:
        return self._state[cell_id]

    def price(self, cell_id: int, state: CellState) -> Decimal | None:
        """The cell's cost in ``state`` in USD; None when it cannot be priced (or
        its price's currency has no rate to USD on the cell's first day)."""
        if not state.calls:
            return Decimal(0)
        if state.flat is not None:
            return state.flat
        paid = self.cost(cell_id, state)
        if paid is None:
            return None
        return usd_amount(paid.total, paid.price.currency, self._cells[cell_id].first)

    def cost(self, cell_id: int, state: CellState) -> Cost | None:
        """The meter's cost of the cell in ``state`` at the price in force at its
        first call (memoised), in that price's currency; None: it cannot be priced."""
        first = self._cells[cell_id].first
        try:
            price = self._catalog.price_at(state.provider, state.model, first)
        except (LookupError, ValueError):
            return None
        key = (id(price), state.usage, state.prompt_tokens)
        found = self._memo.get(key)
        if found is None or found[0] is not price:
            found = (price, _priced(state.usage, price, state.prompt_tokens))
            self._memo[key] = found
        return found[1]

    def saving(self, parts: Iterable[Part]) -> Decimal:
        """What the changes save on their cells from their current state (cells
        that cannot be priced either way save nothing)."""
        total = Decimal(0)
        for cid, change in parts:
            now = self._state[cid]
            before, after = self.price(cid, now), self.price(cid, change(now))
            if before is not None and after is not None:
                total += before - after
        return total

    def apply(self, parts: Iterable[Part]) -> None:
        for cid, change in parts:
            self._state[cid] = change(self._state[cid])
