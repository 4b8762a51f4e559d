"""OpenAI's organization Usage and Costs APIs, as the fetch loop calls them.

References (checked for every parameter and the page shape):
https://platform.openai.com/docs/api-reference/usage (usage/completions, embeddings,
images, audio_speeches, audio_transcriptions) and
https://platform.openai.com/docs/api-reference/usage/costs (organization/costs);
the examples in https://cookbook.openai.com/examples/completions_usage_api.

``start_time`` (inclusive) and ``end_time`` (exclusive) are unix seconds;
``bucket_width=1d`` holds at most 31 buckets a page (costs allows 180; 31 keeps
both the same). ``group_by`` is repeated, one value each. ``batch`` is grouped
for completions only: the other usage endpoints do not take it. A page is
``{"object": "page", "data": [{"object": "bucket", "start_time", "end_time",
"results": [...]}], "has_more", "next_page"}``; ``next_page`` goes back as ``page``.
The key is an Admin key (``sk-admin-...``), sent as ``Authorization: Bearer``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from llmtally.reconcile.admin_http import AuthHelp
from llmtally.reconcile.endpoints import Endpoint, Provider, Query

__all__ = ["OPENAI"]

_USAGE_GROUPS = ("model", "project_id", "api_key_id")
_COSTS_GROUPS = ("project_id", "line_item")


def _query(groups: Sequence[str]) -> Query:
    def query(
        start: dt.datetime, end: dt.datetime, page: str | None, limit: int
    ) -> list[tuple[str, str]]:
        pairs = [
            ("start_time", str(int(start.timestamp()))),
            ("end_time", str(int(end.timestamp()))),
            ("bucket_width", "1d"),
            *(("group_by", group) for group in groups),
            ("limit", str(limit)),
        ]
        return pairs + ([("page", page)] if page else [])

    return query


def _usage(name: str, *extra_groups: str) -> Endpoint:
    path = f"/v1/organization/usage/{name}"
    return Endpoint(f"usage:{name}", path, _query(_USAGE_GROUPS + extra_groups))


def _headers(key: str) -> Mapping[str, str]:
    return {
        "Authorization": f"Bearer {key}",
        "Accept": "application/json",
        "User-Agent": "llmtally-reconcile",
    }


def _span(bucket: Mapping[str, Any]) -> tuple[dt.datetime, dt.datetime]:
    start, end = bucket["start_time"], bucket["end_time"]
    if not (isinstance(start, int) and isinstance(end, int)):
        raise ValueError("start_time/end_time are not unix seconds")
    return dt.datetime.fromtimestamp(start, dt.UTC), dt.datetime.fromtimestamp(end, dt.UTC)


OPENAI = Provider(
    name="openai",
    key_env="OPENAI_ADMIN_KEY",
    base_env="LLMTALLY_OPENAI_ADMIN_BASE_URL",
    default_base="https://api.openai.com",
    auth=AuthHelp(
        "OPENAI_ADMIN_KEY",
        "an Admin key (sk-admin-...) made by an organization Owner at "
        "https://platform.openai.com/settings/organization/admin-keys",
    ),
    endpoints=(
        _usage("completions", "batch"),
        _usage("embeddings"),
        _usage("images"),
        _usage("audio_speeches"),
        _usage("audio_transcriptions"),
        Endpoint("costs", "/v1/organization/costs", _query(_COSTS_GROUPS)),
    ),
    headers=_headers,
    bucket_span=_span,
)
