"""Langfuse observations and Helicone requests -> :class:`~llmtally.history.rows.ImportedCall`.

``langfuse``: observations as the public API answers them (``GET
/api/public/observations``: ``{"data": [...], "meta": ...}``; fields as in its
OpenAPI ``ObservationsView``: ``id``, ``traceId``, ``type``, ``startTime``,
``endTime``, ``model``, ``usageDetails``, ``costDetails``, ``level``, ...), or
the same objects one per line or as CSV. ``usageDetails`` keys are disjoint
buckets that Langfuse prices one by one and sums (``input`` is the prompt
tokens *not* counted under a cache key), so llmtally's ``input`` is their sum.

``helicone``: requests as ``POST /v1/request/query-clickhouse`` answers them
and the ``@helicone/export`` tool writes them (JSON, JSON Lines or CSV):
``request_id``, ``request_created_at``, ``provider``, ``model``,
``prompt_tokens``, ``prompt_cache_read_tokens``, ``prompt_cache_write_tokens``,
``completion_tokens``, ``delay_ms``, ``response_status``, ``request_user_id``,
``request_properties``, ``costUSD``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from llmtally.history.fields import count, json_cell, moment, money, tags, text, usage_of
from llmtally.history.rows import ImportedCall, RowError
from llmtally.usage import Usage

__all__ = ["parse_helicone", "parse_langfuse"]

_PRICED_TYPES = frozenset({"GENERATION", "EMBEDDING"})
_CACHE_READ_KEYS = ("input_cached_tokens", "cache_read_input_tokens", "input_cache_read")
_CACHE_WRITE_KEYS = ("cache_creation_input_tokens", "input_cache_creation", "input_cache_write")
_REASONING_KEYS = ("output_reasoning_tokens", "output_reasoning")


def _sum(details: Mapping[str, Any], keys: tuple[str, ...]) -> int:
    return sum(count(details[k], f"usageDetails.{k}") for k in keys if details.get(k) is not None)


def _langfuse_usage(record: Mapping[str, Any]) -> Usage:
    details = json_cell(record.get("usageDetails"), "usageDetails")
    if not details:  # older observations: usage {input, output, total, unit}
        details = json_cell(record.get("usage"), "usage")
    read = _sum(details, _CACHE_READ_KEYS)
    written = _sum(details, _CACHE_WRITE_KEYS)
    reasoning = _sum(details, _REASONING_KEYS)
    plain_in = count(details.get("input", 0), "usageDetails.input")
    plain_out = count(details.get("output", 0), "usageDetails.output")
    return usage_of(
        {
            "input_tokens": plain_in + read + written,
            "cache_read_tokens": read,
            "cache_write_tokens": written,
            "output_tokens": plain_out + reasoning,
            "reasoning_tokens": reasoning,
        }
    )


def _langfuse_cost(record: Mapping[str, Any]) -> Any:
    costs = json_cell(record.get("costDetails"), "costDetails")
    if costs.get("total") is not None:
        return costs["total"]
    return record.get("calculatedTotalCost")


def _langfuse_tags(record: Mapping[str, Any]) -> tuple[str, ...]:
    found = list(tags(record.get("tags")))
    environment = text(record, "environment")
    if environment and environment != "default":
        found.append(f"env:{environment}")
    prompt = text(record, "promptName")
    if prompt:
        found.append(f"prompt:{prompt}")
    return tuple(dict.fromkeys(found))


def parse_langfuse(record: Mapping[str, Any]) -> ImportedCall:
    kind = str(record.get("type") or "GENERATION").upper()
    if kind not in _PRICED_TYPES:
        raise RowError(f"not a generation ({kind}): nothing to price")
    started = moment(record.get("startTime"), "startTime")
    latency = 0.0
    if record.get("endTime"):
        latency = max((moment(record["endTime"], "endTime") - started).total_seconds() * 1000, 0)
    failed = str(record.get("level") or "").upper() == "ERROR"
    metadata = json_cell(record.get("metadata"), "metadata")
    feature = metadata.get("feature")
    return ImportedCall(
        tool="langfuse",
        source_id=str(text(record, "id", required=True)),
        started_at=started,
        provider="",  # Langfuse names the model only: the catalog finds its provider
        model=str(text(record, "model", required=True)),
        usage=_langfuse_usage(record),
        endpoint="/v1/embeddings" if kind == "EMBEDDING" else "/v1/chat/completions",
        status=500 if failed else 200,
        error=(text(record, "statusMessage") or "level ERROR") if failed else None,
        latency_ms=latency,
        user=text(record, "userId"),
        feature=feature if isinstance(feature, str) and feature.strip() else None,
        tags=_langfuse_tags(record),
        trace_id=text(record, "traceId"),
        parent_id=text(record, "parentObservationId"),
        source_cost=money(_langfuse_cost(record), "costDetails.total"),
    )


# Helicone's provider names (upper case) -> the catalog's, where they differ.
_HELICONE_PROVIDERS = {"gemini": "google", "vertex": "google", "custom": ""}
_NO_CACHE_HIT = {"", "00000000-0000-0000-0000-000000000000"}


def _helicone_usage(record: Mapping[str, Any], provider: str) -> Usage:
    """Anthropic's ``input_tokens`` (cache excluded) are passed through as
    ``prompt_tokens``, so the cache counts are added to them; other providers'
    ``prompt_tokens`` count their cached tokens already (unless the cache counts
    exceed them, when they are added too)."""
    read = count(record.get("prompt_cache_read_tokens") or 0, "prompt_cache_read_tokens")
    written = count(record.get("prompt_cache_write_tokens") or 0, "prompt_cache_write_tokens")
    prompt = count(record.get("prompt_tokens") or 0, "prompt_tokens")
    if provider == "anthropic" or read + written > prompt:
        prompt += read + written
    audio_in = count(record.get("prompt_audio_tokens") or 0, "prompt_audio_tokens")
    audio_out = count(record.get("completion_audio_tokens") or 0, "completion_audio_tokens")
    return usage_of(
        {
            "input_tokens": prompt,
            "cache_read_tokens": read,
            "cache_write_tokens": written,
            "input_audio_tokens": audio_in,
            "output_tokens": count(record.get("completion_tokens") or 0, "completion_tokens"),
            "output_audio_tokens": audio_out,
        }
    )


def _helicone_status(record: Mapping[str, Any]) -> int:
    raw = record.get("response_status", 200)
    try:
        status = int(str(raw))
    except ValueError:
        raise RowError(f"response_status: expected an HTTP status, got {raw!r}") from None
    # Helicone records 0 or -1 for a request that never got an answer
    return status if 100 <= status <= 599 else 502


def _helicone_attribution(record: Mapping[str, Any]) -> dict[str, Any]:
    properties = json_cell(
        record.get("request_properties") or record.get("properties"), "request_properties"
    )
    props = {str(k): str(v) for k, v in properties.items() if v is not None and str(v).strip()}
    session = props.pop("Helicone-Session-Id", None)
    feature = props.pop("feature", None) or props.pop("Feature", None)
    return {
        "user": text(record, "request_user_id"),
        "feature": feature,
        "tags": tuple(f"{k}:{v}".replace(",", " ") for k, v in sorted(props.items())),
        "trace_id": session,
    }


def parse_helicone(record: Mapping[str, Any]) -> ImportedCall:
    if str(record.get("cache_reference_id") or "") not in _NO_CACHE_HIT:
        raise RowError("answered from Helicone's cache: no provider call to price")
    raw = str(record.get("provider") or "").lower()
    provider = _HELICONE_PROVIDERS.get(raw, raw)
    model = next(
        (m for k in ("model", "response_model", "request_model") if (m := text(record, k))),
        None,
    )
    if model is None:
        raise RowError("model: required")
    status = _helicone_status(record)
    delay = record.get("delay_ms")
    cost = next((record[k] for k in ("costUSD", "cost_usd", "cost") if k in record), None)
    return ImportedCall(
        tool="helicone",
        source_id=str(text(record, "request_id", required=True)),
        started_at=moment(record.get("request_created_at"), "request_created_at"),
        provider=provider,
        model=model,
        usage=_helicone_usage(record, provider),
        endpoint=urlsplit(text(record, "request_path") or "/v1/chat/completions").path,
        status=status,
        error=f"HTTP {status}" if status >= 400 else None,
        latency_ms=float(count(delay, "delay_ms")) if delay not in (None, "") else 0.0,
        source_cost=money(cost, "costUSD"),
        **_helicone_attribution(record),
    )
