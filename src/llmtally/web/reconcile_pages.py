"""The dashboard's Reconcile page (``/reconcile``): does the ledger match the bill?

The figures are those of ``llmtally reconcile`` (the same
:func:`llmtally.reconcile.compare.reconcile` over the same whole UTC days,
:func:`llmtally.cli.reconcile_compare.day_bounds`); the page only reads. Its
filters are ``since`` (default 30d), ``until`` (the first day left out; default:
through today) and ``provider``. Input it cannot use (a bad date, an unknown
provider, a period over :data:`MAX_DAYS`, an unknown parameter) is answered by
the page itself with status 400 and the message beside the filters, so the
person can correct it there.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from llmtally.analytics.filters import FilterError, check_text, parse_since
from llmtally.catalog import Catalog
from llmtally.cli.reconcile_compare import day_bounds
from llmtally.ledger import Store
from llmtally.reconcile.compare import reconcile
from llmtally.web.http import Request, Response
from llmtally.web.reconcile_view import ReconcileView, ledger_names, reconcile_view
from llmtally.web.render import Renderer

__all__ = ["DEFAULT_SINCE", "MAX_DAYS", "PARAMS", "Period", "ReconcilePages", "period"]

DEFAULT_SINCE = "30d"
MAX_DAYS = 366  # a year and a day: a longer period is refused, not read row by row
PARAMS = ("since", "until", "provider")


@dataclass(frozen=True, slots=True)
class Period:
    """What the filters ask for: whole UTC days ``[since, until)``, one provider or all."""

    since: dt.datetime
    until: dt.datetime
    provider: str | None

    @property
    def last(self) -> dt.date:
        """The last day in the period (``until`` is left out)."""
        return (self.until - dt.timedelta(days=1)).date()


def _moment(params: Mapping[str, str], name: str, now: dt.datetime) -> dt.datetime | None:
    raw = params.get(name, "").strip()
    if not raw:
        return None
    return parse_since(check_text(name, raw), now, name)


def _provider(params: Mapping[str, str], known: list[str]) -> str | None:
    raw = check_text("provider", params.get("provider", "").strip())
    if not raw:
        return None
    if raw not in known:
        raise FilterError(f"provider: {raw!r} is not one of {', '.join(known)}")
    return raw


def period(params: Mapping[str, str], now: dt.datetime, providers: list[str]) -> Period:
    """The period the query asks for; FilterError with a message for the person."""
    unknown = sorted(set(params) - set(PARAMS))
    if unknown:
        raise FilterError(
            f"unknown parameter {', '.join(unknown)}; this page takes: {', '.join(PARAMS)}"
        )
    since = _moment(params, "since", now) or parse_since(DEFAULT_SINCE, now)
    until = _moment(params, "until", now) or now
    try:
        start, end = day_bounds(since, until)
    except OverflowError:
        raise FilterError("since / until: out of the range of dates this page reads") from None
    if end <= start:
        raise FilterError(f"until ({end:%Y-%m-%d}) must be after since ({start:%Y-%m-%d})")
    if (end - start).days > MAX_DAYS:
        raise FilterError(
            f"since {start:%Y-%m-%d} to until {end:%Y-%m-%d} is {(end - start).days:,} days; "
            f"this page reconciles at most {MAX_DAYS} at a time"
        )
    return Period(start, end, _provider(params, providers))


@dataclass(frozen=True, slots=True)
class ReconcilePages:
    """``/reconcile`` over one ledger and one catalog."""

    store: Store
    catalog: Catalog
    render: Renderer
    now: Callable[[], dt.datetime]

    def route(self, request: Request) -> Response | None:
        """The page for ``/reconcile``; None for any other path."""
        return self.page(request) if request.path == "/reconcile" else None

    def page(self, request: Request) -> Response:
        params = {name: request.query.get(name, "") for name in PARAMS}
        providers = self.catalog.providers
        try:
            asked = period(request.query, self.now(), providers)
        except FilterError as exc:
            return self._render(params, providers, None, str(exc), status=400)
        result = reconcile(self.store, self.catalog, asked.since, asked.until, asked.provider)
        if not result.sides.has_reports:
            return self._render(params, providers, None, None, asked=asked)
        names = ledger_names(self.store, self.catalog, asked.since, asked.until, asked.provider)
        return self._render(params, providers, reconcile_view(result, names), None, asked=asked)

    def _render(
        self,
        params: dict[str, str],
        providers: list[str],
        view: ReconcileView | None,
        error: str | None,
        status: int = 200,
        asked: Period | None = None,
    ) -> Response:
        return self.render.page(
            "reconcile.html",
            status=status,
            page="reconcile",
            params=params,
            providers=providers,
            view=view,
            error=error,
            asked=asked,
            default_since=DEFAULT_SINCE,
        )
