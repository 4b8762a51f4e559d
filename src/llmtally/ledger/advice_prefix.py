"""The prompt-prefix and system-prompt parts of the advisor's rollups.

``rollup_prefix_day``: each call's gap to the previous use of its prefix decides
what a provider's prompt cache would have done on it (``ledger/advice_rollup.py``
explains the late calls). ``rollup_fingerprint_day``: the calls of each system
prompt with per-role counts, their system, input and output tokens.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, select, tuple_

from llmtally.ledger.advice_tables import ADVICE_TABLES, FINGERPRINT_COUNTS, PREFIX_COUNTS, TTLS
from llmtally.ledger.advice_upsert import Fields, Key, Sums, add_into, replace_rows

__all__ = [
    "CACHED_PROVIDERS",
    "FINGERPRINT_FIELDS",
    "FINGERPRINT_NAMES",
    "PREFIX_FIELDS",
    "PREFIX_NAMES",
    "fingerprint_sums",
    "prefix_sums",
    "utc",
]

CACHED_PROVIDERS = ("anthropic", "openai", "google")
PREFIX_NAMES = (*PREFIX_COUNTS, "prefix_min", "prefix_max")
FINGERPRINT_NAMES = (*FINGERPRINT_COUNTS, "system_min", "system_max")
PREFIX_FIELDS = Fields(PREFIX_NAMES)
FINGERPRINT_FIELDS = Fields(FINGERPRINT_NAMES)
_LAST = ADVICE_TABLES["advice_prefix_last"]
_TTLS = tuple(dt.timedelta(seconds=seconds) for seconds in TTLS.values())


def utc(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment


def _eligible(row: Mapping[str, Any]) -> bool:
    return (
        row.get("prompt_fingerprint") is not None
        and row["cost_total"] is not None
        and (
            row.get("input_system_tokens") is not None or row.get("input_tools_tokens") is not None
        )
        and row["provider"] in CACHED_PROVIDERS
    )


def _group(row: Mapping[str, Any]) -> Key:
    model = row["model_served"] or row["model_requested"]
    return (row["prompt_fingerprint"], row["provider"], model)


def _values(row: Mapping[str, Any], gap: dt.timedelta | None, late: bool) -> list[Any]:
    prefix = int(row.get("input_system_tokens") or 0) + int(row.get("input_tools_tokens") or 0)
    tokens = min(prefix, int(row["input_tokens"] or 0))
    used = bool(row["cache_read_tokens"]) or bool(row["cache_write_tokens"])
    values: list[Any] = [1, int(used), int(bool(row["cache_read_tokens"])), int(late)]
    for ttl in _TTLS:
        read = not used and gap is not None and gap <= ttl
        write = not used and not read
        values += [int(read), tokens if read else 0, int(write), tokens if write else 0]
    return [*values, prefix, prefix]


def _last_seen(conn: Connection, groups: set[Key]) -> dict[Key, dt.datetime]:
    found: dict[Key, dt.datetime] = {}
    wanted = sorted(groups)
    columns = tuple_(_LAST.c.fingerprint, _LAST.c.provider, _LAST.c.model)
    for start in range(0, len(wanted), 500):
        query = select(_LAST).where(columns.in_(wanted[start : start + 500]))
        for row in conn.execute(query).mappings():
            found[(row["fingerprint"], row["provider"], row["model"])] = utc(row["last_at"])
    return found


def prefix_sums(conn: Connection, rows: Sequence[Mapping[str, Any]], keys: Sequence[Key]) -> Sums:
    """The prefix rollup's sums of ``rows`` (in time order, with their cell keys);
    ``advice_prefix_last`` moved on in ``conn``'s transaction."""
    todo = [(row, key) for row, key in zip(rows, keys, strict=True) if _eligible(row)]
    if not todo:
        return {}
    last = _last_seen(conn, {_group(row) for row, _ in todo})
    before = dict(last)
    sums: Sums = {}
    for row, key in todo:
        group, started = _group(row), utc(row["started_at"])
        previous = last.get(group)
        late = previous is not None and started < previous
        gap = None if previous is None or late else started - previous
        add_into(sums, (key[0], group[0], *key[1:]), _values(row, gap, late), PREFIX_FIELDS)
        if not late:
            last[group] = started
    moved = [
        {"fingerprint": g[0], "provider": g[1], "model": g[2], "last_at": at}
        for g, at in sorted(last.items())
        if before.get(g) != at
    ]
    replace_rows(conn, "advice_prefix_last", moved)
    return sums


def fingerprint_sums(rows: Sequence[Mapping[str, Any]], keys: Sequence[Key]) -> Sums:
    """Per (day, fingerprint, cell): the calls of a system prompt with per-role counts."""
    sums: Sums = {}
    for row, key in zip(rows, keys, strict=True):
        system = row.get("input_system_tokens")
        if row.get("prompt_fingerprint") is None or system is None:
            continue
        values = [1, int(system), int(row["input_tokens"] or 0), int(row["output_tokens"] or 0)]
        fingerprint_key = (key[0], row["prompt_fingerprint"], *key[1:])
        add_into(sums, fingerprint_key, [*values, int(system), int(system)], FINGERPRINT_FIELDS)
    return sums
