"""The price explainers (:mod:`llmtally.reconcile.explain_price`) run on what the
per-cell explainers left, their findings turned into the core's explanations.

Why an adapter: the price explainers work on :class:`DayFigures` (token counts by
service tier on both sides, dollars as ``billed - ledger``, explanations over
several days), the core on cells (dollars as ``ledger - billed``, one
explanation per day x provider x model). Here:

- each cell with a model-named bill and usage becomes one ``DayFigures`` of what
  is left: the ledger's side is its succeeded calls at the tier they were priced
  at, the failed calls the provider billed, and the usage already explained as
  unrecorded (at the standard tier, as it was priced; a tier explainer moves it
  where the provider put it); its cost is the ledger's less every effect already
  found, so the price explainers see exactly the unexplained rest, and nothing
  is counted twice;
- a cell the figures cannot be read for (calls with no price, a model the
  catalog lacks, a tier it does not know, an unpriced explanation) is left out:
  its difference stays unexplained, never guessed at;
- tier, cache-lifetime and rounding explainers are per day already, so each runs
  on one day at a time; price drift looks across days, and each day's part is
  what it moved on that day's ledger side, so a day's parts add up to the whole
  exactly and each day's ``unexplained = difference - explained`` holds;
- sign: ``effect = -dollars`` (the price explainers' dollars are billed - ledger).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any

from llmtally.meter import decimal_text
from llmtally.reconcile.cells import Cell
from llmtally.reconcile.cells import Tokens as CellTokens
from llmtally.reconcile.explain import Explanation, Pricer
from llmtally.reconcile.explain_price import (
    explain_cache_ttl,
    explain_drift,
    explain_rounding,
    explain_tiers,
)
from llmtally.reconcile.explain_types import (
    KINDS,
    DayFigures,
    DriftRates,
    Explained,
    TokenKind,
    Tokens,
)
from llmtally.reconcile.explain_types import Explanation as PriceExplanation
from llmtally.usage import SERVICE_TIERS, ServiceTier

__all__ = ["drifts", "explain_cells", "figures_of"]

_ZERO = Decimal(0)
CellKey = tuple[dt.date, str, str]


def _kinds(tokens: CellTokens) -> Tokens:
    return Tokens(
        tokens.uncached_input,
        tokens.cache_read,
        tokens.cache_write_5m,
        tokens.cache_write_1h,
        tokens.output,
    )


def _tier(name: str) -> ServiceTier | None:
    for tier in SERVICE_TIERS:
        if tier == name:
            return tier
    return None


def _by_tier(parts: Iterable[tuple[str, CellTokens]]) -> dict[ServiceTier, Tokens] | None:
    """Token counts by tier; None when a tier is not one the catalog prices."""
    out: dict[ServiceTier, Tokens] = {}
    for name, tokens in parts:
        tier = _tier(name)
        if tier is None:
            return None
        out[tier] = out.get(tier, Tokens()) + _kinds(tokens)
    return out


def _lines(cell: Cell) -> dict[TokenKind, Decimal]:
    """The billed amount per token kind, where every cost line of the cell names one."""
    lines = {k: cell.billed_lines[k] for k in KINDS if k in cell.billed_lines}
    return lines if lines and len(lines) == len(cell.billed_lines) else {}


def figures_of(cell: Cell, found: Sequence[Explanation], pricer: Pricer) -> DayFigures | None:
    """What is left of ``cell`` after the explanations ``found`` of it, for the price
    explainers; None where the figures cannot be read (see the module's text)."""
    if cell.billed is None or not cell.has_usage or cell.unpriced:
        return None
    effects = [e.effect for e in found]
    if any(e is None for e in effects):
        return None
    billed_failed = cell.failed if cell.matched_failed else []
    if any(c.cost is None and c.tokens.total for c in billed_failed):
        return None
    ledger = _by_tier(
        [
            *cell.ok_tiers.items(),
            *((c.tier, c.tokens) for c in billed_failed),
            *(("standard", e.tokens) for e in found if e.kind == "unrecorded"),
        ]
    )
    usage = _by_tier(cell.usage_tiers.items())
    if ledger is None or usage is None:
        return None
    try:
        moment = dt.datetime.combine(cell.day, dt.time(), dt.UTC)
        price = pricer.catalog.price_at(cell.provider, cell.model, moment)
    except (LookupError, ValueError):
        return None
    explained = sum((e for e in effects if e is not None), _ZERO)
    return DayFigures(
        day=cell.day,
        provider=cell.provider,
        model=cell.model,
        price=price,
        ledger=ledger,
        ledger_cost=cell.ledger_cost - explained,
        usage=usage,
        billed=cell.billed,
        billed_lines=_lines(cell),
    )


def _drift_json(drift: DriftRates) -> dict[str, Any]:
    return {
        "effective": drift.effective.isoformat(),
        "catalog_rates": {k: decimal_text(v) for k, v in drift.catalog.items()},
        "billed_rates": {k: decimal_text(v) for k, v in drift.billed.items()},
        "scale": decimal_text(drift.scale),
        "per_kind_lines": drift.per_kind_lines,
    }


def _day_part(found: PriceExplanation, row: DayFigures, effect: Decimal) -> Explanation:
    """One day's part of a price explanation, in the core's sign."""
    detail = found.detail
    if len(found.days) > 1:
        detail += f" (this day's part of ${decimal_text(abs(found.dollars))} over "
        detail += f"{len(found.days)} days)"
    extra: dict[str, Any] = {"period_days": [d.isoformat() for d in found.days]}
    if found.drift is not None:
        extra["drift"] = _drift_json(found.drift)
    return Explanation(
        kind=found.kind,
        day=row.day,
        provider=row.provider,
        model=row.model,
        effect=effect,
        detail=detail,
        extra=extra,
        priced=found,
    )


DayExplainer = Callable[[Sequence[DayFigures]], Explained]


def _each_day(
    step: DayExplainer, rows: list[DayFigures], out: list[Explanation]
) -> list[DayFigures]:
    """A per-day explainer run one day at a time, so each finding is one day's."""
    left: list[DayFigures] = []
    for row in rows:
        result = step([row])
        out.extend(_day_part(e, row, -e.dollars) for e in result.explanations)
        left.extend(result.residual)
    return left


def _across_days(rows: list[DayFigures], out: list[Explanation]) -> list[DayFigures]:
    """Price drift over the period; each day's part is what it moved on that day."""
    result = explain_drift(rows)
    found = {(e.provider, e.model): e for e in result.explanations}
    for before, after in zip(rows, result.residual, strict=True):
        moved = after.ledger_cost - before.ledger_cost
        drift = found.get((before.provider, before.model))
        if moved and drift is not None:
            out.append(_day_part(drift, before, -moved))
    return list(result.residual)


def explain_cells(
    cells: Sequence[Cell], found: Sequence[Explanation], pricer: Pricer
) -> list[Explanation]:
    """Tier and cache mismatches, price drift and rounding in what ``found`` left,
    in :data:`llmtally.reconcile.explain_price.EXPLAINERS`' order."""
    earlier: dict[CellKey, list[Explanation]] = {}
    for e in found:
        earlier.setdefault((e.day, e.provider, e.model), []).append(e)
    rows = []
    for cell in cells:
        row = figures_of(cell, earlier.get((cell.day, cell.provider, cell.model), []), pricer)
        if row is not None:
            rows.append(row)
    out: list[Explanation] = []
    rows = _each_day(explain_tiers, rows, out)
    rows = _each_day(explain_cache_ttl, rows, out)
    rows = _across_days(rows, out)
    _each_day(explain_rounding, rows, out)
    return out


def drifts(explanations: Iterable[Explanation]) -> list[PriceExplanation]:
    """The price drifts found (each once, however many days it has parts on),
    for :func:`llmtally.reconcile.explain_price.propose_entry`."""
    seen: dict[tuple[str, str], PriceExplanation] = {}
    for e in explanations:
        if e.kind == "price_drift" and e.priced is not None:
            seen.setdefault((e.provider, e.model), e.priced)
    return list(seen.values())
