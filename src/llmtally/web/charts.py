"""Plotly figures as plain data (``{"data": [...], "layout": {...}}``).

The page embeds the figure as JSON and ``static/charts.js`` draws it with the
Plotly.js file the ``plotly`` wheel ships; the Python ``plotly`` package is not
imported. Bar heights are floats (a chart cannot show 10 decimal places); the
hover text and the tables beside the chart carry the exact amounts.

Time axes are drawn from the buckets, not guessed by Plotly: each bar sits in
the middle of its UTC hour or day and is 80% of it wide, and the axis spans the
filtered range (at least a day of hours or a week of days), so a single bucket
is one bar among dates rather than a bar across sub-millisecond ticks.

A log USD axis (:func:`log_usd_axis`) gets its ticks from here too: 1, 2 and 5
of each decade when at least two of them fall in the range, else evenly spaced
round values, so a range narrower than a decade still has labelled ticks.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from llmtally.analytics.explorer import Bucket, SpendPoint
from llmtally.currency import Money, currency
from llmtally.currency.display import money_with_exact
from llmtally.money import USD_TICKFORMAT, usd_with_exact

__all__ = [
    "bar_slots",
    "hover_money",
    "log_ticks",
    "log_usd_axis",
    "money_axis",
    "spend_figure",
    "time_axis",
]

_ACCENT = "#2f6fb2"
_CALLS = "#d2822d"
STEP = {"hour": dt.timedelta(hours=1), "day": dt.timedelta(days=1)}
MIN_BUCKETS = {"hour": 24, "day": 7}  # the narrowest axis: a day of hours, a week of days
BAR_SHARE = 0.8
MAX_TICKS = 8
LOG_PAD = 0.05  # decades of room on each side of the points on a log axis


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def bucket_start(label: str) -> dt.datetime:
    """The UTC start of a bucket label (``2026-11-01`` or ``2026-11-01 09:00``)."""
    return dt.datetime.fromisoformat(label).replace(tzinfo=dt.UTC)


def bar_slots(starts: Sequence[dt.datetime], bucket: Bucket) -> tuple[list[str], float]:
    """Each bucket's middle (the bar's x) and the bar width in milliseconds."""
    step = STEP[bucket]
    width = step.total_seconds() * 1000 * BAR_SHARE
    return [_iso(start + step / 2) for start in starts], width


def time_axis(
    starts: Sequence[dt.datetime],
    bucket: Bucket,
    since: dt.datetime | None,
    until: dt.datetime,
) -> dict[str, Any]:
    """A date axis over ``since``..``until`` (the data's first bucket when no
    ``since``), widened to hold every bucket and at least MIN_BUCKETS of them."""
    step = STEP[bucket]
    low = since if since is not None else (min(starts) if starts else until - step)
    high = until
    if starts:
        low, high = min(low, min(starts)), max(high, max(starts) + step)
    low = min(low, high - MIN_BUCKETS[bucket] * step)
    return {"type": "date", "range": [_iso(low), _iso(high)]}


def _round_values(low: float, high: float) -> list[float]:
    """Two to MAX_TICKS multiples of the finest round step (1, 2 or 5 times a
    power of ten) that gives no more than MAX_TICKS in ``low..high``."""
    magnitude = 10.0 ** math.floor(math.log10(high - low))
    ticks: list[float] = []
    for step in (magnitude * f for f in (0.1, 0.2, 0.5, 1, 2, 5)):
        first, last = math.ceil(low / step - 1e-9), math.floor(high / step + 1e-9)
        ticks = [float(f"{n * step:.6g}") for n in range(first, last + 1)]
        if len(ticks) <= MAX_TICKS:
            break
    return ticks


def log_ticks(low: float, high: float) -> list[float]:
    """Tick values for a log axis over ``low..high`` (both > 0): 1, 2 and 5 of
    each decade when two to MAX_TICKS of them fall in the range; with more, the
    powers of ten (every n-th decade if need be); with fewer, evenly spaced round
    values (0.003, 0.0035, 0.004, ...)."""
    decades = range(math.floor(math.log10(low)), math.floor(math.log10(high)) + 1)
    ticks = [
        float(f"{m * 10.0**d:.1g}")
        for d in decades
        for m in (1, 2, 5)
        if low <= m * 10.0**d <= high
    ]
    if len(ticks) > MAX_TICKS:
        powers = [t for t in ticks if f"{t:.0e}".startswith("1")]
        return powers[:: math.ceil(len(powers) / MAX_TICKS)]
    return ticks if len(ticks) >= 2 else _round_values(low, high)


def money_axis(code: str = "USD") -> dict[str, Any]:
    """A money axis's title and ticks: ``$`` as before for USD, else the
    currency's symbol as a prefix (d3's ``$`` is the locale's dollar)."""
    if code == "USD":
        return {"title": {"text": "USD"}, "tickformat": USD_TICKFORMAT}
    symbol = currency(code).symbol
    return {"title": {"text": code}, "tickprefix": symbol, "tickformat": ",.3~r"}


def hover_money(amount: Decimal, code: str = "USD") -> str:
    """Hover text of an amount already in ``code``, its exact digits beside it."""
    if code == "USD":
        return usd_with_exact(amount)
    return money_with_exact(Money(amount, code))


def log_usd_axis(values: Sequence[float], title: str) -> dict[str, Any]:
    """A log USD axis around ``values`` (all > 0) with at least two labelled ticks."""
    low, high = math.log10(min(values)) - LOG_PAD, math.log10(max(values)) + LOG_PAD
    return {
        "title": {"text": title},
        "type": "log",
        "range": [low, high],
        "tickvals": log_ticks(10**low, 10**high),
        "tickformat": USD_TICKFORMAT,
    }


def spend_figure(
    points: list[SpendPoint],
    bucket: Bucket,
    since: dt.datetime | None,
    until: dt.datetime,
    code: str = "USD",
) -> dict[str, Any]:
    """Spend per bucket as bars, calls per bucket as a line on a second axis
    (amounts already in ``code``)."""
    starts = [bucket_start(p.bucket) for p in points]
    x, width = bar_slots(starts, bucket)
    hover = [
        f"{p.bucket}<br>{hover_money(p.cost_total, code)}<br>{p.calls:,} calls" for p in points
    ]
    data = [
        {
            "type": "bar",
            "name": f"spend ({code})",
            "x": x,
            "y": [float(p.cost_total) for p in points],
            "width": width,
            "hovertext": hover,
            "hoverinfo": "text",
            "marker": {"color": _ACCENT},
        },
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": "calls",
            "x": x,
            "y": [p.calls for p in points],
            "yaxis": "y2",
            "line": {"color": _CALLS},
        },
    ]
    layout = {
        "title": {"text": f"Spend per {bucket} (UTC)", "font": {"size": 14}},
        "height": 300,
        "margin": {"l": 60, "r": 60, "t": 40, "b": 40},
        "xaxis": time_axis(starts, bucket, since, until),
        "yaxis": {**money_axis(code), "rangemode": "tozero"},
        "yaxis2": {
            "title": {"text": "calls"},
            "overlaying": "y",
            "side": "right",
            "rangemode": "tozero",
            "dtick": max(1, math.ceil(max((p.calls for p in points), default=0) / 5)),
            "showgrid": False,
        },
        "legend": {"orientation": "h", "y": -0.2},
    }
    return {"data": data, "layout": layout}
