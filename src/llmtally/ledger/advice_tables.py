"""The advisor's rollup tables (migration 0015), kept by ``ledger/advice_rollup.py``.

- ``rollup_advice_day``: the successful calls (2xx) summed per UTC day and per
  everything that decides how they are billed or what could change: feature,
  provider, model (served, else requested), service tier, streamed (a time to
  first token), tagged ``batchable``, the price window and long-context cliff
  they were priced in (``calls.price_window``, ``long_context_above``; -1 for a
  call that could not be priced), and ``single``: the id of a call with media
  units (images, audio seconds: priced per unit, never summed), '' for others.
  So every call of a row would be billed at the same rates by its model, and
  the row's summed usage prices exactly.
- ``rollup_prefix_day``: the same rows split by prompt fingerprint, with what a
  provider's prompt cache would do on them for each TTL (reads and writes of the
  shared prefix, in calls and tokens): each call's gap to the previous call of
  its (fingerprint, provider, model) is taken when it is written.
- ``advice_prefix_last``: the last call seen per (fingerprint, provider, model).
- ``rollup_tokens_day``: per cell, histograms of the calls' output, reasoning
  (text-only output) and history tokens, in the bins of ``ledger/token_bins.py``
  (calls and tokens per bin), so a cap at a bin edge has exact tokens above it.
- ``advice_trace_last``: the last call seen per trace and (feature, provider,
  model) and its history tokens, for whether a conversation's history rises or
  drops from call to call (a trace's background calls to other features or
  models are conversations of their own).
- ``rollup_fingerprint_day``: per cell and system prompt (fingerprint, with
  per-role counts), the calls, their system, input and output tokens.
- ``rollup_repeat_day``: per cell, the calls a response cache keeping entries
  ``REPEAT_WINDOW_S`` would answer (the same request's SHA-256 within the window
  opened by the call that missed), their usage, and the identical requests sent
  after their window ended; ``advice_digest_open``: per request digest, when its
  current window opened.

``rollup_advice_day`` also counts what the request facts (migration 0013) say:
calls with text-only output, of them stopped by the output cap (``length``) or
without a finish reason; calls that sent tool schemas, of them ending in a tool
call or without a finish reason, and their tools tokens; history rising and
dropping from the previous call of the trace; the least and greatest reasoning
effort asked for.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Integer, MetaData, Table, Text

from llmtally.ledger.rows import USAGE_COUNTS
from llmtally.ledger.schema import Fixed

__all__ = [
    "ADVICE_COUNTS",
    "FACT_COUNTS",
    "FINGERPRINT_COUNTS",
    "METRICS",
    "REPEAT_COUNTS",
    "REPEAT_WINDOW_S",
    "ADVICE_KEYS",
    "PREFIX_COUNTS",
    "TTLS",
    "advice_tables",
]

NO_FEATURE = "(none)"
ADVICE_KEYS = (
    "feature",
    "provider",
    "model",
    "tier",
    "streamed",
    "batchable",
    "price_window",
    "cliff",
    "single",
)
ROLE_COUNTS = tuple(
    f"role_{role}" for role in ("system", "tools", "history", "latest_user", "context")
)
FACT_COUNTS = (
    "text_calls",
    "length_stops",
    "finish_unknown",
    "tools_calls",
    "tools_used",
    "tools_unknown",
    "tools_tokens",
    "history_rises",
    "history_drops",
)
ADVICE_COUNTS = ("calls", *USAGE_COUNTS, *ROLE_COUNTS, "role_calls", "unpriced", *FACT_COUNTS)
METRICS = ("output", "reasoning", "history")
FINGERPRINT_COUNTS = ("calls", "system_tokens", "input_tokens", "output_tokens")
REPEAT_WINDOW_S = 3600
REPEAT_COUNTS = ("repeats", "late", *USAGE_COUNTS)
TTLS = {"5m": 300, "1h": 3600}
PREFIX_COUNTS = (
    "calls",
    "unchanged",
    "already_read",
    "late",
    *(
        f"{what}_{ttl}"
        for ttl in TTLS
        for what in ("reads", "read_tokens", "writes", "write_tokens")
    ),
)


def _keys() -> list[Column[object]]:
    kinds = {"streamed": Integer, "batchable": Integer, "cliff": BigInteger}
    return [Column(name, kinds.get(name, Text), primary_key=True) for name in ADVICE_KEYS]


def advice_tables(meta: MetaData) -> dict[str, Table]:
    """The advisor's tables, defined on ``meta``, by name."""
    counts = [Column(name, BigInteger, nullable=False, default=0) for name in ADVICE_COUNTS]
    advice = Table(
        "rollup_advice_day",
        meta,
        Column("bucket", BigInteger, primary_key=True),
        *_keys(),
        *counts,
        Column("cost_total", Fixed, nullable=False, default=0),
        Column("prompt_tokens", BigInteger, nullable=False, default=0),  # the largest
        Column("first_at", DateTime(timezone=True), nullable=False),
        Column("last_at", DateTime(timezone=True), nullable=False),
        Column("images", Text),  # a single call's, as in ``calls``
        Column("audio_seconds", Fixed),
        Column("effort_min", Text),
        Column("effort_max", Text),
    )
    prefix = Table(
        "rollup_prefix_day",
        meta,
        Column("bucket", BigInteger, primary_key=True),
        Column("fingerprint", Text, primary_key=True),
        *_keys(),
        *(Column(name, BigInteger, nullable=False, default=0) for name in PREFIX_COUNTS),
        Column("prefix_min", BigInteger, nullable=False),
        Column("prefix_max", BigInteger, nullable=False),
    )
    last = Table(
        "advice_prefix_last",
        meta,
        Column("fingerprint", Text, primary_key=True),
        Column("provider", Text, primary_key=True),
        Column("model", Text, primary_key=True),
        Column("last_at", DateTime(timezone=True), nullable=False),
    )
    tokens = Table(
        "rollup_tokens_day",
        meta,
        Column("bucket", BigInteger, primary_key=True),
        *_keys(),
        Column("metric", Text, primary_key=True),
        Column("bin", Integer, primary_key=True),
        Column("calls", BigInteger, nullable=False, default=0),
        Column("tokens", BigInteger, nullable=False, default=0),
    )
    trace = Table(
        "advice_trace_last",
        meta,
        Column("trace_id", Text, primary_key=True),
        Column("feature", Text, primary_key=True),
        Column("provider", Text, primary_key=True),
        Column("model", Text, primary_key=True),
        Column("last_at", DateTime(timezone=True), nullable=False),
        Column("history", BigInteger, nullable=False),
    )
    fingerprint = Table(
        "rollup_fingerprint_day",
        meta,
        Column("bucket", BigInteger, primary_key=True),
        Column("fingerprint", Text, primary_key=True),
        *_keys(),
        *(Column(name, BigInteger, nullable=False, default=0) for name in FINGERPRINT_COUNTS),
        Column("system_min", BigInteger, nullable=False),
        Column("system_max", BigInteger, nullable=False),
    )
    repeat = Table(
        "rollup_repeat_day",
        meta,
        Column("bucket", BigInteger, primary_key=True),
        *_keys(),
        *(Column(name, BigInteger, nullable=False, default=0) for name in REPEAT_COUNTS),
    )
    opened = Table(
        "advice_digest_open",
        meta,
        Column("digest", Text, primary_key=True),
        Column("last_at", DateTime(timezone=True), nullable=False),  # the window's opening
    )
    tables = (advice, prefix, last, tokens, trace, fingerprint, repeat, opened)
    return {table.name: table for table in tables}


advice_metadata = MetaData()
ADVICE_TABLES = advice_tables(advice_metadata)
