"""Requests sent more than once, summed as they are written (``rollup_repeat_day``).

A response cache keyed by the request's SHA-256 keeping entries one hour
(``REPEAT_WINDOW_S``) would answer a call whose identical request opened a window
less than an hour before it; a call after the window ends misses and opens the
next one (counted as ``late``: identical, but too late for the cache). The ledger
keeps, per digest, when its current window opened (``advice_digest_open``), and
sums the answered calls' usage per cell, so the advisor prices the cache without
reading a call. A call older than its digest's open window (written late) is
left as sent. The digest is the call's ``request_sha256`` or, for a call recorded
without one, the SHA-256 of its whole stored request body.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, select

from llmtally.ledger.advice_prefix import utc
from llmtally.ledger.advice_tables import ADVICE_TABLES, REPEAT_COUNTS, REPEAT_WINDOW_S
from llmtally.ledger.advice_upsert import Fields, Key, Sums, add_into, replace_rows
from llmtally.ledger.rows import USAGE_COUNTS

__all__ = ["REPEAT_FIELDS", "REPEAT_NAMES", "digest_of", "repeat_sums"]

REPEAT_NAMES = REPEAT_COUNTS
REPEAT_FIELDS = Fields(REPEAT_NAMES)
_OPEN = ADVICE_TABLES["advice_digest_open"]
_WINDOW = dt.timedelta(seconds=REPEAT_WINDOW_S)


def digest_of(row: Mapping[str, Any], body: Mapping[str, Any] | None) -> str | None:
    """The request's digest: recorded, else of the whole stored body; None: unknown."""
    if row.get("request_sha256"):
        return str(row["request_sha256"])
    if body is None or body.get("request_truncated") or body.get("request_body") is None:
        return None
    return hashlib.sha256(str(body["request_body"]).encode()).hexdigest()


def _opened(conn: Connection, digests: set[str]) -> dict[str, dt.datetime]:
    found: dict[str, dt.datetime] = {}
    wanted = sorted(digests)
    for start in range(0, len(wanted), 500):
        query = select(_OPEN).where(_OPEN.c.digest.in_(wanted[start : start + 500]))
        for row in conn.execute(query).mappings():
            found[row["digest"]] = utc(row["last_at"])
    return found


def repeat_sums(
    conn: Connection,
    rows: Sequence[Mapping[str, Any]],
    keys: Sequence[Key],
    digests: Sequence[str | None],
) -> Sums:
    """Per cell: the calls a response cache would answer (their usage) and the late
    repeats, of ``rows`` in time order; ``advice_digest_open`` moved on."""
    opened = _opened(conn, {d for d in digests if d is not None})
    before = dict(opened)
    sums: Sums = {}
    zero = [0] * len(USAGE_COUNTS)
    for row, key, digest in zip(rows, keys, digests, strict=True):
        if digest is None:
            continue
        started, window = utc(row["started_at"]), opened.get(digest)
        if window is not None and window <= started < window + _WINDOW:
            usage = [int(row.get(name) or 0) for name in USAGE_COUNTS]
            add_into(sums, key, [1, 0, *usage], REPEAT_FIELDS)
        elif window is None or started >= window + _WINDOW:
            if window is not None:
                add_into(sums, key, [0, 1, *zero], REPEAT_FIELDS)
            opened[digest] = started
    moved = [
        {"digest": d, "last_at": at} for d, at in sorted(opened.items()) if before.get(d) != at
    ]
    replace_rows(conn, "advice_digest_open", moved)
    return sums
