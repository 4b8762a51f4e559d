"""The rollup tables: sums of the ``calls`` table per time bucket, kept up to date
in the same transaction that inserts the calls (``llmtally.ledger.rollups``).

Each family exists at two grains, ``hour`` and ``day`` (UTC), keyed by
``bucket`` = whole hours (or days) since the Unix epoch. A query over any range
reads whole days from the day table, whole hours at the edges from the hour
table and only the minutes at either end from ``calls`` itself.

- ``rollup_model_<grain>``: per provider and model, every measure the
  dashboard shows (counts, tokens, cost by component, hidden-cost shares,
  savings, latency sums).
- ``rollup_dim_<grain>``: per attribute (``kind`` = user, feature, key, tag,
  fingerprint) and its value ('' when the call has none); ``traced`` (calls
  with a trace id) and ``trace-root`` (those without a parent: one per trace)
  with value ''.
- ``rollup_latency_<grain>``: a log-bucketed histogram of latency and time to
  first token per provider and model, for percentiles.
- ``rollup_traces``: per trace, not bucketed: calls, cost, first and last call.

Money columns are ``Fixed`` (exact); counts BIGINT; latency sums DOUBLE.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Double, Index, Integer, MetaData, Table, Text
from sqlalchemy.sql.schema import SchemaItem

from llmtally.ledger.schema import Fixed

__all__ = [
    "CONTEXT_COLUMNS",
    "DIM_COUNTS",
    "DIM_KINDS",
    "DIM_MONEY",
    "GRAINS",
    "LATENCY_METRICS",
    "MODEL_COUNTS",
    "MODEL_FLOATS",
    "MODEL_MONEY",
    "ROLES",
    "TRACE_COUNTS",
    "TRACE_MONEY",
    "rollup_metadata",
    "rollup_tables",
]

GRAINS = {"hour": 3600, "day": 86400}
ROLES = ("system", "tools", "history", "latest_user", "context")
# Added by migration 0007 (retrieved context as its own prompt role)
CONTEXT_COLUMNS = ("input_context_tokens", "cost_role_context")
DIM_KINDS = ("user", "feature", "key", "tag", "fingerprint", "traced", "trace-root")
LATENCY_METRICS = ("latency", "ttft")

MODEL_COUNTS = (
    "calls",
    "errors",
    "retryable",
    "unpriced",
    "input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
    "role_calls",
    *(f"input_{role}_tokens" for role in ROLES),
    "latency_n",
    "ttft_n",
    "tps_n",
)
MODEL_MONEY = (
    "cost_total",
    "cost_input",
    "cost_cache_read",
    "cost_cache_write",
    "cost_output",
    "cost_reasoning",
    "cost_audio",
    "cost_images",
    "cost_request",
    *(f"cost_role_{role}" for role in ROLES),
    "cost_role_other",
    "saved_cache",
    "saved_tier",
)
MODEL_FLOATS = ("latency_ms_sum", "ttft_ms_sum", "tps_sum")
DIM_COUNTS = ("calls", "errors", "unpriced", "input_tokens", "output_tokens")
DIM_MONEY = ("cost_total", "cost_role_system")
TRACE_COUNTS = ("calls", "errors", "unpriced", "input_tokens", "output_tokens")
TRACE_MONEY = ("cost_total",)


def _measures(
    counts: tuple[str, ...],
    money: tuple[str, ...],
    floats: tuple[str, ...] = (),
    leave_out: tuple[str, ...] = (),
) -> list[SchemaItem]:
    return [
        *(Column(n, BigInteger, nullable=False, default=0) for n in counts if n not in leave_out),
        *(Column(n, Fixed, nullable=False, default=0) for n in money if n not in leave_out),
        *(Column(n, Double, nullable=False, default=0.0) for n in floats if n not in leave_out),
    ]


def _grain_tables(meta: MetaData, grain: str, leave_out: tuple[str, ...]) -> list[Table]:
    bucket = Column("bucket", BigInteger, primary_key=True)
    model = Table(
        f"rollup_model_{grain}",
        meta,
        bucket,
        Column("provider", Text, primary_key=True),
        Column("model", Text, primary_key=True),
        *_measures(MODEL_COUNTS, MODEL_MONEY, MODEL_FLOATS, leave_out),
    )
    dim = Table(
        f"rollup_dim_{grain}",
        meta,
        Column("bucket", BigInteger, primary_key=True),
        Column("kind", Text, primary_key=True),
        Column("value", Text, primary_key=True),
        *_measures(DIM_COUNTS, DIM_MONEY),
    )
    latency = Table(
        f"rollup_latency_{grain}",
        meta,
        Column("bucket", BigInteger, primary_key=True),
        Column("provider", Text, primary_key=True),
        Column("model", Text, primary_key=True),
        Column("metric", Text, primary_key=True),
        Column("bin", Integer, primary_key=True),
        Column("n", BigInteger, nullable=False, default=0),
    )
    return [model, dim, latency]


def rollup_tables(meta: MetaData, as_created: bool = False) -> dict[str, Table]:
    """Every rollup table, defined on ``meta``, by name; ``as_created``: as
    migration 0005 created them (without the columns 0007 added)."""
    leave_out = CONTEXT_COLUMNS if as_created else ()
    tables = [table for grain in GRAINS for table in _grain_tables(meta, grain, leave_out)]
    traces = Table(
        "rollup_traces",
        meta,
        Column("trace_id", Text, primary_key=True),
        *_measures(TRACE_COUNTS, TRACE_MONEY),
        Column("first_at", DateTime(timezone=True), nullable=False),
        Column("last_at", DateTime(timezone=True), nullable=False),
        Index("ix_rollup_traces_first", "first_at"),
        Index("ix_rollup_traces_cost", "cost_total"),
    )
    return {table.name: table for table in (*tables, traces)}


rollup_metadata = MetaData()
ROLLUPS = rollup_tables(rollup_metadata)
