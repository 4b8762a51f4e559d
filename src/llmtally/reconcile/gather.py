"""Both sides of a period into cells: the ledger's calls and the provider's reports.

Model names meet through the catalog: the ledger's ``model_served`` (else
``model_requested``) and the report's ``model`` are each looked up with the
catalog's matching rules (:mod:`llmtally.catalog.matching`: exact id or alias,
then the name less a date suffix, then prefix and regex rules), and the cell is
keyed by the catalog entry's id. So ``gpt-4o-2024-08-06`` in a report and
``gpt-4o`` in the ledger, or an Anthropic ``-20250929`` snapshot and its alias,
meet in one cell. A name the catalog does not know keys its cell as written
(lower case), so it can only meet the same name.

Cost lines name their model in ``model`` (Anthropic's; OpenAI's from the line
item "<model>, <token kind>" at import, and read the same way for rows stored
before that); a line that names none is billed to its day x provider only.

Days are UTC: a call's by its ``started_at``, a report bucket's by its start
(reports fetched with daily or finer buckets fall wholly in one day).
The ledger is read in one pass, row by row, summed in Python.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, select

from llmtally.catalog import Catalog
from llmtally.gateway.client_watch import CLIENT_CLOSED_STATUS, CLIENT_DISCONNECTED
from llmtally.gateway.recording import STREAM_CUT_STATUS
from llmtally.ledger import Store
from llmtally.ledger.schema import calls
from llmtally.reconcile.cells import Cell, FailedCall, Tokens
from llmtally.reconcile.explain_types import line_kind
from llmtally.reconcile.openai_report import cost_line_model
from llmtally.reconcile.store import utc
from llmtally.reconcile.tables import provider_costs, provider_usage

__all__ = ["TOKEN_USAGE_KINDS", "ModelNames", "Sides", "gather", "provider_tier"]

# Usage reports whose tokens are the ledger's tokens (images and audio are not compared yet).
TOKEN_USAGE_KINDS = ("completions", "embeddings", "messages")
_ZERO = Decimal(0)

CellKey = tuple[dt.date, str, str]
DayKey = tuple[dt.date, str]


class ModelNames:
    """A model name -> the catalog id it matches (cached), or the name in lower case."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._seen: dict[tuple[str, str], str] = {}

    def __call__(self, provider: str, model: str | None) -> str:
        name = (model or "(no model)").strip()
        key = (provider, name)
        found = self._seen.get(key)
        if found is None:
            try:
                found = self.catalog.lookup(provider, name).spec.id
            except LookupError:
                found = name.lower()
            self._seen[key] = found
        return found


@dataclass
class Sides:
    """A period's cells and what the bills say at day x provider level only."""

    since: dt.datetime
    until: dt.datetime
    cells: dict[CellKey, Cell] = field(default_factory=dict)
    unassigned: dict[DayKey, Decimal] = field(default_factory=dict)  # cost lines with no model
    billed_days: set[DayKey] = field(default_factory=set)  # day x provider with cost lines
    usage_days: set[DayKey] = field(default_factory=set)  # day x provider with usage rows
    other_currency: dict[str, Decimal] = field(default_factory=dict)  # left out, per currency

    def cell(self, day: dt.date, provider: str, model: str) -> Cell:
        key = (day, provider, model)
        found = self.cells.get(key)
        if found is None:
            found = self.cells[key] = Cell(day, provider, model)
        return found

    @property
    def has_reports(self) -> bool:
        return bool(self.billed_days or self.usage_days)


def _failed_kind(status: int, source: str, flags: str | None) -> str:
    """``cut stream``: a stream cut upstream (502, usage estimated) or left by its
    client (499 / client_disconnected); else ``failed``."""
    named = (flags or "").split(",")
    if status == CLIENT_CLOSED_STATUS or CLIENT_DISCONNECTED in named:
        return "cut stream"
    if status == STREAM_CUT_STATUS and source == "estimated":
        return "cut stream"
    return "failed"


def _call_tokens(row: Any) -> Tokens:
    writes = row.cache_write_tokens
    return Tokens(
        requests=row.requests,
        uncached_input=row.input_tokens - row.cache_read_tokens - writes,
        cache_read=row.cache_read_tokens,
        cache_write_5m=writes - row.cache_write_1h_tokens,
        cache_write_1h=row.cache_write_1h_tokens,
        output=row.output_tokens,
    )


def _ledger_rows(conn: Connection, sides: Sides, provider: str | None) -> Iterator[Any]:
    c = calls.c
    query = select(
        c.id, c.started_at, c.provider, c.model_requested, c.model_served, c.status,
        c.flags, c.usage_source, c.input_tokens, c.cache_read_tokens, c.cache_write_tokens,
        c.cache_write_1h_tokens, c.output_tokens, c.requests, c.cost_total, c.service_tier,
    ).where(c.started_at >= sides.since, c.started_at < sides.until)  # fmt: skip
    if provider is not None:
        query = query.where(c.provider == provider)
    yield from conn.execute(query.order_by(c.started_at, c.id))


