"""The calls of each system prompt (``calls.prompt_fingerprint``) per cell, as the
ledger sums them when they are written (``rollup_fingerprint_day``): how many,
their instruction (system) tokens and the rest.

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

from sqlalchemy import func, select

from llmtally.advisor.cells import KEY_NAMES, day_number, key_of
from llmtally.advisor.period import Period
from llmtally.ledger.advice_tables import ADVICE_TABLES, FINGERPRINT_COUNTS

_FINGERPRINTS = ADVICE_TABLES["rollup_fingerprint_day"]

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
    keys = [_FINGERPRINTS.c[name] for name in KEY_NAMES]
    f = _FINGERPRINTS.c
    return (
        select(
            *keys,
            f.fingerprint,
            *(func.sum(f[name]).label(name) for name in FINGERPRINT_COUNTS),
            func.min(f.system_min).label("system_min"),
            func.max(f.system_max).label("system_max"),
        )
        .where(f.bucket >= day_number(period.since), f.bucket < day_number(period.until))
        .group_by(*keys, f.fingerprint)
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
