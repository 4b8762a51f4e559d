"""A :class:`~llmtally.reconcile.compare.Reconciliation` arranged for the
Reconcile page: day x provider groups with their model rows, each explanation
with links to the calls behind it, the unrecorded spend by key / project.

Every figure comes from the reconciliation (``Reconciliation.day_rows``,
``cell_billed``, the explanations' ``effect``); this module only adds them up
per model row the way ``compare`` does per day (``unexplained = ledger - billed
- explained``) and builds the links.

The explorer (``/calls``) filters on the model name a call carries, while the
reconciliation meets names through the catalog (``gpt-4o-mini-2024-07-18`` in
the ledger is the cell ``gpt-4o-mini``). :func:`ledger_names` reads which names
the ledger holds for each cell's day and model (from the day rollup, kept with
the calls in the same transaction), so a link selects the calls behind the
cell: one link per name the ledger used that day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select

from llmtally.analytics.ranges import EPOCH
from llmtally.catalog import Catalog
from llmtally.ledger import Store
from llmtally.ledger.rollup_tables import ROLLUPS
from llmtally.reconcile.cells import Cell
from llmtally.reconcile.compare import Headline, Reconciliation, Row
from llmtally.reconcile.explain import Explanation, Source
from llmtally.reconcile.gather import ModelNames
from llmtally.web.reconcile_chart import day_totals, reconcile_figure, summary
from llmtally.web.render import link

__all__ = [
    "CallsLink",
    "DayGroup",
    "ExplainedLine",
    "ModelLine",
    "ReconcileView",
    "SourceLine",
    "calls_links",
    "ledger_names",
    "reconcile_view",
]

_ZERO = Decimal(0)
DAY = dt.timedelta(days=1)
Cellname = tuple[dt.date, str, str]  # (day, provider, cell model)
Names = Mapping[Cellname, list[str]]  # -> the model names the ledger's calls carry


@dataclass(frozen=True, slots=True)
class CallsLink:
    """A link to the explorer, filtered to one day, provider and model name."""

    label: str
    href: str


def ledger_names(
    store: Store, catalog: Catalog, since: dt.datetime, until: dt.datetime, provider: str | None
) -> dict[Cellname, list[str]]:
    """The model names calls carry on each UTC day of ``[since, until)`` (whole
    days), by the cell (day, provider, catalog id) they meet under; names sorted.
    Read from ``rollup_model_day`` (one row per day x provider x name)."""
    table = ROLLUPS["rollup_model_day"]
    first, last = (int((m - EPOCH) / DAY) for m in (since, until))
    query = select(table.c.bucket, table.c.provider, table.c.model).where(
        table.c.bucket >= first, table.c.bucket < last
    )
    if provider is not None:
        query = query.where(table.c.provider == provider)
    meet = ModelNames(catalog)
    found: dict[Cellname, set[str]] = {}
    with store.engine.connect() as conn:
        for row in conn.execute(query):
            day = (EPOCH + row.bucket * DAY).date()
            cell = (day, row.provider, meet(row.provider, row.model))
            found.setdefault(cell, set()).add(row.model)
    return {key: sorted(names) for key, names in found.items()}


def calls_links(day: dt.date, provider: str, model: str, names: Names) -> list[CallsLink]:
    """The explorer's calls of a cell: one link per model name the ledger used,
    or one by the cell's own name when the ledger has none (it then lists none)."""
    since, until = day.isoformat(), (day + dt.timedelta(days=1)).isoformat()
    return [
        CallsLink(name, link("/calls", since=since, until=until, provider=provider, model=name))
        for name in names.get((day, provider, model)) or [model]
    ]


@dataclass(frozen=True, slots=True)
class ModelLine:
    """One day x provider x model row."""

    model: str
    ledger: Decimal
    billed: Decimal | None  # None: the cost lines name no model (OpenAI), or no report
    explained: Decimal
    kinds: tuple[str, ...]
    failed_calls: int
    links: list[CallsLink]

    @property
    def difference(self) -> Decimal | None:
        return None if self.billed is None else self.ledger - self.billed

    @property
    def unexplained(self) -> Decimal | None:
        difference = self.difference
        return None if difference is None else difference - self.explained


