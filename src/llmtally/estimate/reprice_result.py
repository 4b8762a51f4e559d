"""The result of re-pricing: per group and in total, what the calls cost and what
each target model would have cost, with the method behind every figure.

Amounts are summed as exact fractions and each reported amount is rounded
once, half-even, to 10 places (the ledger's precision).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from fractions import Fraction
from typing import Any

from llmtally.meter import decimal_text

__all__ = ["Figure", "RatioLine", "Repricing", "RepricingRow", "TargetInfo", "money"]

_SCALE = 10**10
_RATIO_PLACES = Decimal("0.0001")


def money(value: Fraction) -> Decimal:
    """An exact amount rounded half-even to 10 places."""
    scaled = value * _SCALE
    quotient, rest = divmod(scaled.numerator, scaled.denominator)
    twice = 2 * rest
    if twice > scaled.denominator or (twice == scaled.denominator and quotient % 2):
        quotient += 1
    return Decimal(quotient).scaleb(-10)


def ratio_text(ratio: Fraction) -> str:
    with localcontext() as ctx:
        ctx.prec = 40
        value = Decimal(ratio.numerator) / Decimal(ratio.denominator)
    return str(value.quantize(_RATIO_PLACES, ROUND_HALF_EVEN))


@dataclass(slots=True)
class Figure:
    """What a set of calls would have cost on one target, and how it was converted."""

    exact: Fraction = Fraction(0)
    methods: Counter[str] = field(default_factory=Counter)

    def add(self, amount: Fraction, method: str, calls: int) -> None:
        self.exact += amount
        self.methods[method] += calls

    def merged(self, other: Figure) -> Figure:
        return Figure(self.exact + other.exact, self.methods + other.methods)

    @property
    def cost(self) -> Decimal:
        return money(self.exact)


@dataclass(slots=True)
class RepricingRow:
    """One group (``key`` None: calls without that attribute)."""

    key: str | None
    calls: int = 0
    actual: Decimal = Decimal(0)
    figures: dict[str, Figure] = field(default_factory=dict)

    def merged(self, other: RepricingRow) -> RepricingRow:
        figures = {
            name: self.figures.get(name, Figure()).merged(other.figures.get(name, Figure()))
            for name in (*self.figures, *other.figures)
        }
        return RepricingRow(self.key, self.calls + other.calls, self.actual + other.actual, figures)

    def as_json(self, errors: dict[str, str | None]) -> dict[str, Any]:
        targets: dict[str, Any] = {}
        for name, figure in self.figures.items():
            targets[name] = {
                "cost": None if errors.get(name) else decimal_text(figure.cost),
                "methods": dict(figure.methods),
            }
        return {
            "key": self.key,
            "calls": self.calls,
            "actual": decimal_text(self.actual),
            "targets": targets,
        }


@dataclass(frozen=True, slots=True)
class TargetInfo:
    model: str
    error: str | None
    notes: dict[str, int]


@dataclass(frozen=True, slots=True)
class RatioLine:
    """The corpus ratio used between a source tokenizer and a target."""

    source_tokenizer: str
    target: str
    method: str
    ratio: str


@dataclass(frozen=True, slots=True)
class Repricing:
    since: dt.datetime
    until: dt.datetime | None
    price_date: dt.date
    by: str
    targets: tuple[TargetInfo, ...]
    rows: tuple[RepricingRow, ...]
    total: RepricingRow
    left_out: dict[str, int]
    ratios: tuple[RatioLine, ...]

    @classmethod
    def build(
        cls,
        window: tuple[dt.datetime, dt.datetime | None, dt.date, str],
        targets: Sequence[TargetInfo],
        rows: Sequence[RepricingRow],
        left_out: dict[str, int],
        ratios: Sequence[RatioLine],
    ) -> Repricing:
        total = RepricingRow("total", figures={t.model: Figure() for t in targets})
        for row in rows:
            total = total.merged(row)
        ordered = sorted(rows, key=lambda r: (-r.actual, -r.calls, r.key is None, r.key or ""))
        since, until, price_date, by = window
        return cls(
            since, until, price_date, by, tuple(targets), tuple(ordered), total, left_out,
            tuple(ratios),
        )  # fmt: skip

    def cost(self, target: str, key: str | None = "total") -> Decimal | None:
        """A target's re-priced cost for one group (default: the total)."""
        row = self.total if key == "total" else next(r for r in self.rows if r.key == key)
        info = next(t for t in self.targets if t.model == target)
        return None if info.error else row.figures[target].cost

    def as_json(self) -> dict[str, Any]:
        errors = {t.model: t.error for t in self.targets}
        return {
            "since": self.since.isoformat(),
            "until": None if self.until is None else self.until.isoformat(),
            "price_date": self.price_date.isoformat(),
            "by": self.by,
            "targets": [
                {"model": t.model, "error": t.error, "notes": t.notes} for t in self.targets
            ],
            "rows": [row.as_json(errors) for row in self.rows],
            "total": self.total.as_json(errors),
            "left_out": self.left_out,
            "ratios": [
                {
                    "source_tokenizer": r.source_tokenizer,
                    "target": r.target,
                    "method": r.method,
                    "ratio": r.ratio,
                }
                for r in self.ratios
            ],
        }
