"""The advised period's calls in groups ("cells"), read from the advisor's rollup.

The advisor must read a month of 10M calls in seconds, so it never loads a call
as an object, nor scans the calls: ``ledger/advice_rollup.py`` sums each call,
as it is written, into ``rollup_advice_day`` per:

- UTC day (prices change by date), feature, provider, model (served, else
  requested), service tier;
- whether the call streamed (the gateway sets ``ttft_ms`` only for streamed
  answers) and whether its caller tagged it ``batchable``;
- the price window and long-context cliff it was priced in, so that every call
  of a cell is billed at the same rates by its model and the cell's summed usage
  prices exactly (``meter.cost`` with one request's prompt size deciding the
  cliff);
- a call with media units (images, audio seconds: priced per unit with rounding
  and minimums, not per token) is a cell of its own.

A cell keeps the sums the recommenders need: usage by kind, input tokens by
prompt role, the recorded cost, the largest prompt, and its first and last call.
The period is whole UTC days (``llmtally.advisor.period``). ``cell_keys`` gives
the same key in SQL, for a recommender that sums some calls per cell itself.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Integer, case, cast, func, select

from llmtally.ledger import Store
from llmtally.ledger.advice_rollup import BATCHABLE_TAG, NO_FEATURE
from llmtally.ledger.advice_tables import ADVICE_KEYS, ADVICE_TABLES, FACT_COUNTS
from llmtally.ledger.rows import USAGE_COUNTS
from llmtally.ledger.schema import calls
from llmtally.usage import ImageUnits, ServiceTier, Usage

__all__ = [
    "BATCHABLE_TAG",
    "KEY_NAMES",
    "NO_FEATURE",
    "ROLES",
    "Cell",
    "Facts",
    "Roles",
    "cell_keys",
    "key_of",
    "load_cells",
    "period_filter",
]

ROLES = ("system", "tools", "history", "latest_user", "context")
KEY_NAMES = ("bucket", *ADVICE_KEYS)
_INT_KEYS = {"bucket", "streamed", "batchable", "cliff"}
_CELLS = ADVICE_TABLES["rollup_advice_day"]


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
class Facts:
    """What the calls' request facts say (migration 0013; calls recorded before it
    have none: ``finish_unknown`` / ``tools_unknown`` count them)."""

    text_calls: int = 0  # text-only output (a token cap bounds it)
    length_stops: int = 0  # of them, stopped by the output cap (finish_reason length)
    finish_unknown: int = 0  # of them, no finish reason recorded
    tools_calls: int = 0  # calls that sent tool schemas
    tools_used: int = 0  # of them, ended with a tool call
    tools_unknown: int = 0  # of them, no finish reason recorded
    tools_tokens: int = 0  # their tools tokens
    history_rises: int = 0  # traced calls whose history rose from the trace's previous call
    history_drops: int = 0  # ... dropped from it
    effort_min: str | None = None  # the reasoning effort asked for, least and greatest
    effort_max: str | None = None


@dataclass(frozen=True, slots=True)
class Cell:
    """Calls billed alike, summed. ``prompt_tokens``: the largest prompt of the cell
    (every prompt of the cell is on the same side of its model's cliffs)."""

    id: int
    feature: str
    provider: str
    model: str
    tier: ServiceTier
    streamed: bool
    batchable: bool
    day: dt.date
    first: dt.datetime
    last: dt.datetime
    calls: int
    usage: Usage
    prompt_tokens: int
    roles: Roles
    cost: Decimal
    unpriced: int
    key: tuple[Any, ...]  # the grouping values (``KEY_NAMES``), to find the cell again
    facts: Facts = Facts()


def _day_bucket(store: Store) -> ColumnElement[Any]:
    """A call's UTC day as whole days since the Unix epoch, in SQL."""
    started = calls.c.started_at
    if store.engine.dialect.name == "postgresql":
        return cast(func.floor(func.extract("epoch", started) / 86400), BigInteger)
    # SQLite keeps UTC as 'YYYY-MM-DD HH:MM:SS.ffffff' text
    return cast(func.strftime("%s", func.substr(started, 1, 10)), Integer) / 86400


def cell_keys(store: Store) -> list[ColumnElement[Any]]:
    """A call's cell key in SQL, labelled ``KEY_NAMES`` (as ``advice_rollup.row_key``
    computes it when the call is written)."""
    media = calls.c.images.is_not(None) | calls.c.audio_seconds.is_not(None)
    cliff = case(
        (calls.c.cost_total.is_(None), -1), else_=func.coalesce(calls.c.long_context_above, 0)
    )
    return [
        _day_bucket(store).label("bucket"),
        func.coalesce(calls.c.feature, NO_FEATURE).label("feature"),
        calls.c.provider.label("provider"),
        func.coalesce(calls.c.model_served, calls.c.model_requested).label("model"),
        calls.c.service_tier.label("tier"),
        case((calls.c.ttft_ms.is_not(None), 1), else_=0).label("streamed"),
        case((calls.c.tags.like(f'%"{BATCHABLE_TAG}"%'), 1), else_=0).label("batchable"),
        func.coalesce(calls.c.price_window, "").label("price_window"),
        cliff.label("cliff"),
        case((media, calls.c.id), else_="").label("single"),
    ]


def key_of(row: Mapping[Any, Any]) -> tuple[Any, ...]:
    """A row's cell key (its ``KEY_NAMES`` columns) as plain values."""
    return tuple(int(row[name]) if name in _INT_KEYS else row[name] for name in KEY_NAMES)


def _utc(moment: dt.datetime | str) -> dt.datetime:
    if isinstance(moment, str):
        moment = dt.datetime.fromisoformat(moment)
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _usage(row: Mapping[Any, Any]) -> Usage:
    images = tuple(ImageUnits(**item) for item in json.loads(row["images"] or "[]"))
    counts: dict[str, Any] = {name: int(row[name]) for name in USAGE_COUNTS}
    return Usage(
        **counts,
        images=images,
        audio_seconds=row["audio_seconds"],
        service_tier=row["tier"],
    )


def _cell(index: int, row: Mapping[Any, Any]) -> Cell:
    sums: dict[str, Any] = {role: int(row[f"role_{role}"]) for role in ROLES}
    return Cell(
        id=index,
        feature=row["feature"],
        provider=row["provider"],
        model=row["model"],
        tier=row["tier"],
        streamed=bool(row["streamed"]),
        batchable=bool(row["batchable"]),
        day=dt.date(1970, 1, 1) + dt.timedelta(days=int(row["bucket"])),
        first=_utc(row["first_at"]),
        last=_utc(row["last_at"]),
        calls=int(row["calls"]),
        usage=_usage(row),
        prompt_tokens=int(row["prompt_tokens"]),
        roles=Roles(**sums, counted=int(row["role_calls"])),
        cost=row["cost_total"],
        unpriced=int(row["unpriced"]),
        key=key_of(row),
        facts=Facts(
            **{name: int(row[name]) for name in FACT_COUNTS},
            effort_min=row["effort_min"],
            effort_max=row["effort_max"],
        ),
    )


def period_filter(since: dt.datetime, until: dt.datetime) -> list[ColumnElement[bool]]:
    """The advised calls: started in [since, until), with a 2xx status (failed
    calls are not work to save on)."""
    return [
        calls.c.started_at >= since.astimezone(dt.UTC),
        calls.c.started_at < until.astimezone(dt.UTC),
        calls.c.status >= 200,
        calls.c.status < 300,
    ]


def day_number(moment: dt.datetime) -> int:
    """Whole UTC days since the Unix epoch (the rollup's bucket)."""
    return int(moment.timestamp()) // 86400


def load_cells(store: Store, since: dt.datetime, until: dt.datetime) -> tuple[Cell, ...]:
    """The cells of the whole UTC days in [since, until), in a stable order."""
    order = [_CELLS.c[name] for name in KEY_NAMES]
    query = (
        select(_CELLS)
        .where(_CELLS.c.bucket >= day_number(since), _CELLS.c.bucket < day_number(until))
        .order_by(*order)
    )
    with store.engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return tuple(_cell(index, row) for index, row in enumerate(rows))