@dataclass(frozen=True, slots=True)
class DayGroup:
    """A day x provider row (every cost line of the day compared) and its models."""

    day: dt.date
    provider: str
    row: Row
    models: list[ModelLine]
    href: str  # the explorer: every call of the provider that day


@dataclass(frozen=True, slots=True)
class ExplainedLine:
    """An explanation with the calls behind it."""

    e: Explanation
    links: list[CallsLink]

    @property
    def direction(self) -> str:
        """Which side holds the spend the other lacks."""
        if self.e.effect is None:
            return "not priced"
        return "in the ledger, not billed" if self.e.effect > 0 else "billed, not in the ledger"


@dataclass(frozen=True, slots=True)
class SourceLine:
    """Unrecorded spend from one key / project on one day x model."""

    e: Explanation
    source: Source
    links: list[CallsLink]


@dataclass(frozen=True)
class ReconcileView:
    since: dt.date
    last: dt.date  # the last day in the period (``until`` is excluded)
    headline: Headline
    groups: list[DayGroup]
    explained: list[ExplainedLine]
    unrecorded: list[SourceLine]
    unexplained: list[DayGroup]  # day x provider rows with something left unexplained
    other_currency: dict[str, Decimal]
    figure: dict[str, object]
    figure_label: str


def _model_line(result: Reconciliation, cell: Cell, names: Names) -> ModelLine:
    found = [
        e
        for e in result.explanations
        if (e.day, e.provider, e.model) == (cell.day, cell.provider, cell.model)
    ]
    return ModelLine(
        model=cell.model,
        ledger=cell.ledger_cost,
        billed=result.cell_billed(cell),
        explained=sum((e.effect for e in found if e.effect is not None), _ZERO),
        kinds=tuple(dict.fromkeys(e.kind for e in found)),
        failed_calls=len(cell.failed),
        links=calls_links(cell.day, cell.provider, cell.model, names),
    )


def _groups(result: Reconciliation, names: Names) -> list[DayGroup]:
    rows = {r.label: r for r in result.day_rows()}
    cells: dict[tuple[dt.date, str], list[Cell]] = {}
    for cell in result.cells():
        cells.setdefault((cell.day, cell.provider), []).append(cell)
    groups = []
    for (day, provider), mine in cells.items():
        row = rows[f"{day.isoformat()} {provider}"]  # compare.day_rows' label
        until = (day + dt.timedelta(days=1)).isoformat()
        href = link("/calls", since=day.isoformat(), until=until, provider=provider)
        models = [_model_line(result, c, names) for c in mine]
        groups.append(DayGroup(day, provider, row, models, href))
    return groups


def reconcile_view(result: Reconciliation, names: Names) -> ReconcileView:
    """The page's view of ``result``; ``names`` from :func:`ledger_names`."""
    sides = result.sides
    groups = _groups(result, names)
    explained = [
        ExplainedLine(e, calls_links(e.day, e.provider, e.model, names))
        for e in result.explanations
    ]
    unrecorded = [
        SourceLine(line.e, s, line.links)
        for line in explained
        if line.e.kind == "unrecorded"
        for s in line.e.sources
    ]
    totals = day_totals((g.day, g.provider, g.row.ledger or _ZERO, g.row.billed) for g in groups)
    return ReconcileView(
        since=sides.since.date(),
        last=(sides.until - dt.timedelta(days=1)).date(),
        headline=result.headline(),
        groups=groups,
        explained=explained,
        unrecorded=unrecorded,
        unexplained=[g for g in groups if g.row.unexplained],
        other_currency=dict(sorted(sides.other_currency.items())),
        figure=reconcile_figure(totals, sides.since, sides.until),
        figure_label=summary(totals),
    )
