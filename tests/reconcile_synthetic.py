"""Synthetic provider reports built from ledger calls, in the documented shapes.

- OpenAI Usage API, completions (https://platform.openai.com/docs/api-reference/usage/completions):
  a page of daily buckets (``start_time`` / ``end_time`` in Unix seconds), one
  result per model and API key with ``input_tokens`` (cached included),
  ``input_cached_tokens``, ``output_tokens``, ``num_model_requests``.
- OpenAI Costs API (https://platform.openai.com/docs/api-reference/usage/costs):
  daily buckets of ``{amount: {value, currency: "usd"}, line_item, project_id}``;
  grouped by line item, ``line_item`` is "<model>, <token kind>"
  (``openai_model_costs_page``) or a line of no model.
- Anthropic usage report, messages
  (https://docs.anthropic.com/en/api/admin-api/usage-cost/get-messages-usage-report):
  daily buckets (``starting_at`` / ``ending_at``, RFC 3339) of results with
  ``uncached_input_tokens``, ``cache_read_input_tokens``, ``cache_creation:
  {ephemeral_5m_input_tokens, ephemeral_1h_input_tokens}``, ``output_tokens``,
  ``model``, ``api_key_id``, ``workspace_id``, ``service_tier``.
- Anthropic cost report (https://docs.anthropic.com/en/api/admin-api/usage-cost/get-cost-report):
  daily buckets of ``{amount: "<cents as a decimal string>", currency: "USD",
  model, description, cost_type: "tokens", ...}``.

A test builds the pages from the calls the provider saw (the ledger's, less what
it planted as not billed, plus what it planted as unrecorded) and bills them at
amounts it gives, so the reports never depend on the code under test.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from llmtally.usage import Call

__all__ = [
    "Seen",
    "anthropic_cost_page",
    "anthropic_usage_page",
    "openai_costs_page",
    "openai_model_costs_page",
    "openai_usage_page",
    "seen",
]


@dataclass(frozen=True)
class Seen:
    """One request as the provider saw it: its day, model, key and tokens (the
    ledger's shape: ``input`` includes cache reads and writes)."""

    day: dt.date
    model: str
    api_key_id: str
    project_id: str | None
    input: int
    cache_read: int = 0
    cache_write: int = 0
    cache_write_1h: int = 0
    output: int = 0
    service_tier: str = "standard"  # as the provider billed it (Anthropic's words)


def seen(calls: Iterable[Call], api_key_id: str, project_id: str | None = None) -> list[Seen]:
    """The calls as the provider saw them, on one key."""
    return [
        Seen(
            day=c.started_at.date(),
            model=c.model,
            api_key_id=api_key_id,
            project_id=project_id,
            input=c.usage.input_tokens,
            cache_read=c.usage.cache_read_tokens,
            cache_write=c.usage.cache_write_tokens,
            cache_write_1h=c.usage.cache_write_1h_tokens,
            output=c.usage.output_tokens,
        )
        for c in calls
    ]


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), dt.UTC)


Group = tuple[str, str, str | None, str]  # model, key, project, service tier


def _groups(requests: Iterable[Seen]) -> dict[dt.date, dict[Group, list[Seen]]]:
    days: dict[dt.date, dict[Group, list[Seen]]] = {}
    for r in requests:
        group = (r.model, r.api_key_id, r.project_id, r.service_tier)
        days.setdefault(r.day, {}).setdefault(group, []).append(r)
    return dict(sorted(days.items()))


def _page(buckets: list[dict[str, Any]], openai: bool) -> dict[str, Any]:
    page: dict[str, Any] = {"data": buckets, "has_more": False, "next_page": None}
    return {"object": "page", **page} if openai else page


def _openai_bucket(day: dt.date, results: list[dict[str, Any]]) -> dict[str, Any]:
    start = int(_day_start(day).timestamp())
    return {"object": "bucket", "start_time": start, "end_time": start + 86400, "results": results}


def openai_usage_page(requests: Iterable[Seen]) -> dict[str, Any]:
    """A completions Usage page: one daily bucket per day, one result per model x key."""
    buckets = []
    for day, groups in _groups(requests).items():
        results = [
            {
                "object": "organization.usage.completions.result",
                "input_tokens": sum(r.input for r in rs),
                "input_cached_tokens": sum(r.cache_read for r in rs),
                "output_tokens": sum(r.output for r in rs),
                "input_audio_tokens": 0,
                "output_audio_tokens": 0,
                "num_model_requests": len(rs),
                "project_id": project,
                "user_id": None,
                "api_key_id": key,
                "model": model,
                "batch": tier == "batch",
                "service_tier": "default" if tier in ("standard", "batch") else tier,
            }
            for (model, key, project, tier), rs in groups.items()
        ]
        buckets.append(_openai_bucket(day, results))
    return _page(buckets, openai=True)


