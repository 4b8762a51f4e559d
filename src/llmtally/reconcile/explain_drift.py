"""Price drift: the tokens agree but the bill implies another rate than the catalog's.

A drift is a change of price the catalog lacks, so it must hold from one day to
the end of the period: the last days with traffic, at least
:data:`MIN_DRIFT_DAYS` of them, each a difference of a cent or more with the same
implied rate (within :data:`RATE_TOLERANCE`). One odd day is not a drift.

The rate is solved from the provider's own token counts (the bill is computed
from them): per token kind from the cost report's per-kind lines where every day
has them and all traffic is standard tier; otherwise from the one billed total,
assuming the catalog's ratios between kinds (one common factor), and the
explanation says so. The amount explained is the ledger's tokens re-priced at
that rate minus at the catalog's; what a rounded rate leaves is residual.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from decimal import Decimal

from llmtally.meter import PricingError, decimal_text
from llmtally.reconcile.explain_tiers import ROUNDING_LIMIT
from llmtally.reconcile.explain_types import (
    KINDS,
    RATE_FIELD,
    DayFigures,
    DriftRates,
    Explained,
    Explanation,
    catalog_cost,
    total_of,
    unit_price,
)

__all__ = ["MIN_DRIFT_DAYS", "RATE_TOLERANCE", "explain_drift"]

MIN_DRIFT_DAYS = 2
# Implied rates within 0.5% of each other are one rate (a report's day cut-off
# and the providers' rounding move a day's figure by less).
RATE_TOLERANCE = Decimal("0.005")
_MILLION = Decimal(1_000_000)
_HALF_CENT = Decimal("0.005")

Vector = dict[str, Decimal]


def _lines_usable(row: DayFigures) -> bool:
    """Per-kind lines that cover every kind billed, all of it at the standard tier."""
    if not row.billed_lines or any(t != "standard" and v.total for t, v in row.usage.items()):
        return False
    tokens = total_of(row.usage)
    return all(k in row.billed_lines for k in KINDS if tokens.get(k))


def _vector(row: DayFigures, lines: bool) -> Vector | None:
    """The day's implied rates: USD per 1M by rate field, or the common ``scale``."""
    tokens = total_of(row.usage)
    if lines:
        return {
            RATE_FIELD[k]: row.billed_lines[k] * _MILLION / tokens.get(k)
            for k in KINDS
            if tokens.get(k)
        }
    base = catalog_cost(row.price, row.usage)
    return {"scale": row.billed / base} if base else None


def _catalog_vector(row: DayFigures, lines: bool) -> Vector:
    if not lines:
        return {"scale": Decimal(1)}
    return {RATE_FIELD[k]: unit_price(row.price, "standard", k) * _MILLION for k in KINDS}


def _close(a: Vector, b: Vector) -> bool:
    return all(abs(a[k] - b[k]) <= RATE_TOLERANCE * abs(b[k]) for k in a.keys() & b.keys())


def _drift_days(rows: Sequence[DayFigures], lines: bool) -> list[DayFigures]:
    """The longest run of last days that each show the same drift."""
    run: list[DayFigures] = []
    reference: Vector | None = None
    for row in reversed(rows):
        vector = _vector(row, lines)
        shows = (
            vector is not None
            and row.tokens_agree()
            and abs(row.gap) >= ROUNDING_LIMIT
            and not _close(vector, _catalog_vector(row, lines))
        )
        if not shows or vector is None:
            break
        reference = reference or vector
        if not _close(vector, reference):
            break
        run.append(row)
    return run[::-1] if len(run) >= MIN_DRIFT_DAYS else []


def _snap(exact: Decimal, base: Decimal, target: Decimal, tolerance: Decimal) -> Decimal:
    """The shortest decimal near ``exact`` whose ``base * value`` is within
    ``tolerance`` of ``target``: a bill rounded to the cent still gives 2.75, not
    2.7500000183."""
    for places in range(11):
        candidate = exact.quantize(Decimal(1).scaleb(-places))
        if abs(base * candidate - target) <= tolerance:
            return candidate
    return exact.quantize(Decimal(1).scaleb(-16))


