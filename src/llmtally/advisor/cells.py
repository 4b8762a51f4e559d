"""The advised period's calls in groups ("cells"), summed in SQL.

The advisor must read a month of 10M calls in seconds, so it never loads a call
as an object. One ``GROUP BY`` sums the period's successful calls per:

- feature, provider, model (served, else requested), service tier;
- whether the call streamed (the gateway sets ``ttft_ms`` only for streamed
  answers) and whether its caller tagged it ``batchable``;
- UTC day (prices change by date), the segment of the day between time-of-day
  price windows, and the bracket between long-context cliffs
  (``llmtally.advisor.boundaries``): so every call of a cell would be billed at
  the same rates, on any model, and a cell's summed usage prices exactly
  (``meter.cost`` with one request's prompt size deciding the cliff);
- a call with media units (images, audio seconds: priced per unit with rounding
  and minimums, not per token) is a cell of its own.

A cell keeps the sums the recommenders need: usage by kind, input tokens by
prompt role, the recorded cost, and its first and last call.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, case, func, literal, select, type_coerce

from llmtally.advisor.boundaries import Boundaries
from llmtally.ledger import Store
from llmtally.ledger.schema import Fixed, calls
from llmtally.usage import ImageUnits, ServiceTier, Usage

__all__ = [
    "BATCHABLE_TAG",
    "KEY_NAMES",
    "NO_FEATURE",
    "ROLES",
    "Cell",
    "Roles",
    "cell_keys",
    "key_of",
    "load_cells",
    "period_filter",
]

NO_FEATURE = "(none)"
BATCHABLE_TAG = "batchable"
ROLES = ("system", "tools", "history", "latest_user", "context")
KEY_NAMES = (
    "feature",
    "provider",
    "model",
    "tier",
    "streamed",
    "batchable",
    "day",
    "segment",
    "bracket",
    "single",
)
_INT_KEYS = {"streamed", "batchable", "segment", "bracket"}
_COUNTS = (
    "input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "input_audio_tokens",
    "input_image_tokens",
    "output_tokens",
    "reasoning_tokens",
    "output_audio_tokens",
    "output_image_tokens",
    "characters",
    "requests",
)


@dataclass(frozen=True, slots=True)
class Roles:
    """Input tokens by prompt role, summed over the ``counted`` calls that had them."""

    system: int = 0
    tools: int = 0
    history: int = 0
    latest_user: int = 0
    context: int = 0
    counted: int = 0


@dataclass(frozen=True, slots=True)
class Cell:
    """Calls billed alike, summed. ``prompt_tokens``: the largest prompt of the cell
    (every prompt of the cell is on the same side of every cliff)."""

    id: int
    feature: str
    provider: str
    model: str
    tier: ServiceTier
    streamed: bool
    batchable: bool
    day: str
    first: dt.datetime
    last: dt.datetime
    calls: int
    usage: Usage
    prompt_tokens: int
    roles: Roles
    cost: Decimal
    unpriced: int
    key: tuple[Any, ...]  # the grouping values (``cell_keys``), to find the cell again


def _dialect_time(store: Store, length: int) -> ColumnElement[Any]:
    """The UTC start of a call as text, ``length`` characters of
    ``YYYY-MM-DD HH:MM`` (10: the day)."""
    if store.engine.dialect.name == "postgresql":
        pattern = "YYYY-MM-DD HH24:MI"[: {10: 10, 16: 18}[length]]
        return func.to_char(func.timezone("UTC", calls.c.started_at), pattern)
    return func.substr(calls.c.started_at, 1, length)


def _steps(value: ColumnElement[Any], edges: tuple[Any, ...]) -> ColumnElement[Any]:
    """How many of ``edges`` ``value`` is at or above (0 when there are none)."""
    total: ColumnElement[Any] = literal(0)
    for edge in edges:
        total = total + case((value >= edge, 1), else_=0)
    return total


def cell_keys(store: Store, bounds: Boundaries) -> list[ColumnElement[Any]]:
    """The grouping values of a call's cell, labelled, in SQL (``KEY_NAMES``)."""
    clock = func.substr(_dialect_time(store, 16), 12, 5)  # HH:MM
    media = calls.c.images.is_not(None) | calls.c.audio_seconds.is_not(None)
    return [
        func.coalesce(calls.c.feature, NO_FEATURE).label("feature"),
        calls.c.provider.label("provider"),
        func.coalesce(calls.c.model_served, calls.c.model_requested).label("model"),
        calls.c.service_tier.label("tier"),
        case((calls.c.ttft_ms.is_not(None), 1), else_=0).label("streamed"),
        case((calls.c.tags.like(f'%"{BATCHABLE_TAG}"%'), 1), else_=0).label("batchable"),
        _dialect_time(store, 10).label("day"),
        _steps(clock, tuple(t.strftime("%H:%M") for t in bounds.times)).label("segment"),
        _steps(calls.c.input_tokens, tuple(c + 1 for c in bounds.cliffs)).label("bracket"),
        case((media, calls.c.id), else_="").label("single"),
    ]