def openai_costs_page(billed: Mapping[dt.date, Decimal]) -> dict[str, Any]:
    """A Costs page: one line a day (OpenAI's cost lines do not name a model)."""
    buckets = [
        _openai_bucket(
            day,
            [
                {
                    "object": "organization.costs.result",
                    "amount": {"value": float(amount), "currency": "usd"},
                    "line_item": "completions",
                    "project_id": None,
                }
            ],
        )
        for day, amount in sorted(billed.items())
    ]
    return _page(buckets, openai=True)


def openai_model_costs_page(
    billed: Mapping[tuple[dt.date, str], Mapping[str, Decimal]],
    unnamed: Mapping[dt.date, Decimal] | None = None,
) -> dict[str, Any]:
    """A Costs page grouped by ``line_item`` (``group_by=line_item``): per day, one
    line per model and token kind, ``line_item`` "<model>, <kind>" as OpenAI writes
    it ("gpt-4o-mini-2024-07-18, input", "..., cached input", "..., output"; the
    shape of tests/fixtures/reconcile/openai_costs.jsonl), and ``unnamed`` lines
    that name no model ("web search tool calls")."""
    days: dict[dt.date, list[dict[str, Any]]] = {}
    for (day, model), kinds in sorted(billed.items()):
        for word, amount in kinds.items():
            days.setdefault(day, []).append(_openai_cost(amount, f"{model}, {word}"))
    for day, amount in sorted((unnamed or {}).items()):
        days.setdefault(day, []).append(_openai_cost(amount, "web search tool calls"))
    return _page([_openai_bucket(d, rs) for d, rs in sorted(days.items())], openai=True)


def _openai_cost(amount: Decimal, line_item: str) -> dict[str, Any]:
    return {
        "object": "organization.costs.result",
        "amount": {"value": float(amount), "currency": "usd"},
        "line_item": line_item,
        "project_id": None,
    }


def _anthropic_bucket(day: dt.date, results: list[dict[str, Any]]) -> dict[str, Any]:
    start = _day_start(day)
    return {
        "starting_at": start.isoformat().replace("+00:00", "Z"),
        "ending_at": (start + dt.timedelta(days=1)).isoformat().replace("+00:00", "Z"),
        "results": results,
    }


def anthropic_usage_page(requests: Iterable[Seen]) -> dict[str, Any]:
    """A messages usage report page: daily buckets, one result per model x key."""
    buckets = []
    for day, groups in _groups(requests).items():
        results = []
        for (model, key, workspace, tier), rs in groups.items():
            writes = sum(r.cache_write for r in rs)
            hour = sum(r.cache_write_1h for r in rs)
            reads = sum(r.cache_read for r in rs)
            results.append(
                {
                    "uncached_input_tokens": sum(r.input for r in rs) - reads - writes,
                    "cache_read_input_tokens": reads,
                    "cache_creation": {
                        "ephemeral_5m_input_tokens": writes - hour,
                        "ephemeral_1h_input_tokens": hour,
                    },
                    "output_tokens": sum(r.output for r in rs),
                    "server_tool_use": {"web_search_requests": 0},
                    "api_key_id": key,
                    "workspace_id": workspace,
                    "model": model,
                    "service_tier": tier,
                    "context_window": "0-200k",
                }
            )
        buckets.append(_anthropic_bucket(day, results))
    return _page(buckets, openai=False)


Billed = Decimal | Mapping[str, Decimal]  # one amount, or by token_type


def anthropic_cost_page(billed: Mapping[tuple[dt.date, str], Billed]) -> dict[str, Any]:
    """A cost report page: per day, one line per model, or per model and token_type
    ("uncached_input_tokens", "output_tokens", ...) where the amount is given by
    token type (amounts in cents, as strings)."""
    days: dict[dt.date, list[dict[str, Any]]] = {}
    for (day, model), amount in sorted(billed.items()):
        lines = amount.items() if isinstance(amount, Mapping) else [(None, amount)]
        for token_type, part in lines:
            days.setdefault(day, []).append(
                {
                    "currency": "USD",
                    "amount": format(part * 100, "f"),
                    "workspace_id": None,
                    "description": f"{model} usage",
                    "cost_type": "tokens",
                    "context_window": "0-200k",
                    "model": model,
                    "service_tier": "standard",
                    "token_type": token_type,
                }
            )
    return _page([_anthropic_bucket(d, rs) for d, rs in sorted(days.items())], openai=False)
