"""Does the ledger match the bill? A period reconciled with the providers' reports.

:func:`reconcile` gathers both sides cell by cell (day x provider x model,
:mod:`llmtally.reconcile.gather`), runs the explainers on each cell
(:data:`llmtally.reconcile.explain.EXPLAINERS`) and sums them into rows: per
day x provider (where every bill can be compared: a provider's cost lines name
a model for Anthropic, not for OpenAI), per model, per API key or project.

Each figure is defined once:

- ``difference`` = ledger cost (every call, failed ones included) - billed;
- ``explained`` = the sum of the explanations' effects (not billed: +, the
  ledger holds spend the bill lacks; unrecorded: -, the bill holds spend the
  ledger lacks);
- ``unexplained`` = difference - explained: never hidden, shown per row.

The headline is the error bar of the whole period over the day x provider rows
that have billed figures: (ledger - billed) / billed in percent, to 3
decimals; a clean period is 0.000%. Rows with no billed figures (no cost report
imported for that day) are listed as left out, never counted as agreeing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from llmtally.catalog import Catalog
from llmtally.ledger import Store
from llmtally.meter import decimal_text
from llmtally.reconcile.cells import Cell, Tokens
from llmtally.reconcile.explain import (
    EXPLAINERS,
    PERIOD_EXPLAINERS,
    Explainer,
    Explanation,
    PeriodExplainer,
    Pricer,
)
from llmtally.reconcile.gather import Sides, gather

__all__ = ["VIEWS", "Headline", "Reconciliation", "Row", "View", "reconcile"]

View = Literal["day", "model", "key", "project"]
VIEWS: tuple[View, ...] = ("day", "model", "key", "project")
_ZERO = Decimal(0)
_PERCENT_PLACES = Decimal("0.001")


def _text(amount: Decimal | None) -> str | None:
    return None if amount is None else decimal_text(amount)


@dataclass(frozen=True)
class Row:
    """One line of a view: the ledger's cost beside the billed amount."""

    label: str
    provider: str
    ledger: Decimal | None  # None: the ledger cannot be split this way (provider keys)
    billed: Decimal | None  # None: the bill cannot be split this way, or no bill
    explained: Decimal
    kinds: tuple[str, ...]
    ledger_tokens: Tokens | None = None
    reported_tokens: Tokens | None = None
    failed_calls: int = 0
    unpriced_calls: int = 0  # calls the ledger holds with no cost (no price for the model)

    @property
    def difference(self) -> Decimal | None:
        if self.ledger is None or self.billed is None:
            return None
        return self.ledger - self.billed

    @property
    def unexplained(self) -> Decimal | None:
        difference = self.difference
        return None if difference is None else difference - self.explained

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "provider": self.provider,
            "ledger_usd": _text(self.ledger),
            "billed_usd": _text(self.billed),
            "difference_usd": _text(self.difference),
            "explained_usd": _text(self.explained),
            "unexplained_usd": _text(self.unexplained),
            "explanations": list(self.kinds),
            "failed_calls": self.failed_calls,
            "unpriced_calls": self.unpriced_calls,
            "ledger_tokens": None if self.ledger_tokens is None else self.ledger_tokens.to_json(),
            "provider_tokens": (
                None if self.reported_tokens is None else self.reported_tokens.to_json()
            ),
        }


@dataclass(frozen=True)
class Headline:
    """The period's error bar over the rows with billed figures, and what the
    provider reports that the ledger lacks."""

    ledger: Decimal
    billed: Decimal
    unexplained: Decimal
    unrecorded: Decimal  # unrecorded spend (priced), every day
    left_out: tuple[str, ...]  # day x provider rows with no billed figures

    @property
    def error_percent(self) -> Decimal | None:
        """(ledger - billed) / billed x 100, to 3 decimals; None when nothing was billed."""
        if self.billed == 0:
            return None
        ratio = (self.ledger - self.billed) * 100 / self.billed
        percent = ratio.quantize(_PERCENT_PLACES, ROUND_HALF_UP)
        return abs(percent) if percent == 0 else percent  # 0.000%, never -0.000%

    def to_json(self) -> dict[str, Any]:
        percent = self.error_percent
        return {
            "ledger_usd": decimal_text(self.ledger),
            "billed_usd": decimal_text(self.billed),
            "difference_usd": decimal_text(self.ledger - self.billed),
            "error_percent": None if percent is None else f"{percent:.3f}",
            "unexplained_usd": decimal_text(self.unexplained),
            "unrecorded_usd": decimal_text(self.unrecorded),
            "left_out": list(self.left_out),
        }


def _sum_tokens(items: Iterable[Tokens]) -> Tokens:
    total = Tokens()
    for tokens in items:
        total += tokens
    return total


