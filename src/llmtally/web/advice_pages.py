"""The dashboard's Advice page (``/advice``, issue 15): what to change, and the
dollars each change saves a month.

The figures are those of ``llmtally advise`` (the same
:func:`llmtally.advisor.advise` over the same period and floor); the page only
reads. Below the recommendations, the realised savings of changes applied
(``llmtally.advisor.realised``). Filters: ``since`` (default 30d), ``until``
(default now) and ``floor`` (USD a month, default 1). Input it cannot use (a
bad date, a floor that is not an amount, a period over :data:`MAX_DAYS`, an
unknown parameter) is answered by the page itself with status 400 and the
message beside the filters, so the person can correct it there.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from llmtally.advisor import Advice, advise
from llmtally.advisor.advise import DEFAULT_FLOOR
from llmtally.advisor.realised import with_realised
from llmtally.advisor.recommendation import Recommendation
from llmtally.analytics.filters import FILTER_PARAMS, FilterError, check_text, parse_since
from llmtally.catalog import Catalog
from llmtally.ledger import Store
from llmtally.web.http import Request, Response
from llmtally.web.render import Renderer, link

__all__ = ["DEFAULT_SINCE", "MAX_DAYS", "PARAMS", "AdvicePages", "Asked", "asked", "calls_link"]

DEFAULT_SINCE = "30d"
MAX_DAYS = 366  # a longer period is refused rather than read call by call
PARAMS = ("since", "until", "floor")


@dataclass(frozen=True, slots=True)
class Asked:
    """What the filters ask for: the period ``[since, until)`` and the floor."""

    since: dt.datetime
    until: dt.datetime
    floor: Decimal


def _moment(params: Mapping[str, str], name: str, now: dt.datetime) -> dt.datetime | None:
    raw = params.get(name, "").strip()
    if not raw:
        return None
    return parse_since(check_text(name, raw), now, name)


def _floor(params: Mapping[str, str]) -> Decimal:
    raw = check_text("floor", params.get("floor", "").strip())
    if not raw:
        return DEFAULT_FLOOR
    try:
        value = Decimal(raw.removeprefix("$"))
    except InvalidOperation:
        raise FilterError(f"floor: {raw!r} is not an amount in USD (e.g. 1 or 0.50)") from None
    if not value.is_finite() or value < 0:
        raise FilterError(f"floor: {raw!r} must be a USD amount of 0 or more")
    return value


def asked(params: Mapping[str, str], now: dt.datetime) -> Asked:
    """The period and floor the query asks for; FilterError with a message for the person."""
    unknown = sorted(set(params) - set(PARAMS))
    if unknown:
        raise FilterError(
            f"unknown parameter {', '.join(unknown)}; this page takes: {', '.join(PARAMS)}"
        )
    since = _moment(params, "since", now) or parse_since(DEFAULT_SINCE, now)
    until = _moment(params, "until", now) or now
    if until <= since:
        raise FilterError(
            f"until ({until:%Y-%m-%d %H:%M}) must be after since ({since:%Y-%m-%d %H:%M})"
        )
    if (until - since).days > MAX_DAYS:
        raise FilterError(
            f"since {since:%Y-%m-%d} to until {until:%Y-%m-%d} is {(until - since).days:,} "
            f"days; this page advises on at most {MAX_DAYS} at a time"
        )
    return Asked(since, until, _floor(params))


def calls_link(item: Recommendation) -> str:
    """The explorer (``/calls``) filtered to the recommendation's evidence: the
    parts of it the explorer understands (feature, provider, model, since, until)."""
    chosen = {k: v for k, v in item.evidence.items() if k in FILTER_PARAMS}
    return link("/calls", chosen)


@dataclass(frozen=True, slots=True)
class AdvicePages:
    """``/advice`` over one ledger and one catalog."""

    store: Store
    catalog: Catalog
    render: Renderer
    now: Callable[[], dt.datetime]

    def route(self, request: Request) -> Response | None:
        """The page for ``/advice``; None for any other path."""
        return self.page(request) if request.path == "/advice" else None

    def page(self, request: Request) -> Response:
        params = {name: request.query.get(name, "") for name in PARAMS}
        try:
            wanted = asked(request.query, self.now())
        except FilterError as exc:
            return self._render(params, None, str(exc), status=400)
        try:
            found = advise(self.store, self.catalog, wanted.since, wanted.until, wanted.floor)
            found = with_realised(self.store, self.catalog, found)
        except (ValueError, OverflowError) as exc:  # dates the ledger cannot compare
            return self._render(params, None, f"since / until: {exc}", status=400)
        return self._render(params, found, None)

    def _render(
        self, params: dict[str, str], advice: Advice | None, error: str | None, status: int = 200
    ) -> Response:
        return self.render.page(
            "advice.html",
            status=status,
            page="advice",
            params=params,
            advice=advice,
            error=error,
            calls_link=calls_link,
            default_since=DEFAULT_SINCE,
            default_floor=DEFAULT_FLOOR,
        )
