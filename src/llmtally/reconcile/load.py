"""Provider reports into the ledger: one API page, or a saved file, all or nothing.

``import_page`` is what the fetch client calls for each page it receives;
``import_file`` takes the same pages saved to a file (or Google's billing
export) and stores every page of it in one transaction. ``last_bucket_end``
tells the fetch client where to resume.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, select

from llmtally.json_depth import nests_deeper
from llmtally.ledger import Store
from llmtally.reconcile.anthropic_report import (
    anthropic_kind,
    is_anthropic_page,
    parse_anthropic_page,
)
from llmtally.reconcile.files import MAX_DEPTH, MAX_ROWS, Page, read_report
from llmtally.reconcile.google_billing import parse_billing_rows
from llmtally.reconcile.openai_report import (
    USAGE_KINDS,
    is_openai_page,
    openai_kind,
    parse_openai_page,
)
from llmtally.reconcile.rows import Bucket, ReportError
from llmtally.reconcile.store import Tally, resolve_accounts, store_buckets, utc
from llmtally.reconcile.tables import provider_costs, provider_usage

__all__ = [
    "KINDS",
    "ImportResult",
    "PageResult",
    "ReportError",
    "Tally",
    "import_file",
    "import_page",
    "last_bucket_end",
]

KINDS = {
    "openai": (*(f"usage:{kind}" for kind in USAGE_KINDS), "costs"),
    "anthropic": ("usage:messages", "costs"),
}


@dataclass
class PageResult:
    """What one stored page did (``tally``'s counts), for the fetch client."""

    tally: Tally

    @property
    def rows_new(self) -> int:
        return self.tally.new

    @property
    def rows_already(self) -> int:
        return self.tally.already

    @property
    def rows_replaced(self) -> int:
        """Rows of buckets stored before from the same source, now replaced."""
        return self.tally.replaced

    def to_json(self) -> dict[str, Any]:
        return self.tally.to_json()


@dataclass
class ImportResult:
    """What a file's import stored, per provider, account and kind."""

    source: str
    pages: int  # pages (or billing rows) read
    tallies: list[Tally] = field(default_factory=list)
    unit: str = "page"  # "page", or "row" for a billing export

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "pages" if self.unit == "page" else "rows": self.pages,
            "reports": [t.to_json() for t in self.tallies],
        }


def _check_kind(provider: str, kind: str) -> None:
    if provider not in KINDS:
        raise ReportError(
            f"unknown provider {provider!r}: pages come from openai or anthropic "
            "(Google's billing export is imported as a file)"
        )
    if kind not in KINDS[provider]:
        raise ReportError(
            f"{provider} has no report {kind!r}: use one of {', '.join(KINDS[provider])}"
        )


def _parse(provider: str, kind: str, page: Mapping[str, Any], where: str) -> list[Bucket]:
    if provider == "openai":
        return parse_openai_page(page, kind, where)
    return parse_anthropic_page(page, kind, where)


def _write(store: Store) -> Connection:
    return store.engine.connect().execution_options(llmtally_write=True)


def import_page(
    store: Store,
    provider: str,
    kind: str,
    page: Mapping[str, Any],
    source: str,
    account: str | None = None,
) -> PageResult:
    """Store one API page (all or nothing); ``kind`` is ``usage:<kind>`` or ``costs``."""
    _check_kind(provider, kind)
    if not isinstance(page, Mapping):
        raise ReportError("the page is not a JSON object")
    if nests_deeper(page, MAX_DEPTH):
        raise ReportError(f"the page nests deeper than {MAX_DEPTH}")
    buckets = _parse(provider, kind, page, "page")
    with _write(store) as conn, conn.begin():
        accounts = resolve_accounts(conn, buckets, account) if buckets else {}
        tallies = store_buckets(conn, buckets, source, accounts)
    if tallies:
        return PageResult(tallies[0])
    chosen = account or _any_account(store, provider)
    return PageResult(Tally(provider, kind, chosen))


def _any_account(store: Store, provider: str) -> str:
    from llmtally.reconcile.store import DEFAULT_ACCOUNT, stored_accounts

    with store.engine.connect() as conn:
        stored = stored_accounts(conn, provider)
    return stored[0] if len(stored) == 1 else DEFAULT_ACCOUNT


def last_bucket_end(
    store: Store, provider: str, kind: str, account: str | None
) -> dt.datetime | None:
    """The end of the latest bucket stored for this report (UTC), or None: where
    an incremental fetch resumes. ``account`` None: any account."""
    _check_kind(provider, kind)
    table = provider_costs if kind == "costs" else provider_usage
    query = select(func.max(table.c.bucket_end)).where(
        table.c.provider == provider, table.c.kind == kind.removeprefix("usage:")
    )
    if account is not None:
        query = query.where(table.c.account == account)
    with store.engine.connect() as conn:
        latest = conn.execute(query).scalar_one_or_none()
    return None if latest is None else utc(latest)


def _page_buckets(pages: Sequence[Page]) -> list[Bucket]:
    """Every page's buckets, each page's provider and kind told by its content."""
    buckets: list[Bucket] = []
    kinds: set[tuple[str, str]] = set()
    empty: list[Page] = []
    results = 0
    for where, page in pages:
        if is_anthropic_page(page):
            provider, kind = "anthropic", anthropic_kind(page)
        elif is_openai_page(page):
            provider, kind = "openai", openai_kind(page)
        else:
            raise ReportError(
                f"{where}: cannot tell the provider: buckets have neither OpenAI's "
                "start_time nor Anthropic's starting_at"
            )
        if kind is None:
            empty.append((where, page))
            continue
        kinds.add((provider, kind))
        parsed = _parse(provider, kind, page, where)
        results += sum(len(b.rows) for b in parsed)
        if results > MAX_ROWS:
            raise ReportError(f"{where}: more than {MAX_ROWS:,} results in one file: split it")
        buckets.extend(parsed)
    if empty and len(kinds) == 1:  # pages of empty buckets, in a file of one report
        provider, kind = next(iter(kinds))
        for where, page in empty:
            buckets.extend(_parse(provider, kind, page, where))
    elif empty and not kinds:
        raise ReportError(
            f"{empty[0][0]}: the pages hold no results, so which report they are "
            "cannot be told: nothing to import"
        )
    return buckets


def import_file(store: Store, path: Path, account: str | None = None) -> ImportResult:
    """Store every page (or billing row) of the file at ``path`` in one
    transaction; a ReportError names the page or line and field at fault."""
    shape, items = read_report(path)
    skipped = 0
    if shape == "billing":
        buckets, skipped = parse_billing_rows(items)
        if not buckets:
            raise ReportError(
                f"{path.name}: no Gemini API or Vertex AI row in the billing export "
                f"({skipped:,} rows of other services)"
            )
    else:
        buckets = _page_buckets(items)
    with _write(store) as conn, conn.begin():
        accounts = resolve_accounts(conn, buckets, account)
        tallies = store_buckets(conn, buckets, path.name, accounts)
    for tally in tallies:
        tally.skipped = skipped if tally.provider == "google" else 0
    order = {"openai": 0, "anthropic": 1, "google": 2}
    tallies.sort(key=lambda t: (order.get(t.provider, 9), t.kind))
    return ImportResult(path.name, len(items), tallies, "row" if shape == "billing" else "page")
