"""Anthropic's Admin API usage and cost reports, as the fetch loop calls them.

References (checked for every parameter and the page shape):
https://docs.anthropic.com/en/api/admin-api/usage-cost/get-messages-usage-report and
https://docs.anthropic.com/en/api/admin-api/usage-cost/get-cost-report (now also at
https://platform.claude.com/docs/en/api/admin/usage_report/retrieve_messages and
https://platform.claude.com/docs/en/api/admin/cost_report).

``starting_at`` (buckets starting on or after) and ``ending_at`` (buckets ending
before) are RFC 3339; ``bucket_width=1d`` holds at most 31 buckets a page (the
cost report has only 1d). ``group_by[]`` is repeated, one value each. A page is
``{"data": [{"starting_at", "ending_at", "results": [...]}], "has_more",
"next_page"}``; ``next_page`` goes back as ``page``. The key is an Admin API key
(``sk-ant-admin...``), sent as ``x-api-key`` with ``anthropic-version: 2023-06-01``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from llmtally.reconcile.admin_http import AuthHelp
from llmtally.reconcile.endpoints import Endpoint, Provider, Query

__all__ = ["ANTHROPIC", "rfc3339"]

_MESSAGES_GROUPS = ("model", "api_key_id", "workspace_id", "service_tier", "context_window")
_COST_GROUPS = ("workspace_id", "description")
VERSION = "2023-06-01"


def rfc3339(moment: dt.datetime) -> str:
    """``2026-11-06T00:00:00Z``: UTC, whole seconds, as the reference's examples."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _query(groups: Sequence[str]) -> Query:
    def query(
        start: dt.datetime, end: dt.datetime, page: str | None, limit: int
    ) -> list[tuple[str, str]]:
        pairs = [
            ("starting_at", rfc3339(start)),
            ("ending_at", rfc3339(end)),
            ("bucket_width", "1d"),
            *(("group_by[]", group) for group in groups),
            ("limit", str(limit)),
        ]
        return pairs + ([("page", page)] if page else [])

    return query


def _headers(key: str) -> Mapping[str, str]:
    return {
        "x-api-key": key,
        "anthropic-version": VERSION,
        "Accept": "application/json",
        "User-Agent": "llmtally-reconcile",
    }


def _moment(value: Any) -> dt.datetime:
    if not isinstance(value, str):
        raise ValueError("starting_at/ending_at are not RFC 3339 text")
    moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _span(bucket: Mapping[str, Any]) -> tuple[dt.datetime, dt.datetime]:
    return _moment(bucket["starting_at"]), _moment(bucket["ending_at"])


ANTHROPIC = Provider(
    name="anthropic",
    key_env="ANTHROPIC_ADMIN_KEY",
    base_env="LLMTALLY_ANTHROPIC_ADMIN_BASE_URL",
    default_base="https://api.anthropic.com",
    auth=AuthHelp(
        "ANTHROPIC_ADMIN_KEY",
        "an Admin API key (sk-ant-admin...) made by an organization admin in the "
        "Console (Settings > Admin keys)",
    ),
    endpoints=(
        Endpoint(
            "usage:messages", "/v1/organizations/usage_report/messages", _query(_MESSAGES_GROUPS)
        ),
        Endpoint("costs", "/v1/organizations/cost_report", _query(_COST_GROUPS)),
    ),
    headers=_headers,
    bucket_span=_span,
)