def _solve(days: Sequence[DayFigures], lines: bool) -> DriftRates:
    first = days[0]
    catalog = {
        RATE_FIELD[k]: unit_price(first.price, "standard", k) * _MILLION
        for k in KINDS
        if any(total_of(d.usage).get(k) for d in days)
    }
    billed = sum((d.billed for d in days), Decimal(0))
    base = sum((catalog_cost(d.price, d.usage) for d in days), Decimal(0))
    tolerance = _HALF_CENT * len(days)
    scale = _snap(billed / base, base, billed, tolerance)
    if lines:
        rates = {}
        for kind in KINDS:
            tokens = sum(total_of(d.usage).get(kind) for d in days)
            if tokens:
                dollars = sum((d.billed_lines[kind] for d in days), Decimal(0))
                exact = dollars * _MILLION / tokens
                rates[RATE_FIELD[kind]] = _snap(exact, tokens / _MILLION, dollars, tolerance)
    else:
        rates = {name: rate * scale for name, rate in catalog.items()}
    return DriftRates(first.day, catalog, rates, lines, scale)


def _repriced(row: DayFigures, drift: DriftRates) -> Decimal:
    """The ledger's tokens at the billed rates minus at the catalog's."""
    if not drift.per_kind_lines:
        return (drift.scale - 1) * catalog_cost(row.price, row.ledger)
    tokens = total_of(row.ledger)
    total = Decimal(0)
    for kind in KINDS:
        name = RATE_FIELD[kind]
        if tokens.get(kind) and name in drift.billed:
            total += tokens.get(kind) * (drift.billed[name] - drift.catalog[name]) / _MILLION
    return total


def _rates_text(rates: Mapping[str, Decimal]) -> str:
    return " / ".join(f"{name} ${_rate_text(r)}" for name, r in rates.items())


def _rate_text(rate: Decimal) -> str:
    """Cents at least, as price lists write them ($2.50, $0.075)."""
    return f"{rate:.2f}" if rate == rate.quantize(Decimal("0.01")) else decimal_text(rate)


def _explain_model(rows: Sequence[DayFigures]) -> tuple[Explanation | None, dict[int, Decimal]]:
    """The drift of one provider x model, and the amount per row (by id)."""
    lines = all(_lines_usable(r) for r in rows)
    try:
        days = _drift_days(rows, lines)
        if not days:
            return None, {}
        drift = _solve(days, lines)
        amounts = {id(d): _repriced(d, drift) for d in days}
    except PricingError:
        return None, {}
    how = "from the per-kind cost lines" if lines else "assuming the catalog's ratios between kinds"
    first = days[0]
    detail = (
        f"price drift from {drift.effective.isoformat()}: billed {_rates_text(drift.billed)} "
        f"per 1M vs catalog {_rates_text(drift.catalog)} (x{decimal_text(drift.scale)}), "
        f"solved {how}"
    )
    explanation = Explanation(
        kind="price_drift",
        provider=first.provider,
        model=first.model,
        dollars=sum(amounts.values(), Decimal(0)),
        tokens=sum(total_of(d.usage).total for d in days),
        detail=detail,
        days=tuple(d.day for d in days),
        drift=drift,
    )
    return explanation, amounts


def explain_drift(rows: Sequence[DayFigures]) -> Explained:
    """Per provider x model: a consistent rate change from some day to the
    period's end, the rates the bill implies and the amount it accounts for."""
    groups: dict[tuple[str, str], list[DayFigures]] = {}
    for row in rows:
        if row.billed or total_of(row.usage).total:
            groups.setdefault((row.provider, row.model), []).append(row)
    found = []
    amounts: dict[int, Decimal] = {}
    for group in groups.values():
        explanation, per_row = _explain_model(sorted(group, key=lambda r: r.day))
        if explanation is not None:
            found.append(explanation)
            amounts.update(per_row)
    residual = tuple(
        replace(r, ledger_cost=r.ledger_cost + amounts[id(r)]) if id(r) in amounts else r
        for r in rows
    )
    return Explained(tuple(found), residual)
