"""Plotly figures as plain data (``{"data": [...], "layout": {...}}``).

The page embeds the figure as JSON and ``static/charts.js`` draws it with the
Plotly.js file the ``plotly`` wheel ships; the Python ``plotly`` package is not
imported. Bar heights are floats (a chart cannot show 10 decimal places); the
hover text and the tables beside the chart carry the exact amounts.
"""

from __future__ import annotations

import math
from typing import Any

from llmtally.analytics.explorer import Bucket, SpendPoint
from llmtally.web.render import usd

__all__ = ["spend_figure"]

_ACCENT = "#2f6fb2"
_CALLS = "#d2822d"


def spend_figure(points: list[SpendPoint], bucket: Bucket) -> dict[str, Any]:
    """Spend per bucket as bars, calls per bucket as a line on a second axis."""
    x = [p.bucket for p in points]
    hover = [f"{p.bucket}<br>{usd(p.cost_total)}<br>{p.calls:,} calls" for p in points]
    data = [
        {
            "type": "bar",
            "name": "spend (USD)",
            "x": x,
            "y": [float(p.cost_total) for p in points],
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
        "xaxis": {"type": "date"},
        "yaxis": {"title": {"text": "USD"}, "rangemode": "tozero"},
        "yaxis2": {
            "title": {"text": "calls"},
            "overlaying": "y",
            "side": "right",
            "rangemode": "tozero",
            "dtick": max(1, math.ceil(max((p.calls for p in points), default=0) / 5)),
            "showgrid": False,
        },
        "legend": {"orientation": "h", "y": -0.2},
        "bargap": 0.2,
    }
    return {"data": data, "layout": layout}
