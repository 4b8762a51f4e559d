"""The ``advice_applied`` table (created by migration 0014): the changes a person
says they applied (``llmtally advise applied KIND --feature F``), so that the
advisor can measure what each one saved (``llmtally.advisor.realised``).

One row per mark: the advisor's kind, where (the feature, and the model when
the change was to one model only), when it took effect, and a free note.
Columns are never edited once released: a later change is a new migration.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, MetaData, Table, Text
from sqlalchemy.sql.schema import SchemaItem

__all__ = ["advice_applied", "advice_applied_v14_columns", "applied_metadata"]


def advice_applied_v14_columns() -> list[SchemaItem]:
    """``advice_applied`` as migration 0014 created it. Never edit."""
    return [
        Column("id", Text, primary_key=True),  # a ULID: sorts by when it was marked
        Column("kind", Text, nullable=False),
        Column("feature", Text, nullable=False),
        Column("model", Text),  # NULL: every model of the feature
        Column("applied_at", DateTime(timezone=True), nullable=False),
        Column("note", Text),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Index("ix_advice_applied_at", "applied_at"),
    ]


applied_metadata = MetaData()
advice_applied = Table("advice_applied", applied_metadata, *advice_applied_v14_columns())