def _sums() -> list[ColumnElement[Any]]:
    def total(column: ColumnElement[Any]) -> ColumnElement[Any]:
        return func.coalesce(func.sum(column), 0)

    has_roles = calls.c.input_system_tokens.is_not(None)
    return [
        func.count().label("calls"),
        *(total(calls.c[name]).label(name) for name in _COUNTS),
        *(total(calls.c[f"input_{role}_tokens"]).label(f"role_{role}") for role in ROLES),
        total(case((has_roles, 1), else_=0)).label("role_calls"),
        func.max(calls.c.input_tokens).label("prompt_tokens"),
        type_coerce(total(calls.c.cost_total), Fixed()).label("cost"),
        total(case((calls.c.cost_total.is_(None), 1), else_=0)).label("unpriced"),
        func.min(calls.c.started_at).label("first"),
        func.max(calls.c.started_at).label("last"),
        func.max(calls.c.images).label("images"),
        type_coerce(func.max(calls.c.audio_seconds), Fixed()).label("audio_seconds"),
    ]


def _utc(moment: dt.datetime | str) -> dt.datetime:
    if isinstance(moment, str):  # SQLite's min/max of a text column
        moment = dt.datetime.fromisoformat(moment)
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _usage(row: Mapping[Any, Any]) -> Usage:
    images = tuple(ImageUnits(**item) for item in json.loads(row["images"] or "[]"))
    single = bool(row["single"])
    counts: dict[str, Any] = {name: int(row[name]) for name in _COUNTS}
    return Usage(
        **counts,
        images=images if single else (),
        audio_seconds=row["audio_seconds"] if single else None,
        service_tier=row["tier"],
    )


def _cell(index: int, row: Mapping[Any, Any]) -> Cell:
    sums: dict[str, Any] = {role: int(row[f"role_{role}"]) for role in ROLES}
    roles = Roles(**sums, counted=int(row["role_calls"]))
    return Cell(
        id=index,
        feature=row["feature"],
        provider=row["provider"],
        model=row["model"],
        tier=row["tier"],
        streamed=bool(row["streamed"]),
        batchable=bool(row["batchable"]),
        day=row["day"],
        first=_utc(row["first"]),
        last=_utc(row["last"]),
        calls=int(row["calls"]),
        usage=_usage(row),
        prompt_tokens=int(row["prompt_tokens"]),
        roles=roles,
        cost=row["cost"],
        unpriced=int(row["unpriced"]),
        key=key_of(row),
    )


def key_of(row: Mapping[Any, Any]) -> tuple[Any, ...]:
    """A row's cell key (its ``cell_keys`` columns) as plain values."""
    return tuple(int(row[name]) if name in _INT_KEYS else row[name] for name in KEY_NAMES)


def period_filter(since: dt.datetime, until: dt.datetime) -> list[ColumnElement[bool]]:
    """The advised calls: started in [since, until), with a 2xx status (failed
    calls are not work to save on)."""
    return [
        calls.c.started_at >= since.astimezone(dt.UTC),
        calls.c.started_at < until.astimezone(dt.UTC),
        calls.c.status >= 200,
        calls.c.status < 300,
    ]


def load_cells(
    store: Store, bounds: Boundaries, since: dt.datetime, until: dt.datetime
) -> tuple[Cell, ...]:
    """The period's calls with a 2xx status, summed per cell, in a stable order."""
    keys = cell_keys(store, bounds)
    query = (
        select(*keys, *_sums())
        .where(*period_filter(since, until))
        .group_by(*(key.name for key in keys))  # by label: PostgreSQL compares
        .order_by(*(key.name for key in keys))  # bound edges by placeholder
    )
    with store.engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return tuple(_cell(index, row) for index, row in enumerate(rows))
