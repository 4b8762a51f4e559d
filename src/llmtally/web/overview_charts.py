"""The overview's Plotly figures as plain data: daily spend stacked by model,
the hidden-cost breakdown, latency percentiles by model."""

from __future__ import annotations

import datetime as dt
from typing import Any

from llmtally.analytics.hidden import HiddenCosts, ModelStats
from llmtally.analytics.overview import ModelDay
from llmtally.web.charts import bar_slots, hover_money, money_axis, time_axis

__all__ = ["daily_figure", "hidden_figure", "latency_figure"]

_PALETTE = ["#2f6fb2", "#d2822d", "#3a9a5b", "#b8433f", "#7d5ba6", "#8c6d46", "#d16fae"]
_PALETTE += ["#7f7f7f", "#a9b23a", "#2bb0c1"]
_HIDDEN_COLORS = ["#b8433f", "#d2822d", "#7d5ba6", "#2f6fb2", "#3a9a5b", "#7f7f7f", "#c9c9c9"]
_MARGIN = {"l": 60, "r": 20, "t": 40, "b": 40}


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), dt.UTC)


def daily_figure(
    days: list[ModelDay], since: dt.datetime, until: dt.datetime, code: str = "USD"
) -> dict[str, Any]:
    """One bar trace per model (the costliest first), stacked per UTC day, on a
    date axis from ``since`` to ``until``."""
    totals: dict[str, float] = {}
    for d in days:
        totals[d.model] = totals.get(d.model, 0.0) + float(d.cost)
    order = sorted(totals, key=lambda m: (m == "other", -totals[m], m))
    data = []
    for i, model in enumerate(order):
        mine = [d for d in days if d.model == model]
        x, width = bar_slots([_midnight(d.day) for d in mine], "day")
        data.append(
            {
                "type": "bar",
                "name": model,
                "x": x,
                "y": [float(d.cost) for d in mine],
                "width": width,
                "hovertext": [
                    f"{model}<br>{d.day}<br>{hover_money(d.cost, code)}<br>{d.calls:,} calls"
                    for d in mine
                ],
                "hoverinfo": "text",
                "marker": {"color": _PALETTE[i % len(_PALETTE)]},
            }
        )
    layout = {
        "title": {"text": "Spend per day by model (UTC)", "font": {"size": 14}},
        "barmode": "stack",
        "height": 320,
        "margin": _MARGIN,
        "xaxis": time_axis([_midnight(d.day) for d in days], "day", since, until),
        "yaxis": {**money_axis(code), "rangemode": "tozero"},
        "legend": {"orientation": "h", "y": -0.2},
    }
    return {"data": data, "layout": layout}


def hidden_parts(hidden: HiddenCosts) -> list[tuple[str, Any]]:
    """(label, amount) of the input-side cost, in the order the page shows them."""
    return [
        ("system prompt", hidden.system),
        ("tool schemas", hidden.tools),
        ("history", hidden.history),
        ("latest user turn", hidden.latest_user),
        ("retrieved context (tool results)", hidden.context),
        ("message framing", hidden.other),
        ("not counted by role", hidden.unattributed),
    ]


def hidden_figure(hidden: HiddenCosts, code: str = "USD") -> dict[str, Any]:
    parts = hidden_parts(hidden)
    data = [
        {
            "type": "bar",
            "orientation": "h",
            "x": [float(amount) for _, amount in parts],
            "y": [label for label, _ in parts],
            "hovertext": [f"{label}: {hover_money(amount, code)}" for label, amount in parts],
            "hoverinfo": "text",
            "marker": {"color": _HIDDEN_COLORS},
        }
    ]
    layout = {
        "title": {"text": "Where the input cost goes", "font": {"size": 14}},
        "height": 280,
        "margin": {"l": 200, "r": 20, "t": 40, "b": 60},  # room for tick labels, then the title
        "xaxis": {
            **money_axis(code),
            "title": {"text": code, "standoff": 12},
            "automargin": True,
            "rangemode": "tozero",
        },
        "yaxis": {"autorange": "reversed", "automargin": True},
    }
    return {"data": data, "layout": layout}


def latency_figure(models: list[ModelStats]) -> dict[str, Any]:
    shown = [m for m in models if m.latency_p50 is not None][:12]
    names = [m.model for m in shown]
    data = [
        {
            "type": "bar",
            "name": label,
            "x": names,
            "y": [getattr(m, field) for m in shown],
            "marker": {"color": color},
        }
        for label, field, color in (
            ("p50", "latency_p50", "#2f6fb2"),
            ("p95", "latency_p95", "#d2822d"),
            ("p99", "latency_p99", "#b8433f"),
        )
    ]
    layout = {
        "title": {"text": "Latency by model (ms)", "font": {"size": 14}},
        "barmode": "group",
        "height": 300,
        "margin": _MARGIN,
        "yaxis": {"title": {"text": "ms"}, "rangemode": "tozero"},
        "legend": {"orientation": "h", "y": -0.25},
    }
    return {"data": data, "layout": layout}
