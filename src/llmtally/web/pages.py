"""The dashboard's pages. Each handler parses its input, calls the analytics,
renders one template; it runs on a worker thread (the queries are synchronous
SQLAlchemy), never on the gateway's event loop.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from llmtally.analytics.explorer import (
    Cursor,
    call_page,
    has_calls,
    pick_bucket,
    spend_series,
    trace_tree,
)
from llmtally.analytics.explorer_shown import series_in, totals_in
from llmtally.analytics.filters import FILTER_PARAMS, CallFilter, FilterError, check_text
from llmtally.analytics.overview import DAYS
from llmtally.analytics.overview_shown import overview_in
from llmtally.catalog import Catalog
from llmtally.catalog.listing import price_rows
from llmtally.ledger.keys import KeyStore
from llmtally.ledger.store import Store
from llmtally.web.call_billed import as_billed, billed_of_call
from llmtally.web.call_view import call_view
from llmtally.web.charts import spend_figure
from llmtally.web.http import HTTPError, Request, Response
from llmtally.web.money_view import PARAM, shown_for
from llmtally.web.overview_charts import daily_figure, hidden_figure, hidden_parts, latency_figure
from llmtally.web.price_view import price_context
from llmtally.web.render import Renderer

__all__ = ["DEFAULT_SINCE", "Pages"]

DEFAULT_SINCE = "7d"
_STATUSES = ("ok", "error")


def _only(query: Mapping[str, str], allowed: tuple[str, ...]) -> None:
    for name in query:
        if name not in allowed:
            raise FilterError(f"unknown parameter {name!r}; this page takes: {', '.join(allowed)}")


@dataclass(frozen=True, slots=True)
class Pages:
    """The page handlers over one ledger and one catalog."""

    store: Store
    catalog: Catalog
    render: Renderer
    now: Callable[[], dt.datetime]

    def _empty_ledger(self, request: Request, page: str) -> Response:
        base = f"http://{request.host}"
        return self.render.page("empty.html", page=page, gateway=base)

    def overview(self, request: Request) -> Response:
        _only(request.query, ())
        shown = shown_for(request.currency)
        found = overview_in(self.store, shown, self.now())
        if found.empty:
            return self._empty_ledger(request, "overview")
        charts = {
            "daily": daily_figure(found.daily, found.since, found.until, shown.code),
            "hidden": hidden_figure(found.hidden, shown.code),
            "latency": latency_figure(found.models),
        }
        return self.render.page(
            "overview.html",
            page="overview",
            currency_view=shown,
            o=found,
            days=DAYS,
            since=found.since.date().isoformat(),
            charts=charts,
            hidden_parts=hidden_parts(found.hidden),
        )

    def explorer(self, request: Request) -> Response:
        query = request.query
        _only(query, (*FILTER_PARAMS, "before"))
        now = self.now()
        where = CallFilter.from_params(query, now, DEFAULT_SINCE)
        before = Cursor.parse(query["before"]) if query.get("before") else None
        if not has_calls(self.store):
            return self._empty_ledger(request, "explorer")
        params = {name: query.get(name) for name in FILTER_PARAMS}
        if params["since"] is None:
            params["since"] = DEFAULT_SINCE
        if request.currency != "USD":  # filter links and the form keep the currency
            params["currency"] = request.currency
        found = call_page(self.store, where, before)
        bucket = pick_bucket(where, now)
        shown = shown_for(request.currency)
        series = series_in(spend_series(self.store, where, bucket), shown)
        return self.render.page(
            "calls.html",
            page="explorer",
            currency_view=shown,
            params=params,
            statuses=_STATUSES,
            where=where,
            totals=totals_in(self.store, where, shown, now),
            calls=found.calls,
            older=found.next.text() if found.next else None,
            paged=before is not None,
            chart=spend_figure(series, bucket, where.since, where.until or now, shown.code),
        )

    def call(self, request: Request, call_id: str) -> Response:
        _only(request.query, ())
        found = self.store.get(check_text("call id", call_id))
        if found is None:
            raise HTTPError(404, f"No call with id {call_id!r} in the ledger.")
        bodies = self.store.get_bodies(call_id)
        key = KeyStore(self.store).get(found.key_id) if found.key_id else None
        parent = found.parent_id is not None and self.store.get(found.parent_id) is not None
        view = call_view(found, bodies, key, parent)
        shown = shown_for(request.currency)
        billed = billed_of_call(self.store, found.id)
        view = replace(
            view, billed=billed, as_billed=as_billed(found, billed, shown.code, self.catalog)
        )
        return self.render.page(
            "call.html", page="explorer", view=view, c=found, currency_view=shown
        )

    def trace(self, request: Request, trace_id: str) -> Response:
        _only(request.query, ())
        found = trace_tree(self.store, trace_id)
        if found is None:
            raise HTTPError(404, f"No call in the ledger belongs to trace {trace_id!r}.")
        shown = shown_for(request.currency)
        where = CallFilter(trace=found.trace_id)
        cost = totals_in(self.store, where, shown, self.now()).cost_total
        return self.render.page(
            "trace.html", page="explorer", trace=found, currency_view=shown, cost=cost
        )

    def models(self, request: Request) -> Response:
        if PARAM in request.query:  # prices are shown as each provider bills them
            raise FilterError(
                "currency: this page shows each price in the currency its provider bills, "
                "not converted; ?currency= applies to the spend pages (overview, explorer, "
                "calls, traces, budgets)"
            )
        _only(request.query, ("q",))
        q = check_text("q", request.query.get("q", "").strip())
        message = None
        try:
            rows = price_rows(self.catalog, q or None, self.now())
        except LookupError as exc:  # nothing matches: say so, with the nearest names
            rows, message = [], str(exc)
        return self.render.page(
            "models.html",
            page="models",
            q=q,
            rows=rows,
            message=message,
            version=self.catalog.version,
            pricing_url=self.catalog.pricing_url,
            **price_context(rows),
        )
