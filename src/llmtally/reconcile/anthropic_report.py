"""Anthropic's Admin API usage report (messages) and cost report into buckets.

Shapes, from the API reference:
https://docs.anthropic.com/en/api/admin-api/usage-cost/get-messages-usage-report
(now https://platform.claude.com/docs/en/api/admin/usage_report/retrieve_messages) and
https://docs.anthropic.com/en/api/admin-api/usage-cost/get-cost-report
(https://platform.claude.com/docs/en/api/admin/cost_report/retrieve):

``{"data": [{"starting_at": RFC 3339, "ending_at": RFC 3339 (exclusive),
"results": [...]}], "has_more": bool, "next_page": str|null}``

Usage results: ``uncached_input_tokens``, ``cache_read_input_tokens``,
``cache_creation: {ephemeral_5m_input_tokens, ephemeral_1h_input_tokens}``,
``output_tokens``, ``server_tool_use: {web_search_requests}`` and the groups
``api_key_id``, ``workspace_id``, ``model``, ``service_tier``,
``context_window``. Cost results: ``amount``, ``currency``, ``description``,
``cost_type``, ``model``, ``service_tier``, ``token_type``,
``context_window``, ``workspace_id``.

The cost ``amount`` is a decimal string in the currency's lowest unit: the
reference says "Cost amount in lowest currency units (e.g. cents) as a decimal
string. For example, "123.45" in "USD" represents $1.23" (the exact value is
$1.2345; Anthropic's cookbook divides by 100 too). It is stored divided by 100,
exactly. A JSON number there is refused: the documented type is a string.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from llmtally.ledger.schema import check_fixed
from llmtally.reconcile.rows import (
    Bucket,
    ReportError,
    amount_field,
    count_field,
    parse_buckets,
    rfc3339_field,
    text_field,
)

__all__ = ["anthropic_kind", "is_anthropic_page", "parse_anthropic_page"]

_HUNDRED = Decimal(100)


def is_anthropic_page(page: Mapping[str, Any]) -> bool:
    """Whether ``page`` has Anthropic's shape: buckets with ``starting_at``."""
    data = page.get("data")
    return isinstance(data, list) and any(
        isinstance(b, Mapping) and "starting_at" in b for b in data
    )


def anthropic_kind(page: Mapping[str, Any]) -> str | None:
    """``usage:messages`` or ``costs`` by the first result's fields."""
    for bucket in page.get("data") or []:
        results = bucket.get("results") if isinstance(bucket, Mapping) else None
        for result in results or []:
            if not isinstance(result, Mapping):
                continue
            if "uncached_input_tokens" in result:
                return "usage:messages"
            if "amount" in result:
                return "costs"
            raise ReportError("an Anthropic result that is neither usage nor cost")
    return None


def parse_anthropic_page(page: Mapping[str, Any], kind: str, where: str) -> list[Bucket]:
    """The page's buckets; ``kind`` is ``usage:messages`` or ``costs``."""

    def times(raw: Mapping[str, Any], at: str) -> tuple[dt.datetime, dt.datetime]:
        return rfc3339_field(raw, "starting_at", at), rfc3339_field(raw, "ending_at", at)

    def row_of(result: Mapping[str, Any], spot: str) -> dict[str, Any]:
        return _cost(result, spot) if kind == "costs" else _usage(result, spot)

    return parse_buckets(page, "anthropic", kind, where, times, row_of)


def _nested(result: Mapping[str, Any], name: str, where: str) -> Mapping[str, Any]:
    value = result.get(name)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ReportError(f"{where}: field {name!r}: expected a JSON object")
    return value


def _usage(result: Mapping[str, Any], where: str) -> dict[str, Any]:
    cache = _nested(result, "cache_creation", where)
    tools = _nested(result, "server_tool_use", where)
    return {
        "model": text_field(result, "model", where),
        "api_key_id": text_field(result, "api_key_id", where),
        "project_id": text_field(result, "workspace_id", where),
        "service_tier": text_field(result, "service_tier", where),
        "context_window": text_field(result, "context_window", where),
        "uncached_input_tokens": count_field(result, "uncached_input_tokens", where, True),
        "cache_read_tokens": count_field(result, "cache_read_input_tokens", where),
        "cache_write_5m_tokens": count_field(
            cache, "ephemeral_5m_input_tokens", f"{where}, cache_creation"
        ),
        "cache_write_1h_tokens": count_field(
            cache, "ephemeral_1h_input_tokens", f"{where}, cache_creation"
        ),
        "output_tokens": count_field(result, "output_tokens", where),
        "web_search_requests": count_field(
            tools, "web_search_requests", f"{where}, server_tool_use"
        ),
    }


def _cost(result: Mapping[str, Any], where: str) -> dict[str, Any]:
    cents = result.get("amount")
    if not isinstance(cents, str):
        raise ReportError(
            f"{where}: field 'amount': expected a decimal string of cents, got {cents!r}"
        )
    amount = amount_field(cents, "amount", where) / _HUNDRED
    currency = text_field(result, "currency", where) or "USD"
    return {
        "project_id": text_field(result, "workspace_id", where),
        "line_item": text_field(result, "description", where),
        "model": text_field(result, "model", where),
        "cost_type": text_field(result, "cost_type", where),
        "service_tier": text_field(result, "service_tier", where),
        "token_type": text_field(result, "token_type", where),
        "context_window": text_field(result, "context_window", where),
        "currency": currency.upper(),
        "amount": check_fixed(amount),
    }
