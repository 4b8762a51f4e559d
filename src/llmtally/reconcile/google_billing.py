"""Google Cloud Billing export rows (Gemini API / Vertex AI) into cost buckets.

Shape: the standard usage cost table exported to BigQuery,
https://cloud.google.com/billing/docs/how-to/export-data-bigquery-tables/standard-usage
(``billing_account_id``, ``service.description``, ``sku.description``,
``usage_start_time``, ``usage_end_time``, ``project.id``, ``cost``,
``currency``, ``usage.amount``, ``usage.unit``, ``credits[].amount``), saved
as newline-delimited JSON (nested records as exported) or as CSV from a query
(BigQuery cannot export nested columns to CSV, so the columns are flattened:
``service.description`` or ``service_description`` both read).

Only rows of the services "Gemini API" and "Vertex AI" are kept; others are
counted as skipped. Each row's bucket is its usage period (an hour); rows of
the same project, SKU, currency and unit in one hour are summed (the export
splits them by labels and location, which llmtally does not keep). The model
is read from the SKU's description where it names one ("Gemini 2.5 Flash
Input Tokens" -> ``gemini-2.5-flash``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from llmtally.reconcile.rows import Bucket, ReportError, amount_field, rfc3339_field, text_field

__all__ = ["GEMINI_SERVICES", "flatten", "is_billing_row", "parse_billing_rows", "sku_model"]

GEMINI_SERVICES = frozenset({"gemini api", "vertex ai"})
_MODEL = re.compile(r"\bGemini\s+(\d+(?:\.\d+)?)\s+(Flash[- ]Lite|Flash|Pro|Ultra|Nano)\b", re.I)


def sku_model(description: str | None) -> str | None:
    """``gemini-<version>-<tier>`` when the SKU's description names a Gemini model."""
    match = _MODEL.search(description or "")
    if match is None:
        return None
    tier = re.sub(r"[- ]+", "-", match.group(2).lower())
    return f"gemini-{match.group(1)}-{tier}"


def flatten(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row with nested records as ``record_field`` keys (``service.description``
    and ``service_description`` alike); ``credits`` summed to one amount."""
    flat: dict[str, Any] = {}
    for key, value in row.items():
        name = str(key).strip().lower().replace(".", "_")
        if name == "credits" and isinstance(value, list):
            flat["credits"] = value
        elif isinstance(value, Mapping):
            for inner, item in value.items():
                flat[f"{name}_{str(inner).lower()}"] = item
        else:
            flat[name] = value
    return flat


def is_billing_row(row: Mapping[str, Any]) -> bool:
    """Whether ``row`` (flattened) looks like a billing export row."""
    return "sku_description" in row and "cost" in row and "usage_start_time" in row


def _credits(row: Mapping[str, Any], where: str) -> Decimal | None:
    value = row.get("credits")
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, list):
        total = Decimal(0)
        for index, credit in enumerate(value, start=1):
            if not isinstance(credit, Mapping):
                raise ReportError(f"{where}: field 'credits': item {index} is not an object")
            total += amount_field(credit.get("amount"), "credits.amount", where, negative=True)
        return total
    return amount_field(value, "credits", where, negative=True)


def _row(row: Mapping[str, Any], where: str) -> dict[str, Any]:
    sku = text_field(row, "sku_description", where, required=True)
    currency = text_field(row, "currency", where, required=True)
    assert currency is not None
    usage = row.get("usage_amount")
    return {
        "project_id": text_field(row, "project_id", where),
        "service": text_field(row, "service_description", where),
        "line_item": sku,
        "model": sku_model(sku),
        "cost_type": text_field(row, "cost_type", where),
        "currency": currency.upper(),
        "usage_unit": text_field(row, "usage_unit", where),
        "amount": amount_field(row.get("cost"), "cost", where, negative=True),
        "credits": _credits(row, where),
        "usage_amount": None if usage in (None, "") else amount_field(usage, "usage.amount", where),
    }


def parse_billing_rows(rows: Iterable[tuple[str, Mapping[str, Any]]]) -> tuple[list[Bucket], int]:
    """The Gemini / Vertex AI rows as hourly cost buckets, and how many rows of
    other services were skipped. ``rows`` are ``(where, flattened row)``."""
    buckets: dict[tuple[Any, ...], Bucket] = {}
    skipped = 0
    for where, row in rows:
        service = text_field(row, "service_description", where, required=True)
        if (service or "").strip().lower() not in GEMINI_SERVICES:
            skipped += 1
            continue
        start = rfc3339_field(row, "usage_start_time", where)
        end = rfc3339_field(row, "usage_end_time", where)
        account = text_field(row, "billing_account_id", where)
        key = (account, start, end)
        bucket = buckets.get(key)
        if bucket is None:
            bucket = Bucket("google", "costs", start, end, where, account=account)
            buckets[key] = bucket
        bucket.add(_row(row, where))
    return list(buckets.values()), skipped
