"""Analytics over the ledger: spend reports grouped in SQL, and exports of every call."""

from __future__ import annotations

from llmtally.analytics.export import (
    EXPORT_COLUMNS,
    export_rows,
    parquet_schema,
    write_csv,
    write_jsonl,
    write_parquet,
)
from llmtally.analytics.report import GROUPS, ReportRow, spend_report, spend_total

__all__ = [
    "EXPORT_COLUMNS",
    "GROUPS",
    "ReportRow",
    "export_rows",
    "parquet_schema",
    "spend_report",
    "spend_total",
    "write_csv",
    "write_jsonl",
    "write_parquet",
]
