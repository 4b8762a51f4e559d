"""How often each prompt prefix would be read from a provider's cache, per cell.

Calls that share a system prompt (``calls.prompt_fingerprint``) on one provider
and model send the same prefix (system + tools tokens). Replayed in time order
through a prompt cache whose entries live from their last use, a call reads the
prefix when the previous call of its group came at most one TTL before it, and
writes it otherwise; a call that already read from or wrote to a cache is left
as it is (it still counts as a use). The ledger takes each call's gap as it is
written and sums the reads and writes per day, cell and fingerprint
(``rollup_prefix_day``, see ``ledger/advice_rollup.py``); this module reads them
for the period. Calls that arrived after a later call of their group are counted
as writes (``late``): the saving is then a lower bound.

Left out when written, as nothing exact can be said of them: calls without a
fingerprint, without a recorded cost, without per-role counts, on a provider
with no known prompt cache. Calls a response cache would answer (duplicates)
are in the sums; the recommender scales a cell's reads and writes to the calls
still sent (``prompt_cache.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from llmtally.advisor.cells import KEY_NAMES, day_number, key_of
from llmtally.advisor.period import Period
from llmtally.ledger.advice_tables import ADVICE_TABLES, PREFIX_COUNTS, TTLS

__all__ = ["PrefixCell", "prefix_cells"]

_PREFIX = ADVICE_TABLES["rollup_prefix_day"]


@dataclass(frozen=True, slots=True)
class PrefixCell:
    """The calls of one fingerprint in one cell, and what a cache would do on them
    for each TTL: calls and prefix tokens read, calls and tokens written."""

    fingerprint: str
    cell: int
    calls: int
    unchanged: int  # already read from or wrote to a cache
    already_read: int
    late: int  # written after a later call of their group: counted as writes
    prefix_min: int
    prefix_max: int
    reads: dict[str, int]
    read_tokens: dict[str, int]
    writes: dict[str, int]
    write_tokens: dict[str, int]


def _prefix_cell(period: Period, row: Mapping[Any, Any]) -> PrefixCell:
    def per_ttl(name: str) -> dict[str, int]:
        return {ttl: int(row[f"{name}_{ttl}"]) for ttl in TTLS}

    return PrefixCell(
        fingerprint=row["fingerprint"],
        cell=period.cell_id(key_of(row)),
        calls=int(row["calls"]),
        unchanged=int(row["unchanged"]),
        already_read=int(row["already_read"]),
        late=int(row["late"]),
        prefix_min=int(row["prefix_min"]),
        prefix_max=int(row["prefix_max"]),
        reads=per_ttl("reads"),
        read_tokens=per_ttl("read_tokens"),
        writes=per_ttl("writes"),
        write_tokens=per_ttl("write_tokens"),
    )


def prefix_cells(period: Period) -> list[PrefixCell]:
    """Per (fingerprint, cell) of the period: what a prompt cache would read and write."""
    keys = [_PREFIX.c[name] for name in KEY_NAMES]
    sums = [func.sum(_PREFIX.c[name]).label(name) for name in PREFIX_COUNTS]
    query = (
        select(
            *keys,
            _PREFIX.c.fingerprint,
            *sums,
            func.min(_PREFIX.c.prefix_min).label("prefix_min"),
            func.max(_PREFIX.c.prefix_max).label("prefix_max"),
        )
        .where(
            _PREFIX.c.bucket >= day_number(period.since),
            _PREFIX.c.bucket < day_number(period.until),
        )
        .group_by(*keys, _PREFIX.c.fingerprint)
    )
    with period.store.engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return [_prefix_cell(period, row) for row in rows]