def _add_ledger(conn: Connection, sides: Sides, names: ModelNames, provider: str | None) -> None:
    for row in _ledger_rows(conn, sides, provider):
        model = names(row.provider, row.model_served or row.model_requested)
        cell = sides.cell(utc(row.started_at).date(), row.provider, model)
        tokens = _call_tokens(row)
        if row.status >= 400:
            kind = _failed_kind(row.status, row.usage_source, row.flags)
            failed = FailedCall(row.id, row.status, kind, tokens, row.cost_total, row.service_tier)
            cell.failed.append(failed)
            continue
        cell.ok += tokens
        cell.ok_tiers[row.service_tier] = cell.ok_tiers.get(row.service_tier, Tokens()) + tokens
        cell.ok_cost += row.cost_total or _ZERO
        cell.unpriced += row.cost_total is None


def _report_query(table: Any, sides: Sides, provider: str | None) -> Any:
    query = select(table).where(
        table.c.bucket_start >= sides.since, table.c.bucket_start < sides.until
    )
    return query if provider is None else query.where(table.c.provider == provider)


# The providers' words for a service tier -> the catalog's (OpenAI's Usage API
# says "default" / "flex" / "priority" / "scale", with ``batch`` apart; Anthropic's
# usage report "standard" / "batch" / "priority"); any other word is kept as is.
_TIER_WORDS = {
    None: "standard",
    "default": "standard",
    "auto": "standard",
    "standard": "standard",
    "batch": "batch",
    "flex": "flex",
    "priority": "priority",
    "scale": "priority",
}


def provider_tier(batch: bool | None, service_tier: str | None) -> str:
    """The service tier a usage row was billed at, in the catalog's words."""
    if batch:
        return "batch"
    word = service_tier.strip().lower() if service_tier else None
    return _TIER_WORDS.get(word, word or "standard")


def _add_usage(conn: Connection, sides: Sides, names: ModelNames, provider: str | None) -> None:
    query = _report_query(provider_usage, sides, provider)
    for row in conn.execute(query.where(provider_usage.c.kind.in_(TOKEN_USAGE_KINDS))):
        day = utc(row.bucket_start).date()
        sides.usage_days.add((day, row.provider))
        cell = sides.cell(day, row.provider, names(row.provider, row.model))
        tokens = Tokens(
            requests=row.requests,
            uncached_input=row.uncached_input_tokens,
            cache_read=row.cache_read_tokens,
            cache_write_5m=row.cache_write_5m_tokens,
            cache_write_1h=row.cache_write_1h_tokens,
            output=row.output_tokens,
        )
        where = (row.api_key_id, row.project_id)
        cell.usage[where] = cell.usage.get(where, Tokens()) + tokens
        tier = provider_tier(row.batch, row.service_tier)
        cell.usage_tiers[tier] = cell.usage_tiers.get(tier, Tokens()) + tokens


def _add_costs(conn: Connection, sides: Sides, names: ModelNames, provider: str | None) -> None:
    for row in conn.execute(_report_query(provider_costs, sides, provider)):
        amount = row.amount + (row.credits or _ZERO)
        if row.currency != "USD":
            sides.other_currency[row.currency] = (
                sides.other_currency.get(row.currency, _ZERO) + amount
            )
            continue
        day = utc(row.bucket_start).date()
        sides.billed_days.add((day, row.provider))
        model = row.model
        if model is None and row.provider == "openai":  # stored before the model was read
            model = cost_line_model(row.line_item)
        if model is None:
            key = (day, row.provider)
            sides.unassigned[key] = sides.unassigned.get(key, _ZERO) + amount
            continue
        cell = sides.cell(day, row.provider, names(row.provider, model))
        cell.billed = (cell.billed or _ZERO) + amount
        kind = line_kind(row.provider, row.line_item, row.token_type) or "(not by kind)"
        cell.billed_lines[kind] = cell.billed_lines.get(kind, _ZERO) + amount


def gather(
    store: Store,
    catalog: Catalog,
    since: dt.datetime,
    until: dt.datetime,
    provider: str | None = None,
) -> Sides:
    """Both sides of ``[since, until)`` (UTC), optionally of one provider."""
    sides = Sides(since, until)
    names = ModelNames(catalog)
    with store.engine.connect() as conn:
        _add_ledger(conn, sides, names, provider)
        _add_usage(conn, sides, names, provider)
        _add_costs(conn, sides, names, provider)
    return sides
