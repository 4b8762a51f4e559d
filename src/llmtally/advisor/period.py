"""The calls of the advised period, read once, with what the recommenders need
beyond a ``Call``: whether it streamed, and its request body's SHA-256.

Streaming signal: the gateway sets ``ttft_ms`` only for streamed responses
(``gateway/recording.py``), so a call with a ``ttft_ms`` streamed; a stored
request body with ``"stream": true`` says so too (for calls that came in by
another path with their bodies). Duplicate signal: the ledger keeps no body hash,
so the SHA-256 of the stored request body (``call_bodies.request_body``) is used;
calls without a stored body, or with a truncated one, have none and are never
counted as duplicates.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from llmtally.ledger import Store
from llmtally.ledger.rows import row_to_call
from llmtally.ledger.schema import call_bodies, calls
from llmtally.usage import Call

__all__ = ["MONTH_DAYS", "Period", "PeriodCall", "load_period"]

MONTH_DAYS = 30


@dataclass(frozen=True, slots=True)
class PeriodCall:
    """A call with its stream flag and body hash (None: no whole body stored)."""

    call: Call
    streamed: bool
    body_sha256: str | None
    body: Mapping[str, Any] | None


@dataclass(frozen=True, slots=True)
class Period:
    """The successful calls started in [since, until), oldest first."""

    since: dt.datetime
    until: dt.datetime
    calls: tuple[PeriodCall, ...]

    @property
    def to_month(self) -> Decimal:
        """The factor that scales the period's amounts to 30 days."""
        seconds = Decimal(int((self.until - self.since).total_seconds()))
        return Decimal(MONTH_DAYS * 86400) / seconds


def _body(text: str | None, truncated: bool) -> tuple[str | None, Mapping[str, Any] | None]:
    if text is None or truncated:
        return None, None
    digest = hashlib.sha256(text.encode()).hexdigest()
    try:
        parsed = json.loads(text)
    except ValueError:
        return digest, None
    return digest, parsed if isinstance(parsed, dict) else None


def _period_call(row: Mapping[Any, Any]) -> PeriodCall:
    call = row_to_call(row)
    digest, body = _body(row["request_body"], bool(row["request_truncated"]))
    streamed = call.ttft_ms is not None or bool(body and body.get("stream") is True)
    return PeriodCall(call, streamed, digest, body)


def load_period(store: Store, since: dt.datetime, until: dt.datetime) -> Period:
    """The period's calls with a 2xx status (failed calls are not work to save on)."""
    if since.tzinfo is None or until.tzinfo is None or until <= since:
        raise ValueError("the period needs timezone-aware since < until")
    query = (
        select(
            calls,
            call_bodies.c.request_body,
            call_bodies.c.request_truncated,
        )
        .outerjoin(call_bodies, call_bodies.c.call_id == calls.c.id)
        .where(calls.c.started_at >= since.astimezone(dt.UTC))
        .where(calls.c.started_at < until.astimezone(dt.UTC))
        .where(calls.c.status >= 200, calls.c.status < 300)
        .order_by(calls.c.started_at, calls.c.id)
    )
    with store.engine.connect() as conn:
        found = tuple(_period_call(row) for row in conn.execute(query).mappings())
    return Period(since, until, found)
