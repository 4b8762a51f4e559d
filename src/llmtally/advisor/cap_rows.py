"""The SQL behind ``cap_output``, aggregated by the database, never call by call.

- ``output_groups``: per (feature, provider, model), over the period's calls with
  text output only (no audio or image output tokens, which a token cap does not
  bound alike): the calls, output and reasoning tokens, the longest output, the
  nearest-rank p95 of the output (rank ceil(0.95 n) in output order, by
  ``ROW_NUMBER``: both databases, no percentile function needed), and how many
  calls ended with ``finish_reason`` ``length`` (stopped by max_tokens) or have
  none recorded (every call, on a ledger without the column), and the reasoning
  effort asked for (``mixed`` when the calls asked for several).
- ``over_cap_cells``: per cell of the capped groups (one statement for all,
  ``group_caps``), on the calls still sent: the calls
  above a cap, sum(max(0, output - cap)) and sum(max(0, reasoning - cap)) (the
  reasoning comes first in the output: a cap cuts it only where it is longer).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, case, func, literal, select

from llmtally.advisor.cells import cell_keys, key_of, period_filter
from llmtally.advisor.group_caps import GroupKey, group_columns, group_values, rows_with_caps
from llmtally.advisor.period import Period
from llmtally.advisor.sent_calls import only_sent
from llmtally.ledger.schema import calls

__all__ = ["QUANTILE", "OutputGroup", "OverCapCell", "output_groups", "over_cap_cells"]

QUANTILE = 95  # the cap: the nearest-rank 95th percentile of a group's outputs


@dataclass(frozen=True, slots=True)
class OutputGroup:
    key: GroupKey
    calls: int
    output: int
    reasoning: int
    longest: int
    cap: int  # the p95 output
    length: int  # calls stopped by max_tokens
    unknown: int  # calls with no recorded finish reason
    effort: str | None  # the reasoning effort asked for, "mixed", None: none recorded


@dataclass(frozen=True, slots=True)
class OverCapCell:
    cell: int
    calls: int
    output: int  # output tokens above the cap
    reasoning: int  # reasoning tokens above the cap


def _text_only() -> list[ColumnElement[bool]]:
    return [calls.c.output_audio_tokens == 0, calls.c.output_image_tokens == 0]


def _finish() -> tuple[ColumnElement[Any], ColumnElement[Any], ColumnElement[Any]]:
    """(stopped by max_tokens, no finish reason, effort) per call; on a ledger
    without the columns: (0, 1, NULL)."""
    if "finish_reason" not in calls.c:
        return literal(0), literal(1), literal(None)
    finish = calls.c["finish_reason"]
    return (
        case((finish == "length", 1), else_=0),
        case((finish.is_(None), 1), else_=0),
        calls.c["reasoning_effort"],
    )


def _groups_query(period: Period) -> Any:
    group = group_values()
    length, unknown, effort = _finish()
    per_call = (
        select(
            *group_columns(),
            calls.c.output_tokens.label("output"),
            calls.c.reasoning_tokens.label("reasoning"),
            length.label("length"),
            unknown.label("unknown"),
            effort.label("effort"),
            func.row_number()
            .over(partition_by=group, order_by=(calls.c.output_tokens, calls.c.id))
            .label("rank"),
            func.count().over(partition_by=group).label("n"),
        )
        .where(*period_filter(period.since, period.until), *_text_only())
        .subquery()
    )
    g = [per_call.c.g_feature, per_call.c.g_provider, per_call.c.g_model]
    at_cap = per_call.c.rank == (per_call.c.n * QUANTILE + 99) // 100
    return select(
        *g,
        func.count().label("calls"),
        func.sum(per_call.c.output).label("output"),
        func.sum(per_call.c.reasoning).label("reasoning"),
        func.max(per_call.c.output).label("longest"),
        func.max(case((at_cap, per_call.c.output), else_=0)).label("cap"),
        func.sum(per_call.c.length).label("length"),
        func.sum(per_call.c.unknown).label("unknown"),
        func.min(per_call.c.effort).label("effort_min"),
        func.max(per_call.c.effort).label("effort_max"),
    ).group_by(*g)


def _effort(least: str | None, most: str | None) -> str | None:
    return least if least == most else "mixed"


def output_groups(period: Period) -> list[OutputGroup]:
    """Per (feature, provider, model) with text output (see the module docstring)."""
    with period.store.engine.connect() as conn:
        rows = conn.execute(_groups_query(period)).mappings().all()
    return [
        OutputGroup(
            key=(row["g_feature"], row["g_provider"], row["g_model"]),
            calls=int(row["calls"]),
            output=int(row["output"]),
            reasoning=int(row["reasoning"]),
            longest=int(row["longest"]),
            cap=int(row["cap"]),
            length=int(row["length"]),
            unknown=int(row["unknown"]),
            effort=_effort(row["effort_min"], row["effort_max"]),
        )
        for row in rows
    ]


def over_cap_cells(
    period: Period, caps: Mapping[GroupKey, int], answered: Iterable[str]
) -> list[OverCapCell]:
    """Per cell of the capped groups: the still-sent calls' tokens above the cap."""
    keys = cell_keys(period.store, period.bounds)
    names = [key.name for key in keys]

    def query(sent: ColumnElement[bool] | None, cap: ColumnElement[Any]) -> Any:
        per_call = (
            select(
                *keys,
                calls.c.output_tokens.label("output"),
                calls.c.reasoning_tokens.label("reasoning"),
                cap.label("cap"),
                only_sent(literal(1), sent).label("sent"),
            )
            .where(*period_filter(period.since, period.until), *_text_only())
            .subquery()
        )
        c = per_call.c
        reasoning = case((c.reasoning > c.cap, c.reasoning - c.cap), else_=0)
        return (
            select(
                *(c[name] for name in names),
                func.sum(c.sent).label("calls"),
                func.sum(c.sent * (c.output - c.cap)).label("output"),
                func.sum(c.sent * reasoning).label("reasoning"),
            )
            .where(c.cap.is_not(None), c.output > c.cap)
            .group_by(*(c[name] for name in names))
        )

    return [
        OverCapCell(
            period.cell_id(key_of(row)),
            int(row["calls"]),
            int(row["output"]),
            int(row["reasoning"]),
        )
        for row in rows_with_caps(period, caps, answered, query)
    ]
