"""The tables that hold the providers' reports (created by migration 0012).

- ``provider_usage``: one row per provider usage bucket and group (model, API
  key, project / workspace, batch, tier, context window, ...). Token counts
  are the provider's own: ``uncached_input_tokens`` is input that was neither
  read from nor written to a cache (OpenAI's ``input_tokens`` minus
  ``input_cached_tokens``; Anthropic's ``uncached_input_tokens``).
- ``provider_costs``: one row per billed line (line item, SKU, description),
  with its exact amount (``Fixed``) and currency.

A NULL grouping column means the report was not grouped by it. The primary key
is the bucket plus ``group_key``, a canonical text of every grouping value
(NULLs included), so a bucket imported twice is one row, never two, on both
databases (a plain unique index would let NULLs repeat).

Columns are never edited once released: a later change is a new migration.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    MetaData,
    Table,
    Text,
)
from sqlalchemy.sql.schema import SchemaItem

from llmtally.ledger.schema import Fixed

__all__ = [
    "COST_GROUP_COLUMNS",
    "USAGE_COUNT_COLUMNS",
    "USAGE_GROUP_COLUMNS",
    "provider_costs",
    "provider_costs_v12_columns",
    "provider_usage",
    "provider_usage_v12_columns",
    "reconcile_metadata",
]

# What a usage row is grouped by (besides provider, account, kind and bucket).
USAGE_GROUP_COLUMNS = (
    "model",
    "api_key_id",
    "project_id",
    "user_id",
    "batch",
    "service_tier",
    "context_window",
    "image_size",
    "image_source",
)
# The counts of a usage row: summed when a report splits a group further.
USAGE_COUNT_COLUMNS = (
    "requests",
    "uncached_input_tokens",
    "cache_read_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
    "input_audio_tokens",
    "output_audio_tokens",
    "web_search_requests",
    "images",
    "characters",
    "audio_seconds",
)
# What a cost row is grouped by (besides provider, account and bucket).
COST_GROUP_COLUMNS = (
    "project_id",
    "service",
    "line_item",
    "model",
    "cost_type",
    "service_tier",
    "token_type",
    "context_window",
    "currency",
    "usage_unit",
)


def _bucket_columns() -> list[SchemaItem]:
    return [
        Column("provider", Text, primary_key=True),  # openai | anthropic | google
        Column("account", Text, primary_key=True),  # organization / billing account
        Column("kind", Text, primary_key=True),
        Column("bucket_start", DateTime(timezone=True), primary_key=True),
        Column("bucket_end", DateTime(timezone=True), primary_key=True),
        Column("group_key", Text, primary_key=True),
    ]


def provider_usage_v12_columns() -> list[SchemaItem]:
    """The ``provider_usage`` table as migration 0012 created it. Never edit.

    ``kind``: completions | embeddings | images | audio_speeches |
    audio_transcriptions (OpenAI) or messages (Anthropic).
    """
    return [
        *_bucket_columns(),
        *(Column(name, Text) for name in USAGE_GROUP_COLUMNS if name != "batch"),
        Column("batch", Boolean),
        *(Column(name, BigInteger, nullable=False, default=0) for name in USAGE_COUNT_COLUMNS),
        Column("source", Text, nullable=False),  # the file's name, or "fetch"
        Column("imported_at", DateTime(timezone=True), nullable=False),
        Index("ix_provider_usage_period", "provider", "bucket_start"),
    ]


def provider_costs_v12_columns() -> list[SchemaItem]:
    """The ``provider_costs`` table as migration 0012 created it. Never edit.

    ``kind`` is always ``costs`` (kept so both tables share one bucket key).
    ``amount`` is in ``currency`` (Anthropic's cents already divided by 100);
    ``credits`` is Google's credits on the line (negative), NULL elsewhere.
    ``usage_amount`` / ``usage_unit``: Google's usage figure for the line.
    """
    return [
        *_bucket_columns(),
        *(Column(name, Text) for name in COST_GROUP_COLUMNS),
        Column("amount", Fixed, nullable=False),
        Column("credits", Fixed),
        Column("usage_amount", Fixed),
        Column("source", Text, nullable=False),
        Column("imported_at", DateTime(timezone=True), nullable=False),
        Index("ix_provider_costs_period", "provider", "bucket_start"),
    ]


reconcile_metadata = MetaData()
provider_usage = Table("provider_usage", reconcile_metadata, *provider_usage_v12_columns())
provider_costs = Table("provider_costs", reconcile_metadata, *provider_costs_v12_columns())
