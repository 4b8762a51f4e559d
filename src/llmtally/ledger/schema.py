"""The ledger's tables (SQLAlchemy Core): one typed column per metric, bodies apart.

``calls_v1_columns`` is what migration 0001 created and must never change: a
later column is added by a new migration *and* appended to ``calls`` below,
and a test checks that the migrated database matches these tables.

Money is exact: ``Fixed`` is ``NUMERIC(20, 10)`` on PostgreSQL and an integer
count of 1e-10 units on SQLite (whose NUMERIC is a float), so that sums in SQL
stay exact on both. Amounts are rounded half-even to 10 places on the way in,
and both backends refuse the same range (|x| <= ~9.2e8, ``FIXED_MAX``).
Strings are TEXT: a long model name or trace id never makes an insert fail.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Double,
    Index,
    Integer,
    MetaData,
    Numeric,
    Table,
    Text,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.schema import SchemaItem
from sqlalchemy.types import TypeDecorator, TypeEngine

__all__ = [
    "COST_COLUMNS",
    "FIXED_MAX",
    "MIGRATIONS_TABLE",
    "SCALE",
    "Fixed",
    "alert_attempts",
    "alert_attempts_v10_columns",
    "alert_deliveries",
    "alert_deliveries_v10_columns",
    "alert_rules",
    "alert_rules_v10_columns",
    "alerts",
    "alerts_v10_columns",
    "call_bodies",
    "budgets_v17_columns",
    "call_bodies_v1_columns",
    "calls",
    "calls_v1_columns",
    "calls_v4_columns",
    "calls_v7_columns",
    "calls_v9_columns",
    "calls_v11_columns",
    "calls_v13_columns",
    "calls_v16_columns",
    "check_fixed",
    "gateway_keys",
    "gateway_keys_v1_columns",
    "gateway_keys_v8_columns",
    "lab_cells",
    "lab_cells_v1_columns",
    "lab_runs",
    "lab_runs_v1_columns",
    "metadata",
]

SCALE = 10
_QUANTUM = Decimal(1).scaleb(-SCALE)
_UNITS = Decimal(10) ** SCALE
# The largest amount both backends hold: a signed 64-bit count of 1e-10 units.
FIXED_MAX = Decimal(2**63 - 1) / _UNITS
MIGRATIONS_TABLE = "_llmtally_migrations"

# Cost component -> column; NULL everywhere when the call has no cost.
COST_COLUMNS = {
    "input": "cost_input",
    "cache_read": "cost_cache_read",
    "cache_write": "cost_cache_write",
    "output": "cost_output",
    "reasoning": "cost_reasoning",
    "audio": "cost_audio",
    "images": "cost_images",
    "request": "cost_request",
    "total": "cost_total",
}


class Fixed(TypeDecorator[Decimal]):
    """An exact decimal with 10 places: NUMERIC(20, 10), or scaled BIGINT on SQLite."""

    impl = Numeric(20, SCALE, asdecimal=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(20, SCALE, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        exact = check_fixed(value)
        return int(exact * _UNITS) if dialect.name == "sqlite" else exact

    def bind_processor(self, dialect: Dialect) -> Callable[[Decimal | None], Any] | None:
        """``process_bind_param`` as one function, where the stored type has no
        processor of its own (both databases' here): SQLAlchemy's wrapping costs
        more than the check itself, per amount of every row the ledger writes."""
        if self.impl_instance.bind_processor(dialect) is not None:
            return super().bind_processor(dialect)
        return _to_units if dialect.name == "sqlite" else _checked

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return (Decimal(int(value)) / _UNITS).quantize(_QUANTUM)
        return Decimal(value).quantize(_QUANTUM)


def check_fixed(value: Decimal) -> Decimal:
    """``value`` rounded to 10 places; ValueError if the ledger cannot hold it."""
    exact = Decimal(value).quantize(_QUANTUM, ROUND_HALF_EVEN)
    if not exact.is_finite() or abs(exact) > FIXED_MAX:
        raise ValueError(f"{value} is outside what the ledger stores (|x| <= {FIXED_MAX})")
    return exact


def _to_units(value: Decimal | None) -> int | None:
    return None if value is None else int(check_fixed(value) * _UNITS)


def _checked(value: Decimal | None) -> Decimal | None:
    return None if value is None else check_fixed(value)


def _count(name: str) -> Column[int]:
    return Column(name, BigInteger, nullable=False, default=0)


def calls_v1_columns() -> list[SchemaItem]:
    """The ``calls`` table as migration 0001 created it. Never edit."""
    return [
        Column("id", Text, primary_key=True),
        Column("started_at", DateTime(timezone=True), nullable=False),
        Column("provider", Text, nullable=False),
        Column("model_requested", Text, nullable=False),
        Column("model_served", Text),
        Column("endpoint", Text, nullable=False),
        Column("status", Integer, nullable=False),
        Column("error", Text),
        Column("latency_ms", Double, nullable=False),
        Column("ttft_ms", Double),
        Column("output_tokens_per_s", Double),
        # Usage: totals and subsets (llmtally.usage)
        *(
            _count(name)
            for name in (
                "input_tokens",
                "cache_read_tokens",
                "cache_write_tokens",
                "cache_write_1h_tokens",
                "input_audio_tokens",
                "input_image_tokens",
                "output_tokens",
                "reasoning_tokens",
                "output_audio_tokens",
                "output_image_tokens",
                "characters",
                "requests",
            )
        ),
        Column("images", Text),  # JSON list of {n, size, quality}; NULL when none
        Column("audio_seconds", Fixed),
        Column("service_tier", Text, nullable=False),
        Column("usage_source", Text, nullable=False),
        # Input tokens by role (estimated from the request), when known
        Column("input_system_tokens", BigInteger),
        Column("input_tools_tokens", BigInteger),
        Column("input_history_tokens", BigInteger),
        Column("input_latest_user_tokens", BigInteger),
        # Cost: one exact amount per component, NULL with a reason when unknown
        *(Column(column, Fixed) for column in COST_COLUMNS.values()),
        Column("cost_error", Text),
        Column("price_id", Text),
        Column("price_source", Text),
        Column("price_window", Text),
        Column("catalog_version", Text),
        Column("long_context_above", BigInteger),
        # Attribution
        Column("user_id", Text),
        Column("feature", Text),
        Column("trace_id", Text),
        Column("parent_id", Text),
        Column("tags", Text),  # JSON list of strings; NULL when none
        Column("key_id", Text),
        Index("ix_calls_started_at", "started_at"),
        Index("ix_calls_model", "model_served", "started_at"),
        Index("ix_calls_model_requested", "model_requested", "started_at"),
        Index("ix_calls_user", "user_id", "started_at"),
        Index("ix_calls_feature", "feature", "started_at"),
        Index("ix_calls_key", "key_id", "started_at"),
    ]


def call_bodies_v1_columns() -> list[SchemaItem]:
    """The ``call_bodies`` table as migration 0002 created it. Never edit."""
    return [
        Column("call_id", Text, primary_key=True),
        Column("request_body", Text),
        Column("response_body", Text),
        Column("request_truncated", Boolean, nullable=False, default=False),
        Column("response_truncated", Boolean, nullable=False, default=False),
    ]


def gateway_keys_v1_columns() -> list[SchemaItem]:
    """The ``gateway_keys`` table as migration 0003 created it. Never edit.

    Only the SHA-256 of a key is stored (``key_hash``); ``prefix`` is its first
    8 characters, for display. ``budget_usd`` NULL means no budget; ``period``
    (day | week | month, UTC) is the budget's window.
    """
    return [
        Column("id", Text, primary_key=True),
        Column("name", Text, nullable=False, unique=True),
        Column("key_hash", Text, nullable=False, unique=True),
        Column("prefix", Text, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("revoked_at", DateTime(timezone=True)),
        Column("budget_usd", Fixed),
        Column("period", Text, nullable=False),
    ]


def gateway_keys_v8_columns() -> list[SchemaItem]:
    """What migration 0008 added to ``gateway_keys``: the key's team (a group of
    keys that shares team budgets; NULL: none). Never edit."""
    return [Column("team", Text)]


def calls_v4_columns() -> list[SchemaItem]:
    """What migration 0004 added to ``calls``. Never edit.

    ``saved_cache`` and ``saved_tier`` are what the call saved against list
    price (USD; negative when cache writes or a priority tier cost more);
    ``prompt_fingerprint`` groups calls that share a system prompt.
    """
    return [
        Column("saved_cache", Fixed),
        Column("saved_tier", Fixed),
        Column("prompt_fingerprint", Text),
        Index("ix_calls_trace", "trace_id", "started_at"),
        Index("ix_calls_cost", "cost_total"),
    ]


def lab_runs_v1_columns() -> list[SchemaItem]:
    """The ``lab_runs`` table as migration 0006 created it. Never edit.

    One row per lab run (``llmtally lab run``): the experiment's name, file and
    fingerprint (a run of the same experiment resumes it), the plan as JSON
    (prompts, models, checks) so results show without the file, and its status.
    """
    return [
        Column("id", Text, primary_key=True),
        Column("name", Text, nullable=False),
        Column("experiment_path", Text, nullable=False),
        Column("fingerprint", Text, nullable=False),
        Column("plan", Text, nullable=False),
        Column("total_cells", Integer, nullable=False),
        Column("status", Text, nullable=False),
        Column("stop_reason", Text),
        Column("max_usd", Fixed),
        Column("gateway", Text, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False),
        Index("ix_lab_runs_fingerprint", "fingerprint", "created_at"),
    ]


def lab_cells_v1_columns() -> list[SchemaItem]:
    """The ``lab_cells`` table as migration 0006 created it. Never edit.

    A finished cell (prompt x row x model x repetition) of a run: its output and
    check results. Tokens, cost and latency are not copied: ``call_id`` is the
    ledger row of the answer, and every attempt's ledger row has the trace id
    ``lab:<run>:<cell>:<attempt>``.
    """
    return [
        Column("run_id", Text, primary_key=True),
        Column("cell_key", Text, primary_key=True),
        Column("prompt_id", Text, nullable=False),
        Column("row_index", Integer, nullable=False),
        Column("model", Text, nullable=False),
        Column("repetition", Integer, nullable=False),
        Column("row_values", Text, nullable=False),  # JSON object
        Column("status", Text, nullable=False),  # ok | failed
        Column("output", Text),
        Column("call_id", Text),
        Column("attempts", Integer, nullable=False),
        Column("error", Text),
        Column("checks", Text),  # JSON list of {name, passed, detail}
        Column("passed", Boolean),  # NULL when the experiment has no checks
        Column("client_latency_ms", Double),
        Column("client_ttft_ms", Double),
        Column("finished_at", DateTime(timezone=True), nullable=False),
    ]


def calls_v7_columns() -> list[SchemaItem]:
    """What migration 0007 added to ``calls``. Never edit.

    ``input_context_tokens``: prompt tokens that tools returned (tool messages,
    tool_result blocks, function responses): retrieved context.
    """
    return [Column("input_context_tokens", BigInteger)]


def alert_rules_v10_columns() -> list[SchemaItem]:
    """The ``alert_rules`` table as migration 0010 created it. Never edit.

    Rules added with ``llmtally alerts add`` (rules in the config file are not
    copied here): ``spec`` is the rule as JSON (``llmtally.alerts.config``).
    """
    return [
        Column("name", Text, primary_key=True),
        Column("kind", Text, nullable=False),  # spend | anomaly
        Column("spec", Text, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
    ]


def alerts_v10_columns() -> list[SchemaItem]:
    """The ``alerts`` table as migration 0010 created it. Never edit.

    One row per alert fired. ``dedup_key`` is unique: an evaluator claims an
    alert by inserting it (``ON CONFLICT DO NOTHING``), so a rule's threshold
    fires once per period however many evaluators run. ``notify`` is false for
    a lower threshold reached together with a higher one (recorded, not sent).
    """
    return [
        Column("id", Text, primary_key=True),
        Column("dedup_key", Text, nullable=False, unique=True),
        Column("rule", Text, nullable=False),
        Column("kind", Text, nullable=False),  # threshold | pace | anomaly
        Column("level", Integer),  # the threshold, percent
        Column("scope", Text, nullable=False),  # JSON object
        Column("period", Text, nullable=False),
        Column("period_start", DateTime(timezone=True)),
        Column("period_end", DateTime(timezone=True)),
        Column("spend", Fixed, nullable=False),
        Column("amount", Fixed),
        Column("projected", Fixed),
        Column("elapsed", Fixed),
        Column("baseline", Fixed),
        Column("factor", Fixed),
        Column("cause", Text),  # JSON object
        Column("message", Text, nullable=False),
        Column("notify", Boolean, nullable=False),
        Column("fired_at", DateTime(timezone=True), nullable=False),
        Index("ix_alerts_fired_at", "fired_at"),
    ]


def alert_deliveries_v10_columns() -> list[SchemaItem]:
    """The ``alert_deliveries`` table as migration 0010 created it. Never edit.

    One row per alert and webhook: ``state`` pending | delivered | failed;
    ``target`` is the webhook's URL with its secrets cut out. An attempt is
    claimed by a conditional update of ``attempts`` and ``lease_until``.
    """
    return [
        Column("alert_id", Text, primary_key=True),
        Column("webhook", Text, primary_key=True),
        Column("target", Text, nullable=False),
        Column("state", Text, nullable=False),
        Column("attempts", Integer, nullable=False, default=0),
        Column("next_attempt_at", DateTime(timezone=True), nullable=False),
        Column("lease_until", DateTime(timezone=True)),
        Column("last_error", Text),
        Column("delivered_at", DateTime(timezone=True)),
        Index("ix_alert_deliveries_due", "state", "next_attempt_at"),
    ]


def alert_attempts_v10_columns() -> list[SchemaItem]:
    """The ``alert_attempts`` table as migration 0010 created it. Never edit.

    Every webhook POST tried: when, how long, the HTTP status or the error.
    """
    return [
        Column("alert_id", Text, primary_key=True),
        Column("webhook", Text, primary_key=True),
        Column("attempt", Integer, primary_key=True),
        Column("started_at", DateTime(timezone=True), nullable=False),
        Column("duration_ms", Double, nullable=False),
        Column("http_status", Integer),
        Column("error", Text),
        Column("ok", Boolean, nullable=False),
    ]


def calls_v9_columns() -> list[SchemaItem]:
    """What migration 0009 added to ``calls``. Never edit.

    ``flags``: what was unusual about the call, as comma-separated names
    (``client_disconnected``, ``budget_unchecked``); NULL when nothing was.
    """
    return [Column("flags", Text)]


def calls_v11_columns() -> list[SchemaItem]:
    """What migration 0011 added to ``calls``. Never edit.

    ``source_cost``: what the producer of the call (an OTel span's own cost
    attribute, an imported tool's spend) said it cost, in USD; NULL when it said
    nothing, or gave another currency or an amount that cannot be true. It sits
    beside llmtally's ``cost_total``, never replaces it. The partial index keeps
    the comparison (``llmtally report``) to the calls that have one.
    """
    return [
        Column("source_cost", Fixed),
        Index(
            "ix_calls_source_cost",
            "started_at",
            sqlite_where=text("source_cost IS NOT NULL"),
            postgresql_where=text("source_cost IS NOT NULL"),
        ),
    ]


def calls_v13_columns() -> list[SchemaItem]:
    """What migration 0013 added to ``calls``. Never edit.

    Facts of the request and response, recorded with the call so that the cost
    advisor reads them over millions of calls without the stored bodies
    (:mod:`llmtally.providers.request_facts`); NULL when unknown:
    ``request_sha256`` (hex SHA-256 of the JSON request body as the client sent
    it), ``finish_reason`` (``stop``, ``length``, ``tool_calls``,
    ``content_filter`` or ``other``), ``max_output_tokens`` (the output cap the
    request asked for), ``reasoning_effort`` (an effort name or
    ``budget:<tokens>``, at most 32 characters).
    """
    return [
        Column("request_sha256", Text),
        Column("finish_reason", Text),
        Column("max_output_tokens", BigInteger),
        Column("reasoning_effort", Text),
    ]


def calls_v16_columns() -> list[SchemaItem]:
    """What migration 0016 added to ``calls``. Never edit.

    A call priced in another currency than USD (a CNY price file, say): the
    ``cost_*`` columns (and ``saved_*``) hold its cost converted to USD, the
    ledger's one currency, and these keep what was billed and how it was
    converted (:mod:`llmtally.currency.pivot`): ``billed_currency`` (ISO 4217;
    NULL: USD, nothing converted), ``billed_total`` (the meter's total in that
    currency), ``fx_rate`` (1 unit of it in USD, every digit the conversion
    used, as text), ``fx_date`` (the rate's day) and ``fx_source`` (where the
    rate was read). With no rate for the call's day, the cost is NULL with the
    reason in ``cost_error``, and ``billed_*`` still say what was billed.
    """
    return [
        Column("billed_currency", Text),
        Column("billed_total", Fixed),
        Column("fx_rate", Text),
        Column("fx_date", Date),
        Column("fx_source", Text),
    ]


def budgets_v17_columns() -> list[SchemaItem]:
    """What migration 0017 added to ``budgets`` (ledger/budget_tables.py). Never edit.

    ``currency``: the ISO 4217 code a dollar budget's ``amount`` was given in
    (``budgets add --spend 7000 --currency CNY``); NULL: USD. Admission converts
    such a limit to USD at its window's first day's rate (llmtally.budgets.rules).
    """
    return [Column("currency", Text)]


metadata = MetaData()


calls = Table(
    "calls",
    metadata,
    *calls_v1_columns(),
    *calls_v4_columns(),
    *calls_v7_columns(),
    *calls_v9_columns(),
    *calls_v11_columns(),
    *calls_v13_columns(),
    *calls_v16_columns(),
)
call_bodies = Table("call_bodies", metadata, *call_bodies_v1_columns())
gateway_keys = Table(
    "gateway_keys", metadata, *gateway_keys_v1_columns(), *gateway_keys_v8_columns()
)
lab_runs = Table("lab_runs", metadata, *lab_runs_v1_columns())
lab_cells = Table("lab_cells", metadata, *lab_cells_v1_columns())
alert_rules = Table("alert_rules", metadata, *alert_rules_v10_columns())
alerts = Table("alerts", metadata, *alerts_v10_columns())
alert_deliveries = Table("alert_deliveries", metadata, *alert_deliveries_v10_columns())
alert_attempts = Table("alert_attempts", metadata, *alert_attempts_v10_columns())
