"""Plotly figures as plain data (``{"data": [...], "layout": {...}}``).

The page embeds the figure as JSON and ``static/charts.js`` draws it with the
Plotly.js file the ``plotly`` wheel ships; the Python ``plotly`` package is not
imported. Bar heights are floats (a chart cannot show 10 decimal places); the
hover text and the tables beside the chart carry the exact amounts.

Time axes are drawn from the buckets, not guessed by Plotly: each bar sits in
the middle of its UTC hour or day and is 80% of it wide, and the axis spans the
filtered range (at least a day of hours or a week of days), so a single bucket
is one bar among dates rather than a bar across sub-millisecond ticks.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import Any

from llmtally.analytics.explorer import Bucket, SpendPoint
from llmtally.money import USD_TICKFORMAT, usd_with_exact

__all__ = ["bar_slots", "spend_figure", "time_axis"]

_ACCENT = "#2f6fb2"
_CALLS = "#d2822d"
STEP = {"hour": dt.timedelta(hours=1), "day": dt.timedelta(days=1)}
MIN_BUCKETS = {"hour": 24, "day": 7}  # the narrowest axis: a day of hours, a week of days
BAR_SHARE = 0.8


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


def spend_figure(
    points: list[SpendPoint],
    bucket: Bucket,
    since: dt.datetime | None,
    until: dt.datetime,
) -> dict[str, Any]:
    """Spend per bucket as bars, calls per bucket as a line on a second axis."""
    starts = [bucket_start(p.bucket) for p in points]
    x, width = bar_slots(starts, bucket)
    hover = [f"{p.bucket}<br>{usd_with_exact(p.cost_total)}<br>{p.calls:,} calls" for p in points]
    data = [
        {
            "type": "bar",
            "name": "spend (USD)",
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
        "yaxis": {"title": {"text": "USD"}, "rangemode": "tozero", "tickformat": USD_TICKFORMAT},
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
