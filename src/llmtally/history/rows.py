"""One call of another tool's history, normalised, and how it becomes a priced ``Call``.

Every reader (:mod:`llmtally.history.formats`) turns its tool's row into an
:class:`ImportedCall`; :func:`to_call` prices it with llmtally's meter at the
call's own date, exactly as the gateway prices a call it forwards, and keeps the
source's own cost beside it (``Call.source_cost``; a figure that cannot be a
call's cost, above ``llmtally.source_cost.MAX_SOURCE_COST``, is dropped and the
call flagged ``source_cost_ignored``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from llmtally.catalog import Catalog
from llmtally.meter import cost, savings
from llmtally.source_cost import checked_source_cost
from llmtally.usage import Call, Usage, stable_ulid

__all__ = ["ImportedCall", "RowError", "to_call"]


class RowError(ValueError):
    """A row that cannot be imported as it stands; the message says why."""


@dataclass(frozen=True, slots=True)
class ImportedCall:
    """What another tool recorded of one call, in llmtally's terms."""

    tool: str  # "jsonl", "litellm": part of the stable id
    source_id: str
    started_at: dt.datetime
    provider: str  # the catalog's provider id; "" when the tool does not say
    model: str
    usage: Usage
    endpoint: str = "/v1/chat/completions"
    status: int = 200
    error: str | None = None
    latency_ms: float = 0.0
    user: str | None = None
    feature: str | None = None
    tags: tuple[str, ...] = ()
    key_id: str | None = None
    trace_id: str | None = None
    parent_id: str | None = None
    source_cost: Decimal | None = None  # what the tool itself said the call cost, USD

    @property
    def call_id(self) -> str:
        return stable_ulid(self.started_at, self.tool, self.source_id)


def to_call(row: ImportedCall, catalog: Catalog) -> Call:
    """``row`` priced at its date; an unknown model or missing price is stored with
    ``cost=None`` and the reason, never as 0."""
    paid = saved = None
    reason: str | None = None
    provider = row.provider
    try:
        if not provider:  # the tool does not say (Langfuse): the catalog's provider of the model
            provider = catalog.index.find(None, row.model).provider
        price = catalog.price_at(provider, row.model, row.started_at)
        paid = cost(row.usage, price)
        saved = savings(row.usage, price, paid)
    except (LookupError, ValueError) as exc:  # unknown model, no price, missing rate
        reason = str(exc)
        provider = provider or "unknown"
    reported = None if row.source_cost is None else checked_source_cost(row.source_cost)
    ignored = reported is None and row.source_cost is not None
    return Call(
        id=row.call_id,
        started_at=row.started_at,
        provider=provider,
        model_requested=row.model,
        model_served=row.model,
        endpoint=row.endpoint,
        status=row.status,
        latency_ms=row.latency_ms,
        usage=row.usage,
        cost=paid,
        cost_error=reason,
        saved_cache=saved.cache if saved else None,
        saved_tier=saved.tier if saved else None,
        error=row.error,
        user=row.user,
        feature=row.feature,
        tags=row.tags,
        key_id=row.key_id,
        trace_id=row.trace_id,
        parent_id=row.parent_id,
        source_cost=reported,
        flags=("source_cost_ignored",) if ignored else (),
    )
