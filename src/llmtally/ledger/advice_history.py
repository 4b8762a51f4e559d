"""The per-call facts of the advisor's rollups that need more than one call: how a
conversation's history moves from the previous call of its trace, and the token
histograms (``rollup_tokens_day``, bins of ``ledger/token_bins.py``).

A call's previous call is the last one written of the same trace, feature,
provider and model (``advice_trace_last``: a trace's background calls, a title or
a summary on another model, are not the conversation); a call written after a
later one is not compared (neither rise nor drop). Only traced calls with
per-role counts have a history to compare.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, select

from llmtally.ledger.advice_prefix import utc
from llmtally.ledger.advice_tables import ADVICE_TABLES, NO_FEATURE
from llmtally.ledger.advice_upsert import Fields, Key, Sums, add_into, replace_rows
from llmtally.ledger.token_bins import bin_of

__all__ = ["TOKEN_FIELDS", "TOKEN_NAMES", "history_steps", "text_only", "token_sums"]

TOKEN_NAMES = ("calls", "tokens")
TOKEN_FIELDS = Fields(TOKEN_NAMES)
_TRACES = ADVICE_TABLES["advice_trace_last"]


def text_only(row: Mapping[str, Any]) -> bool:
    """Whether the call's output is text only (a token cap bounds it)."""
    return not row.get("output_audio_tokens") and not row.get("output_image_tokens")


def _history(row: Mapping[str, Any]) -> int | None:
    if row.get("trace_id") is None or row.get("input_history_tokens") is None:
        return None
    return int(row["input_history_tokens"])


def _thread(row: Mapping[str, Any]) -> Key:
    model = row["model_served"] or row["model_requested"]
    return (row["trace_id"], row["feature"] or NO_FEATURE, row["provider"], model)


def history_steps(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """Per row (in time order): 1 if its history rose from its conversation's
    previous call, -1 if it dropped, 0 otherwise; ``advice_trace_last`` moved on."""
    traced = sorted({row["trace_id"] for row in rows if _history(row) is not None})
    last: dict[Key, tuple[dt.datetime, int]] = {}
    for start in range(0, len(traced), 500):
        query = select(_TRACES).where(_TRACES.c.trace_id.in_(traced[start : start + 500]))
        for found in conn.execute(query).mappings():
            stored = (found["trace_id"], found["feature"], found["provider"], found["model"])
            last[stored] = (utc(found["last_at"]), int(found["history"]))
    before = dict(last)
    steps = []
    for row in rows:
        history, started = _history(row), utc(row["started_at"])
        thread = _thread(row) if history is not None else None
        previous = last.get(thread) if thread is not None else None
        step = 0
        if thread is not None and history is not None:
            if previous is None or started >= previous[0]:
                if previous is not None:
                    step = (history > previous[1]) - (history < previous[1])
                last[thread] = (started, history)
        steps.append(step)
    names = ("trace_id", "feature", "provider", "model")
    moved = [
        {**dict(zip(names, thread, strict=True)), "last_at": at, "history": history}
        for thread, (at, history) in sorted(last.items())
        if before.get(thread) != (at, history)
    ]
    replace_rows(conn, "advice_trace_last", moved)
    return steps


def token_sums(rows: Sequence[Mapping[str, Any]], keys: Sequence[Key]) -> Sums:
    """Per (cell, metric, bin): calls and tokens of the output and reasoning of
    text-only calls and of the history of traced calls."""
    sums: Sums = {}
    for row, key in zip(rows, keys, strict=True):
        measured: list[tuple[str, int]] = []
        if text_only(row):
            measured.append(("output", int(row["output_tokens"] or 0)))
            measured.append(("reasoning", int(row["reasoning_tokens"] or 0)))
        history = _history(row)
        if history is not None:
            measured.append(("history", history))
        for metric, value in measured:
            add_into(sums, (*key, metric, bin_of(value)), [1, value], TOKEN_FIELDS)
    return sums
