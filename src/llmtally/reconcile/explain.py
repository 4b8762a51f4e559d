"""Explanations of the difference between the ledger and the bill, per cell.

An explainer takes a :class:`~llmtally.reconcile.cells.Cell` and a
:class:`Pricer` and returns the explanations it finds. Each explanation has an
``effect``: how much it accounts for of the cell's ``ledger - billed`` (positive
where the ledger holds spend the bill lacks, negative where the bill holds spend
the ledger lacks). Whatever the explainers leave is ``unexplained``, computed in
one place (:mod:`llmtally.reconcile.compare`) and always shown.

:data:`EXPLAINERS` runs in order on each cell; :data:`PERIOD_EXPLAINERS` then
runs on all the period's cells at once. Explainers for price drift and tier /
cache mismatches (``llmtally.reconcile.explain_price``, which look at a model
across days) plug in by being appended to the second; each must only explain
what the figures show and the explainers before it did not.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from llmtally.catalog import Catalog
from llmtally.meter import cost, decimal_text
from llmtally.reconcile.cells import Cell, Tokens
from llmtally.reconcile.explain_types import Explanation as PriceExplanation

__all__ = [
    "EXPLAINERS",
    "PERIOD_EXPLAINERS",
    "Explainer",
    "PeriodExplainer",
    "Explanation",
    "Pricer",
    "Source",
    "not_billed",
    "price_differences",
    "unrecorded",
]

_ZERO = Decimal(0)
_FROM_RECORDED = "(keys that also carried recorded calls)"


class Pricer:
    """Tokens -> USD at the catalog's standard price for the model on a day
    (the price in force at 00:00 UTC); None with the reason when it has none."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def __call__(self, provider: str, model: str, day: dt.date, tokens: Tokens) -> Decimal:
        moment = dt.datetime.combine(day, dt.time(), dt.UTC)
        price = self.catalog.price_at(provider, model, moment)
        return cost(tokens.usage(), price).total


@dataclass(frozen=True, slots=True)
class Source:
    """An API key / project that unrecorded usage came from, and its dollars.
    ``shared``: the rest, from keys that also carried recorded calls."""

    key: str | None
    project: str | None
    tokens: Tokens
    usd: Decimal | None
    shared: bool = False

    @property
    def name(self) -> str:
        if self.shared:
            return _FROM_RECORDED
        if self.key and self.project:
            return f"key {self.key} (project {self.project})"
        if self.key:
            return f"key {self.key}"
        return f"project {self.project}" if self.project else "(no key named)"

    def to_json(self) -> dict[str, Any]:
        return {
            "api_key_id": self.key,
            "project_id": self.project,
            "shared": self.shared,
            "tokens": self.tokens.to_json(),
            "usd": None if self.usd is None else decimal_text(self.usd),
        }


@dataclass(frozen=True)
class Explanation:
    """One explained difference in one cell."""

    kind: str  # "not billed", "unrecorded", or a plugged-in explainer's kind
    day: dt.date
    provider: str
    model: str
    effect: Decimal | None  # on ledger - billed; None when it could not be priced
    detail: str
    tokens: Tokens = Tokens()
    call_ids: tuple[str, ...] = ()
    sources: tuple[Source, ...] = ()  # where unrecorded usage came from
    extra: dict[str, Any] = field(default_factory=dict)
    # A price explanation over several days (llmtally.reconcile.price_link) that this
    # is one day's part of: a price drift's rates, for the proposed catalog entry.
    priced: PriceExplanation | None = field(default=None, compare=False, repr=False)

    @property
    def amount(self) -> Decimal | None:
        """The explained dollars, as a size (the sign is in ``effect``)."""
        return None if self.effect is None else abs(self.effect)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "day": self.day.isoformat(),
            "provider": self.provider,
            "model": self.model,
            "effect_usd": None if self.effect is None else decimal_text(self.effect),
            "amount_usd": None if self.amount is None else decimal_text(self.amount),
            "detail": self.detail,
            "tokens": self.tokens.to_json(),
            "call_ids": list(self.call_ids),
            "sources": [s.to_json() for s in self.sources],
            **self.extra,
        }


Explainer = Callable[[Cell, Pricer], list[Explanation]]
PeriodExplainer = Callable[[Sequence[Cell], Sequence[Explanation], Pricer], list[Explanation]]


def not_billed(cell: Cell, pricer: Pricer) -> list[Explanation]:
    """Failed calls and cut streams the ledger priced that the provider's usage
    does not hold: their ledger cost. Only where the provider reported usage for
    the cell (without it, nothing tells whether they were billed)."""
    priced = [c for c in cell.failed if c.cost]
    if not priced or not cell.has_usage or cell.matched_failed:
        return []
    effect = sum((c.cost or _ZERO for c in priced), _ZERO)
    tokens = Tokens()
    for call in priced:
        tokens += call.tokens
    kinds = sorted({c.kind for c in priced})
    noun = "call" if len(priced) == 1 else "calls"
    return [
        Explanation(
            kind="not billed",
            day=cell.day,
            provider=cell.provider,
            model=cell.model,
            effect=effect,
            detail=f"{len(priced)} {' / '.join(kinds)} {noun} in the ledger, not in the bill",
            tokens=tokens,
            call_ids=tuple(c.id for c in priced),
        )
    ]


def unrecorded(cell: Cell, pricer: Pricer) -> list[Explanation]:
    """Usage the provider reports that the ledger has no call for, priced at the
    catalog's standard price of the day, with the keys / projects it came from."""
    parts = cell.unmatched()
    if not parts:
        return []
    unmatched = Tokens()
    sources = []
    for where, tokens in parts:
        unmatched += tokens
        key, project = where or (None, None)
        sources.append(Source(key, project, tokens, None, shared=where is None))
    detail = "usage the provider reports and the ledger lacks"
    effect: Decimal | None
    try:
        sources = [
            replace(s, usd=pricer(cell.provider, cell.model, cell.day, s.tokens)) for s in sources
        ]
        effect = -sum((s.usd or _ZERO for s in sources), _ZERO)
    except (LookupError, ValueError) as exc:
        effect, detail = None, f"{detail}; not priced: {exc}"
    return [
        Explanation(
            kind="unrecorded",
            day=cell.day,
            provider=cell.provider,
            model=cell.model,
            effect=effect,
            detail=detail,
            tokens=unmatched,
            sources=tuple(sources),
        )
    ]


# Per cell, in order.
EXPLAINERS: list[Explainer] = [not_billed, unrecorded]


def price_differences(
    cells: Sequence[Cell], found: Sequence[Explanation], pricer: Pricer
) -> list[Explanation]:
    """Tier and cache mismatches, price drift and rounding in what the per-cell
    explainers left (:mod:`llmtally.reconcile.price_link`, imported on use: it
    builds on this module)."""
    from llmtally.reconcile.price_link import explain_cells

    return explain_cells(cells, found, pricer)


# Over the whole period's cells, after the per-cell ones: where explanations that
# need several days of a model go (price drift, tier / cache mismatches, rounding:
# llmtally.reconcile.explain_price, through an adapter from cells to its rows).
# Each gets every cell and the explanations found so far, and must not explain
# again what those already did.
PERIOD_EXPLAINERS: list[PeriodExplainer] = [price_differences]