@dataclass
class Reconciliation:
    """A period's cells, their explanations and the rows of each view."""

    sides: Sides
    explanations: list[Explanation] = field(default_factory=list)

    def cells(self) -> list[Cell]:
        return [self.sides.cells[k] for k in sorted(self.sides.cells)]

    def cell_billed(self, cell: Cell) -> Decimal | None:
        """What the bill says of this cell's model: the cost lines that name it,
        $0 when none does on a day whose every line names a model, None on a
        day whose lines do not (OpenAI) or with no cost report."""
        day = (cell.day, cell.provider)
        if day not in self.sides.billed_days or day in self.sides.unassigned:
            return None
        return cell.billed or _ZERO

    def _effects(self, cells: list[Cell]) -> tuple[Decimal, tuple[str, ...]]:
        keys = {(c.day, c.provider, c.model) for c in cells}
        found = [e for e in self.explanations if (e.day, e.provider, e.model) in keys]
        explained = sum((e.effect for e in found if e.effect is not None), _ZERO)
        return explained, tuple(dict.fromkeys(e.kind for e in found))

    def _row(self, label: str, provider: str, cells: list[Cell], billed: Decimal | None) -> Row:
        explained, kinds = self._effects(cells)
        with_usage = [c for c in cells if c.has_usage]
        return Row(
            label=label,
            provider=provider,
            ledger=sum((c.ledger_cost for c in cells), _ZERO),
            billed=billed,
            explained=explained,
            kinds=kinds,
            ledger_tokens=_sum_tokens(c.ledger_tokens for c in cells),
            reported_tokens=_sum_tokens(c.reported for c in with_usage) if with_usage else None,
            failed_calls=sum(len(c.failed) for c in cells),
            unpriced_calls=sum(c.unpriced for c in cells),
        )

    def day_rows(self) -> list[Row]:
        """Per day x provider: every cost line of the day compared, named or not."""
        groups: dict[tuple[dt.date, str], list[Cell]] = {}
        for cell in self.cells():
            groups.setdefault((cell.day, cell.provider), []).append(cell)
        rows = []
        for (day, provider), cells in groups.items():
            billed = None
            if (day, provider) in self.sides.billed_days:
                named = sum((c.billed or _ZERO for c in cells), _ZERO)
                billed = named + self.sides.unassigned.get((day, provider), _ZERO)
            rows.append(self._row(f"{day.isoformat()} {provider}", provider, cells, billed))
        return rows

    def model_rows(self) -> list[Row]:
        """Per provider / model over the period (billed where the bill names models)."""
        groups: dict[tuple[str, str], list[Cell]] = {}
        for cell in self.cells():
            groups.setdefault((cell.provider, cell.model), []).append(cell)
        rows = []
        for (provider, model), cells in sorted(groups.items()):
            each = [self.cell_billed(c) for c in cells]
            billed = None if None in each else sum((b or _ZERO for b in each), _ZERO)
            rows.append(self._row(f"{provider}/{model}", provider, cells, billed))
        return rows

    def source_rows(self, by: Literal["key", "project"]) -> list[Row]:
        """Per provider API key or project: the usage it reported and the unrecorded
        spend it carried (the ledger does not know the provider's keys)."""
        usage: dict[tuple[str, str | None], Tokens] = {}
        for cell in self.cells():
            for (key, project), tokens in cell.usage.items():
                name = (cell.provider, key if by == "key" else project)
                usage[name] = usage.get(name, Tokens()) + tokens
        unrecorded: dict[tuple[str, str | None], Decimal] = {}
        for e in self.explanations:
            for s in e.sources:
                if not s.shared and s.usd is not None:
                    name = (e.provider, s.key if by == "key" else s.project)
                    unrecorded[name] = unrecorded.get(name, _ZERO) - s.usd
        rows = []
        for (provider, source), tokens in sorted(usage.items(), key=lambda kv: str(kv[0])):
            effect = unrecorded.get((provider, source), _ZERO)
            label = f"{provider} {source or f'(no {by})'}"
            kinds = ("unrecorded",) if effect else ()
            rows.append(Row(label, provider, None, None, effect, kinds, None, tokens))
        return rows

    def rows(self, by: View) -> list[Row]:
        if by == "day":
            return self.day_rows()
        if by == "model":
            return self.model_rows()
        return self.source_rows(by)

    def headline(self) -> Headline:
        billed_rows = [r for r in self.day_rows() if r.billed is not None]
        unrecorded = [e.amount for e in self.explanations if e.kind == "unrecorded"]
        return Headline(
            ledger=sum((r.ledger or _ZERO for r in billed_rows), _ZERO),
            billed=sum((r.billed or _ZERO for r in billed_rows), _ZERO),
            unexplained=sum((r.unexplained or _ZERO for r in billed_rows), _ZERO),
            unrecorded=sum((a for a in unrecorded if a is not None), _ZERO),
            left_out=tuple(r.label for r in self.day_rows() if r.billed is None),
        )

    def _cell_json(self, cell: Cell) -> dict[str, Any]:
        return cell.to_json() | {
            "ledger_usd": decimal_text(cell.ledger_cost),
            "billed_usd": _text(self.cell_billed(cell)),
        }

    def to_json(self, by: View = "day") -> dict[str, Any]:
        return {
            "since": self.sides.since.isoformat(),
            "until": self.sides.until.isoformat(),
            "by": by,
            "headline": self.headline().to_json(),
            "rows": [r.to_json() for r in self.rows(by)],
            "explanations": [e.to_json() for e in self.explanations],
            "cells": [self._cell_json(c) for c in self.cells()],
            "other_currency": {k: decimal_text(v) for k, v in self.sides.other_currency.items()},
        }


def reconcile(
    store: Store,
    catalog: Catalog,
    since: dt.datetime,
    until: dt.datetime,
    provider: str | None = None,
    explainers: Iterable[Explainer] | None = None,
    period_explainers: Iterable[PeriodExplainer] | None = None,
) -> Reconciliation:
    """The ledger and the providers' reports of ``[since, until)`` side by side,
    each cell's differences explained (default: EXPLAINERS per cell, then
    PERIOD_EXPLAINERS over all the cells)."""
    sides = gather(store, catalog, since, until, provider)
    result = Reconciliation(sides)
    pricer = Pricer(catalog)
    cells = result.cells()
    for cell in cells:
        for explainer in EXPLAINERS if explainers is None else explainers:
            result.explanations.extend(explainer(cell, pricer))
    for period in PERIOD_EXPLAINERS if period_explainers is None else period_explainers:
        result.explanations.extend(period(cells, tuple(result.explanations), pricer))
    return result
