"""The Reconcile page's chart: the ledger beside the bill, per UTC day.

Two bars a day, side by side on the same date axis as the other pages
(:func:`llmtally.web.charts.time_axis`): what the ledger recorded (every
provider in the view) and what the providers billed (only where a cost report
covers the day). A day with no cost report has no billed bar, never a $0 one,
and its hover text says which providers lack a report. Bar heights are floats;
the hover text and the table below the chart carry the exact amounts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from llmtally.money import USD_TICKFORMAT, usd, usd_with_exact
from llmtally.web.charts import BAR_SHARE, STEP, bar_slots, time_axis

__all__ = ["DayTotal", "day_totals", "reconcile_figure", "summary"]

_LEDGER = "#2f6fb2"
_BILLED = "#d2822d"
_ZERO = Decimal(0)


@dataclass
class DayTotal:
    """One UTC day, every provider in the view together."""

    day: dt.date
    ledger: Decimal = _ZERO
    billed: Decimal | None = None  # None: no cost report for any provider that day
    no_report: list[str] = field(default_factory=list)  # providers without one


def day_totals(rows: Iterable[tuple[dt.date, str, Decimal, Decimal | None]]) -> list[DayTotal]:
    """(day, provider, ledger, billed) rows summed per day, in day order."""
    days: dict[dt.date, DayTotal] = {}
    for day, provider, ledger, billed in rows:
        total = days.setdefault(day, DayTotal(day))
        total.ledger += ledger
        if billed is None:
            total.no_report.append(provider)
        else:
            total.billed = (total.billed or _ZERO) + billed
    return [days[d] for d in sorted(days)]


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), dt.UTC)


def _ledger_hover(t: DayTotal) -> str:
    text = f"{t.day}<br>ledger {usd_with_exact(t.ledger)}"
    if t.no_report:
        text += f"<br>no cost report: {', '.join(t.no_report)}"
    return text


def _billed_hover(t: DayTotal) -> str:
    text = f"{t.day}<br>billed {usd_with_exact(t.billed or _ZERO)}"
    if t.no_report:
        text += f"<br>no cost report: {', '.join(t.no_report)}"
    return text


def reconcile_figure(
    totals: list[DayTotal], since: dt.datetime, until: dt.datetime
) -> dict[str, Any]:
    """Ledger and billed bars per day over ``[since, until)``."""
    step_ms = STEP["day"].total_seconds() * 1000
    half = step_ms * BAR_SHARE / 2
    billed = [t for t in totals if t.billed is not None]
    x_ledger, _ = bar_slots([_midnight(t.day) for t in totals], "day")
    x_billed, _ = bar_slots([_midnight(t.day) for t in billed], "day")
    bar = {"type": "bar", "width": half, "hoverinfo": "text"}
    data = [
        bar
        | {
            "name": "ledger (llmtally)",
            "x": x_ledger,
            "y": [float(t.ledger) for t in totals],
            "offset": -half,
            "hovertext": [_ledger_hover(t) for t in totals],
            "marker": {"color": _LEDGER},
        },
        bar
        | {
            "name": "billed (provider)",
            "x": x_billed,
            "y": [float(t.billed or _ZERO) for t in billed],
            "offset": 0,
            "hovertext": [_billed_hover(t) for t in billed],
            "marker": {"color": _BILLED},
        },
    ]
    layout = {
        "title": {"text": "Ledger vs billed per day (UTC)", "font": {"size": 14}},
        "barmode": "overlay",
        "height": 300,
        "margin": {"l": 60, "r": 20, "t": 40, "b": 40},
        "xaxis": time_axis([_midnight(t.day) for t in totals], "day", since, until),
        "yaxis": {"title": {"text": "USD"}, "rangemode": "tozero", "tickformat": USD_TICKFORMAT},
        "legend": {"orientation": "h", "y": -0.2},
    }
    return {"data": data, "layout": layout}


def summary(totals: list[DayTotal]) -> str:
    """The chart in words, for its ``aria-label``: days, and each side's total."""
    if not totals:
        return "Ledger vs billed per day: no day in this period has figures."
    ledger = sum((t.ledger for t in totals), _ZERO)
    billed = sum((t.billed or _ZERO for t in totals), _ZERO)
    with_bill = sum(t.billed is not None for t in totals)
    return (
        f"Ledger vs billed per day, {totals[0].day} to {totals[-1].day}: "
        f"ledger {usd(ledger)} over {_days(len(totals))}, billed {usd(billed)} "
        f"over the {_days(with_bill)} with a cost report. The table below has every figure."
    )


def _days(count: int) -> str:
    return "1 day" if count == 1 else f"{count} days"
