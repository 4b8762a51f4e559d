"""``llmtally reconcile fetch``: the providers' own usage and cost reports, fetched
from their admin APIs into the ledger, page by page.

Why page by page: each page is handed to
:func:`llmtally.reconcile.load.import_page` (all or nothing) as soon as it
arrives, and the next run of a report starts where the ledger's last stored
bucket ends (:func:`~llmtally.reconcile.load.last_bucket_end`). So a run killed or
cut off after page 1 resumes with page 2's window next time: nothing is fetched
twice and nothing stored twice. The window ends at today's 00:00 UTC: a day still
going would be stored short, and as the next run starts after it, never mended.

The endpoints and their references: :mod:`llmtally.reconcile.openai_admin`
(https://platform.openai.com/docs/api-reference/usage) and
:mod:`llmtally.reconcile.anthropic_admin`
(https://docs.anthropic.com/en/api/admin-api/usage-cost/get-messages-usage-report);
the HTTP rules (rate limits, retries, key handling): :mod:`~llmtally.reconcile.admin_http`.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from llmtally.reconcile.admin_http import Client, FetchError, Limits
from llmtally.reconcile.anthropic_admin import ANTHROPIC
from llmtally.reconcile.endpoints import Endpoint, Provider
from llmtally.reconcile.openai_admin import OPENAI

__all__ = [
    "DEFAULT_DAYS",
    "DEFAULT_LIMITS",
    "MAX_PAGES",
    "PROVIDERS",
    "FetchSummary",
    "Ledger",
    "ReportFetched",
    "fetch_reports",
]

PROVIDERS: dict[str, Provider] = {"openai": OPENAI, "anthropic": ANTHROPIC}
DEFAULT_DAYS = 30  # the window of a first fetch without --since
MAX_PAGES = 500  # a run stops there (the next run goes on): 500 pages x 31 days
DEFAULT_LIMITS = Limits()  # backoff, deadline, sizes (tests swap in a fast one)


class PageOutcome(Protocol):
    """What :func:`import_page` says of one page (rows new and already there)."""

    @property
    def rows_new(self) -> int: ...

    @property
    def rows_already(self) -> int: ...


class Ledger(Protocol):
    """The two calls of :mod:`llmtally.reconcile.load` the fetch makes (the module
    itself, or a stand-in that remembers what it was given, in tests)."""

    def import_page(
        self,
        store: Any,
        provider: str,
        kind: str,
        page: Mapping[str, Any],
        source: str,
        account: str | None = None,
    ) -> PageOutcome: ...

    def last_bucket_end(
        self, store: Any, provider: str, kind: str, account: str | None
    ) -> dt.datetime | None: ...


@dataclass(slots=True)
class ReportFetched:
    """One report (one kind) of one run."""

    kind: str
    start: dt.datetime  # the window asked for
    end: dt.datetime
    pages: int = 0
    buckets: int = 0
    stored: int = 0
    already: int = 0
    first: dt.datetime | None = None  # the buckets received
    last: dt.datetime | None = None
    complete: bool = False  # the last page said has_more false (or nothing to ask)

    def to_json(self) -> dict[str, Any]:
        def text(moment: dt.datetime | None) -> str | None:
            return moment.isoformat() if moment else None

        return {
            "kind": self.kind,
            "start": text(self.start),
            "end": text(self.end),
            "pages": self.pages,
            "buckets": self.buckets,
            "rows_stored": self.stored,
            "rows_already": self.already,
            "first_bucket": text(self.first),
            "last_bucket_end": text(self.last),
            "complete": self.complete,
        }


@dataclass(slots=True)
class FetchSummary:
    provider: str
    account: str | None
    reports: list[ReportFetched] = field(default_factory=list)
    requests: int = 0  # HTTP attempts, retries included
    waited: float = 0.0  # seconds spent waiting out rate limits and errors
    stopped: str | None = None  # why the run ended before every report was complete

    def total(self, name: str) -> int:
        return sum(int(getattr(report, name)) for report in self.reports)

    def period(self) -> tuple[dt.datetime, dt.datetime] | None:
        """The window this run asked for, all reports together."""
        if not self.reports:
            return None
        return min(r.start for r in self.reports), max(r.end for r in self.reports)

    def to_json(self) -> dict[str, Any]:
        period = self.period()
        return {
            "provider": self.provider,
            "account": self.account,
            "period": [period[0].isoformat(), period[1].isoformat()] if period else None,
            "pages": self.total("pages"),
            "buckets": self.total("buckets"),
            "rows_stored": self.total("stored"),
            "rows_already": self.total("already"),
            "requests": self.requests,
            "waited_seconds": round(self.waited, 3),
            "stopped": self.stopped,
            "reports": [report.to_json() for report in self.reports],
        }


def _load() -> Ledger:
    """:mod:`llmtally.reconcile.load` (its tables and parsers), imported when first
    used, so that the command line starts quickly."""
    from llmtally.reconcile import load

    return load


def fetch_reports(
    store: Any,
    provider: str,
    *,
    since: dt.datetime | None = None,
    account: str | None = None,
    now: dt.datetime | None = None,
    env: Mapping[str, str] | None = None,
    limits: Limits | None = None,
    max_pages: int = MAX_PAGES,
    kinds: Sequence[str] | None = None,
    ledger: Ledger | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> FetchSummary:
    """Fetch every report of ``provider`` (or those in ``kinds``) from where the
    ledger's stored buckets end (else ``since``, else 30 days ago) to today 00:00
    UTC, storing each page as it comes. A :class:`FetchError` carries the summary
    of what was stored before it (``exc.summary``)."""
    spec = PROVIDERS.get(provider)
    if spec is None:
        raise FetchError(f"unknown provider {provider!r}: use {' or '.join(PROVIDERS)}")
    env = os.environ if env is None else env
    client = _client(spec, env, limits or DEFAULT_LIMITS, sleep)
    ledger = ledger or _load()
    end = _day(now or dt.datetime.now(dt.UTC))
    first = _day(since) if since else end - dt.timedelta(days=DEFAULT_DAYS)
    summary = FetchSummary(spec.name, account)
    try:
        for endpoint in _chosen(spec, kinds):
            stored_end = ledger.last_bucket_end(store, spec.name, endpoint.kind, account)
            start = _utc(stored_end) if stored_end else first
            report = ReportFetched(endpoint.kind, start, max(start, end))
            summary.reports.append(report)
            budget = max_pages - summary.total("pages")
            _fetch_report(client, spec, endpoint, report, budget, store, ledger, account)
            if not report.complete:
                summary.stopped = f"{max_pages} pages fetched (the most a run fetches)"
                break
    except FetchError as exc:
        exc.summary = summary
        raise
    finally:
        summary.requests, summary.waited = client.requests, client.waited
    return summary


def _client(
    spec: Provider, env: Mapping[str, str], limits: Limits, sleep: Callable[[float], None]
) -> Client:
    key = env.get(spec.key_env, "").strip()
    if not key:
        raise FetchError(
            f"set {spec.key_env} to {spec.auth.permission} (it is read from the "
            "environment only, never from a file or the command line)"
        )
    base = env.get(spec.base_env) or spec.default_base
    return Client(base, spec.headers(key), key, spec.auth, limits, sleep=sleep)


def _chosen(spec: Provider, kinds: Sequence[str] | None) -> list[Endpoint]:
    if kinds is None:
        return list(spec.endpoints)
    known = {endpoint.kind: endpoint for endpoint in spec.endpoints}
    unknown = [kind for kind in kinds if kind not in known]
    if unknown:
        raise FetchError(f"{spec.name} has no report {unknown[0]!r}: {', '.join(known)}")
    return [known[kind] for kind in kinds]


def _fetch_report(
    client: Client,
    spec: Provider,
    endpoint: Endpoint,
    report: ReportFetched,
    budget: int,
    store: Any,
    ledger: Ledger,
    account: str | None,
) -> None:
    """Page through one report, storing each page before asking for the next."""
    if report.start >= report.end:
        report.complete = True  # up to date: nothing to ask
        return
    source = f"{client.base_url}{endpoint.path}"
    cursor: str | None = None
    cursors: set[str] = set()
    while report.pages < budget:
        query = endpoint.query(report.start, report.end, cursor, spec.limit)
        page = client.get(endpoint.path, query)
        spans, cursor = _read_page(spec, endpoint, page)
        try:
            outcome = ledger.import_page(store, spec.name, endpoint.kind, page, source, account)
        except ValueError as exc:  # load's ReportError: a page it cannot store whole
            raise FetchError(
                f"{endpoint.path}: page {report.pages + 1} of {endpoint.kind} was not "
                f"stored ({exc}); the pages before it are"
            ) from exc
        _count(report, spans, outcome)
        if cursor is None:
            report.complete = True
            return
        if cursor in cursors:
            raise FetchError(f"{endpoint.path}: the API gave the same next_page twice")
        cursors.add(cursor)


def _read_page(
    spec: Provider, endpoint: Endpoint, page: Mapping[str, Any]
) -> tuple[list[tuple[dt.datetime, dt.datetime]], str | None]:
    """The page's bucket spans and the cursor of the next page (None: the last)."""
    data, has_more, cursor = page.get("data"), page.get("has_more"), page.get("next_page")
    if not isinstance(data, list) or not isinstance(has_more, bool):
        raise FetchError(f"{endpoint.path}: the page has no 'data' list or 'has_more' flag")
    try:
        spans = [spec.bucket_span(bucket) for bucket in data]
    except (TypeError, KeyError, ValueError) as exc:
        raise FetchError(f"{endpoint.path}: a bucket without its time span ({exc})") from None
    if not has_more:
        return spans, None
    if not isinstance(cursor, str) or not cursor:
        raise FetchError(f"{endpoint.path}: has_more without a next_page cursor")
    return spans, cursor


def _count(
    report: ReportFetched, spans: list[tuple[dt.datetime, dt.datetime]], outcome: PageOutcome
) -> None:
    report.pages += 1
    report.buckets += len(spans)
    report.stored += outcome.rows_new
    report.already += outcome.rows_already
    for start, end in spans:
        report.first = start if report.first is None else min(report.first, start)
        report.last = end if report.last is None else max(report.last, end)


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _day(moment: dt.datetime) -> dt.datetime:
    """00:00 UTC of ``moment``'s day: buckets are whole UTC days."""
    day = _utc(moment).astimezone(dt.UTC)
    return day.replace(hour=0, minute=0, second=0, microsecond=0)
