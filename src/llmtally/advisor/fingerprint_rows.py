"""The calls of each system prompt (``calls.prompt_fingerprint``) per cell, summed
in one SQL query: how many, their instruction (system) tokens and the rest.

The fine-tune recommender asks whether a fine-tuned model could replace a long,
repeated instruction; it needs, per (fingerprint, cell), the calls, the system
tokens (smallest and largest: one fingerprint is one prompt, so they agree) and
the input and output tokens. Calls without a fingerprint or without per-role
counts are left out (nothing says what their instructions weigh).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, func, select

from llmtally.advisor.cells import cell_keys, key_of, period_filter
from llmtally.advisor.period import Period
from llmtally.ledger.schema import calls

__all__ = ["FingerprintCell", "fingerprint_cells"]


@dataclass(frozen=True, slots=True)
class FingerprintCell:
    """The calls of one system prompt in one cell, summed."""

    fingerprint: str
    cell: int
    calls: int
    system_min: int
    system_max: int
    system_tokens: int
    input_tokens: int
    output_tokens: int


def _query(period: Period) -> Any:
    keys = cell_keys(period.store, period.bounds)

    def total(column: ColumnElement[Any]) -> ColumnElement[Any]:
        return func.coalesce(func.sum(column), 0)

    fingerprint = calls.c.prompt_fingerprint.label("fingerprint")
    return (
        select(
            *keys,
            fingerprint,
            func.count().label("calls"),
            func.min(calls.c.input_system_tokens).label("system_min"),
            func.max(calls.c.input_system_tokens).label("system_max"),
            total(calls.c.input_system_tokens).label("system_tokens"),
            total(calls.c.input_tokens).label("input_tokens"),
            total(calls.c.output_tokens).label("output_tokens"),
        )
        .where(
            *period_filter(period.since, period.until),
            calls.c.prompt_fingerprint.is_not(None),
            calls.c.input_system_tokens.is_not(None),
        )
        .group_by(*(key.name for key in keys), "fingerprint")  # by label (see cells)
    )


def _row(period: Period, row: Mapping[Any, Any]) -> FingerprintCell:
    return FingerprintCell(
        fingerprint=row["fingerprint"],
        cell=period.cell_id(key_of(row)),
        calls=int(row["calls"]),
        system_min=int(row["system_min"]),
        system_max=int(row["system_max"]),
        system_tokens=int(row["system_tokens"]),
        input_tokens=int(row["input_tokens"]),
        output_tokens=int(row["output_tokens"]),
    )


def fingerprint_cells(period: Period) -> list[FingerprintCell]:
    """Per (fingerprint, cell): the calls that sent that system prompt."""
    with period.store.engine.connect() as conn:
        rows = conn.execute(_query(period)).mappings().all()
    return [_row(period, row) for row in rows]
