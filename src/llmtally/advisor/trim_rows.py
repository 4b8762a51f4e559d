"""The SQL behind ``trim``: tool schemas sent and never called, and conversation
history per trace, aggregated per cell (``llmtally.advisor.cells``) or per
(feature, provider, model) by the database, never call by call.

- ``tools_cells``: per cell, the calls that sent tool schemas
  (``input_tools_tokens`` > 0), their tools tokens (calls still sent only), how
  many ended with ``finish_reason`` ``tool_calls`` and how many have no recorded
  finish reason. Empty on a ledger without the ``finish_reason`` column (before
  migration 0013): whether a tool was called cannot be known there.
- ``history_groups``: per (feature, provider, model), the traces with per-role
  counts; how often the history rose and dropped from one call of a trace to
  the next (``LAG`` over the trace in time order); and the median of the
  traces' largest history (the lower median: rank ceil(n / 2)).
- ``history_cells``: per cell of the capped groups (one statement for all,
  ``group_caps``), the history tokens above the group's cap, summed over the
  calls still sent: sum(max(0, history - cap)).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, case, func, literal, select

from llmtally.advisor.cells import cell_keys, key_of, period_filter
from llmtally.advisor.group_caps import GroupKey, group_columns, group_values, rows_with_caps
from llmtally.advisor.period import Period
from llmtally.advisor.sent_calls import only_sent, sent_condition
from llmtally.ledger.schema import calls

__all__ = [
    "HistoryCell",
    "HistoryGroup",
    "ToolsCell",
    "history_cells",
    "history_groups",
    "tools_cells",
]


@dataclass(frozen=True, slots=True)
class ToolsCell:
    cell: int
    calls: int  # calls that sent tool schemas
    sent: int  # of them, still sent
    tokens: int  # the tools tokens of the calls still sent
    called: int  # ended with finish_reason tool_calls
    unknown: int  # no recorded finish reason


@dataclass(frozen=True, slots=True)
class HistoryGroup:
    key: GroupKey
    traces: int
    rises: int  # a call's history above the previous call's of its trace
    drops: int  # below it: something already bounds the history
    median_peak: int  # the lower median of the traces' largest history
    longest: int  # the largest history of any call


@dataclass(frozen=True, slots=True)
class HistoryCell:
    cell: int
    calls: int  # calls still sent whose history is above the cap
    tokens: int  # their history tokens above the cap


def _count(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _per_cell(period: Period, query_of: Any, answered: Iterable[str]) -> list[Mapping[Any, Any]]:
    """Rows of ``query_of(sent)`` (``sent``: the still-sent condition or None)."""
    with period.store.engine.connect() as conn:
        with sent_condition(conn, answered) as sent:
            rows: list[Mapping[Any, Any]] = list(conn.execute(query_of(sent)).mappings())
        conn.rollback()
    return rows


def tools_cells(period: Period, answered: Iterable[str]) -> list[ToolsCell]:
    """Per cell, the calls that sent tool schemas (see the module docstring)."""
    if "finish_reason" not in calls.c:
        return []
    finish = calls.c["finish_reason"]
    tools = calls.c.input_tools_tokens
    keys = cell_keys(period.store, period.bounds)

    def query(sent: ColumnElement[bool] | None) -> Any:
        return (
            select(
                *keys,
                func.count().label("calls"),
                func.coalesce(func.sum(only_sent(case((tools > 0, 1), else_=0), sent)), 0).label(
                    "sent"
                ),
                func.coalesce(func.sum(only_sent(tools, sent)), 0).label("tokens"),
                _count(finish == "tool_calls").label("called"),
                _count(finish.is_(None)).label("unknown"),
            )
            .where(*period_filter(period.since, period.until), tools > 0)
            .group_by(*(key.name for key in keys))
        )

    return [
        ToolsCell(
            cell=period.cell_id(key_of(row)),
            calls=int(row["calls"]),
            sent=int(row["sent"]),
            tokens=int(row["tokens"]),
            called=int(row["called"]),
            unknown=int(row["unknown"]),
        )
        for row in _per_cell(period, query, answered)
    ]


def _history_query(period: Period) -> Any:
    history = calls.c.input_history_tokens
    per_call = (
        select(
            *group_columns(),
            calls.c.trace_id.label("trace"),
            history.label("history"),
            (
                history
                - func.lag(history).over(
                    partition_by=(calls.c.trace_id, *group_values()),
                    order_by=(calls.c.started_at, calls.c.id),
                )
            ).label("step"),
        )
        .where(
            *period_filter(period.since, period.until),
            calls.c.trace_id.is_not(None),
            history.is_not(None),
        )
        .subquery()
    )
    g = [per_call.c.g_feature, per_call.c.g_provider, per_call.c.g_model]
    traces = (
        select(
            *g,
            func.max(per_call.c.history).label("peak"),
            _count(per_call.c.step > 0).label("rises"),
            _count(per_call.c.step < 0).label("drops"),
        )
        .group_by(*g, per_call.c.trace)
        .subquery()
    )
    t = [traces.c.g_feature, traces.c.g_provider, traces.c.g_model]
    ranked = select(
        traces,
        func.row_number().over(partition_by=t, order_by=traces.c.peak).label("rank"),
        func.count().over(partition_by=t).label("n"),
    ).subquery()
    r = [ranked.c.g_feature, ranked.c.g_provider, ranked.c.g_model]
    middle = ranked.c.rank == (ranked.c.n + 1) // 2
    return select(
        *r,
        func.count().label("traces"),
        func.sum(ranked.c.rises).label("rises"),
        func.sum(ranked.c.drops).label("drops"),
        func.max(case((middle, ranked.c.peak), else_=0)).label("median_peak"),
        func.max(ranked.c.peak).label("longest"),
    ).group_by(*r)


def history_groups(period: Period) -> list[HistoryGroup]:
    """Per (feature, provider, model) with traced history (see the module docstring)."""
    with period.store.engine.connect() as conn:
        rows = conn.execute(_history_query(period)).mappings().all()
    return [
        HistoryGroup(
            key=(row["g_feature"], row["g_provider"], row["g_model"]),
            traces=int(row["traces"]),
            rises=int(row["rises"]),
            drops=int(row["drops"]),
            median_peak=int(row["median_peak"]),
            longest=int(row["longest"]),
        )
        for row in rows
    ]


def history_cells(
    period: Period, caps: Mapping[GroupKey, int], answered: Iterable[str]
) -> list[HistoryCell]:
    """Per cell of the capped groups: history tokens above the group's cap, on the
    calls still sent."""
    keys = cell_keys(period.store, period.bounds)
    names = [key.name for key in keys]

    def query(sent: ColumnElement[bool] | None, cap: ColumnElement[Any]) -> Any:
        per_call = (
            select(
                *keys,
                calls.c.input_history_tokens.label("value"),
                cap.label("cap"),
                only_sent(literal(1), sent).label("sent"),
            )
            .where(
                *period_filter(period.since, period.until),
                calls.c.trace_id.is_not(None),
                calls.c.input_history_tokens.is_not(None),
            )
            .subquery()
        )
        over = per_call.c.value - per_call.c.cap
        return (
            select(
                *(per_call.c[name] for name in names),
                func.sum(per_call.c.sent).label("calls"),
                func.sum(per_call.c.sent * over).label("tokens"),
            )
            .where(per_call.c.cap.is_not(None), per_call.c.value > per_call.c.cap)
            .group_by(*(per_call.c[name] for name in names))
        )

    return [
        HistoryCell(period.cell_id(key_of(row)), int(row["calls"]), int(row["tokens"]))
        for row in rows_with_caps(period, caps, answered, query)
    ]
