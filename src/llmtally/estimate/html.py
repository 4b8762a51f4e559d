"""An estimate as one self-contained HTML page: tables and Plotly charts, with the
Plotly.js that the ``plotly`` wheel ships inlined (no CDN, works offline).

Bar heights are floats (a chart cannot show exact decimals); the tables and
the hover text carry the amounts as exact decimal strings.
"""

from __future__ import annotations

import json
from decimal import Decimal
from html import escape
from typing import Any

from llmtally.currency import Money, money_exact
from llmtally.estimate.render import SOURCE_LABELS, amount, break_even_text, percent
from llmtally.estimate.result import COMPONENTS, SOURCES, Estimate, ModelEstimate
from llmtally.meter import decimal_text

__all__ = ["estimate_html"]

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; color: #1d2630; }
table { border-collapse: collapse; margin: 1rem 0 2rem; }
th, td { padding: .3rem .8rem; border-bottom: 1px solid #dde3ea; text-align: right; }
th:first-child, td:first-child, td.model { text-align: left; }
.error { color: #b3261e; } .cost { color: #b3261e; font-weight: 600; } .save { color: #1b7f3b; }
.note { color: #5b6773; font-size: .9rem; }
"""


def _script(text: str) -> str:
    """Text safe inside a <script> element."""
    return text.replace("</", "<\\/")


def _figure(est: Estimate, attr: str, names: tuple[str, ...], title: str) -> dict[str, Any]:
    rows = [row for row in est.models if row.error is None]
    models = [row.model for row in rows]
    labels = SOURCE_LABELS if attr == "sources" else {}
    data = []
    for name in names:
        amounts = [getattr(row, attr)[name] for row in rows]
        if not any(amounts):
            continue
        data.append(
            {
                "type": "bar",
                "name": labels.get(name, name.replace("_", " ")),
                "x": models,
                "y": [float(a) for a in amounts],
                "hovertext": [
                    f"{m}<br>{name}: {money_exact(Money(a, est.currency))}"
                    for m, a in zip(models, amounts, strict=True)
                ],
                "hoverinfo": "text",
            }
        )
    layout = {
        "title": {"text": title},
        "barmode": "stack",
        "yaxis": {"title": {"text": f"{est.currency} per month"}},
    }
    return {"data": data, "layout": layout}


def _summary_rows(rows: tuple[ModelEstimate, ...], code: str) -> str:
    out = []
    for row in rows:
        if row.error is not None:
            out.append(
                f"<tr><td class=model>{escape(row.model)}</td>"
                f"<td colspan=4 class=error>cannot price: {escape(row.error)}</td></tr>"
            )
            continue
        cells = (row.per_request, row.per_day, row.per_month, row.one_off)
        tds = "".join(
            f"<td title='{decimal_text(c or Decimal(0))}'>{escape(amount(c, code))}</td>"
            for c in cells
        )
        out.append(f"<tr><td class=model>{escape(row.model)}</td>{tds}</tr>")
    return "\n".join(out)


def _cache_rows(rows: tuple[ModelEstimate, ...], code: str) -> str:
    out = []
    for row in rows:
        for cache in row.caches:
            saving = cache.saving_per_month
            if not cache.priced:
                net = "no caching priced"
            elif saving < 0:
                net = f"<span class=cost>costs {escape(amount(-saving, code))} more</span>"
            else:
                net = f"<span class=save>saves {escape(amount(saving, code))}</span>"
            even = cache.break_even_hit_rate
            out.append(
                f"<tr><td class=model>{escape(row.model)}</td><td>{escape(cache.call)}</td>"
                f"<td>{percent(cache.hit_rate)}</td><td>{net}</td>"
                f"<td>{break_even_text(even)}</td></tr>"
            )
    return "\n".join(out)


def _fx_text(est: Estimate) -> str:
    return f" at {'; '.join(line.text() for line in est.fx)}" if est.fx else ""


def estimate_html(est: Estimate, plotly_js: str) -> str:
    """The page; ``plotly_js`` is the text of ``plotly.min.js``."""
    figures = [
        _figure(est, "components", COMPONENTS, "By component"),
        _figure(est, "sources", SOURCES, "By source: where the money goes"),
    ]
    caches = _cache_rows(est.models, est.currency)
    cache_table = (
        "<h2>Prompt caching against no caching (per month)</h2><table><tr><th>model</th>"
        "<th>call</th><th>hit rate</th><th>net</th><th>break-even hit rate</th></tr>"
        f"{caches}</table>"
        if caches
        else ""
    )
    notes = "".join(
        f"<p class=note>{escape(n)}</p>"
        for n in dict.fromkeys(n for r in est.models for n in r.notes)
    )
    title = escape(f"{est.name}: projected cost")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>{_STYLE}</style>
<script>{_script(plotly_js)}</script></head>
<body><h1>{title}</h1>
<p>{est.requests_per_month:,} requests a month; prices of {est.price_date.isoformat()}
in {est.currency}{escape(_fx_text(est))}; cheapest first. Hover a cell for its exact amount.</p>
<table><tr><th>model</th><th>per request</th><th>per day</th><th>per month</th><th>one-off</th></tr>
{_summary_rows(est.models, est.currency)}</table>
<div id="components"></div><div id="sources"></div>
{cache_table}{notes}
<script>
const figures = {_script(json.dumps(figures))};
Plotly.newPlot("components", figures[0].data, figures[0].layout, {{responsive: true}});
Plotly.newPlot("sources", figures[1].data, figures[1].layout, {{responsive: true}});
</script>
</body></html>
"""
