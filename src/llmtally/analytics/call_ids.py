"""Call ids as a person types them: the shortest prefix that names one call in
the ledger, and the call a typed prefix names.

Ids are ULIDs (26 characters, the first 10 the time in milliseconds), so a
prefix of 10 to 12 characters usually names one call. Both lookups are a few
rows read off the primary-key index, never a scan of ``calls``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from llmtally.ledger.schema import calls

if TYPE_CHECKING:
    from llmtally.ledger.store import Store

__all__ = ["MIN_PREFIX", "ids_with_prefix", "unique_prefix_length"]

MIN_PREFIX = 10  # a ULID's time part: shorter prefixes rarely name one call
SHOWN_MATCHES = 5


def _common(a: str, b: str | None) -> int:
    return 0 if b is None else len(os.path.commonprefix([a, b]))


def unique_prefix_length(store: Store, ids: Iterable[str], minimum: int = MIN_PREFIX) -> int:
    """The shortest length (at least ``minimum``) at which each of ``ids`` differs
    from every other id in the ledger: its prefix of that length names it alone."""
    c = calls.c
    length = minimum
    with store.engine.connect() as conn:
        for call_id in ids:
            before = conn.execute(select(func.max(c.id)).where(c.id < call_id)).scalar()
            after = conn.execute(select(func.min(c.id)).where(c.id > call_id)).scalar()
            needed = max(_common(call_id, before), _common(call_id, after)) + 1
            length = max(length, min(needed, len(call_id)))
    return length


def _bump(prefix: str) -> str:
    """The smallest string after every string that starts with ``prefix``."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def ids_with_prefix(store: Store, prefix: str, limit: int = SHOWN_MATCHES + 1) -> list[str]:
    """Up to ``limit`` ids that start with ``prefix`` (as typed, else in upper
    case, as ULIDs are written), in id order."""
    c = calls.c
    found: Sequence[str] = []
    if not prefix:
        return []
    with store.engine.connect() as conn:
        for typed in dict.fromkeys((prefix, prefix.upper())):
            query = (
                select(c.id)
                .where(c.id >= typed, c.id < _bump(typed), c.id.startswith(typed, autoescape=True))
                .order_by(c.id)
                .limit(limit)
            )
            found = list(conn.execute(query).scalars())
            if found:
                break
    return list(found)
