"""Each tool's row -> :class:`~llmtally.history.rows.ImportedCall`.

``jsonl``: llmtally's own generic format, one call per line (see README,
"Importing other tools' history")::

    {"id": "req-1", "provider": "openai", "model": "gpt-4o-mini",
     "started_at": "2025-03-01T10:00:00Z",
     "tokens": {"input": 1200, "cache_read": 200, "output": 300},
     "user": "ana", "feature": "search", "tags": ["beta"], "key": "team-a",
     "cost_usd": "0.00033"}

``tokens`` follow llmtally's semantics (``input`` counts every prompt token,
cache reads and writes included; ``output`` every output token, reasoning
included); instead of ``tokens`` a row may carry ``usage``, the provider's own
usage object, parsed as the gateway parses it.

``litellm``: a row of LiteLLM's ``LiteLLM_SpendLogs`` table (its Prisma schema,
``schema.prisma`` in BerriAI/litellm; the proxy's ``/spend/logs`` answers the
same columns), exported as CSV, a JSON array or JSON Lines.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llmtally.history.fields import count as _count
from llmtally.history.fields import json_cell as _json_cell
from llmtally.history.fields import moment as _time
from llmtally.history.fields import money as _money
from llmtally.history.fields import tags as _tags
from llmtally.history.fields import text as _text
from llmtally.history.fields import usage_of as _usage
from llmtally.history.rows import ImportedCall, RowError
from llmtally.providers import parse_usage
from llmtally.usage import SERVICE_TIERS, Usage

__all__ = ["parse_generic", "parse_litellm"]

_TOKEN_FIELDS = {
    "input": "input_tokens",
    "cache_read": "cache_read_tokens",
    "cache_write": "cache_write_tokens",
    "cache_write_1h": "cache_write_1h_tokens",
    "input_audio": "input_audio_tokens",
    "input_image": "input_image_tokens",
    "output": "output_tokens",
    "reasoning": "reasoning_tokens",
    "output_audio": "output_audio_tokens",
    "output_image": "output_image_tokens",
}
_GENERIC_KEYS = frozenset(
    {
        "id",
        "provider",
        "model",
        "started_at",
        "tokens",
        "usage",
        "service_tier",
        "endpoint",
        "status",
        "error",
        "latency_ms",
        "user",
        "feature",
        "tags",
        "key",
        "trace_id",
        "parent_id",
        "cost_usd",
    }
)


def _generic_usage(record: Mapping[str, Any], provider: str) -> Usage:
    tier = record.get("service_tier", "standard")
    if tier not in SERVICE_TIERS:
        raise RowError(f"service_tier: must be one of {', '.join(SERVICE_TIERS)}, got {tier!r}")
    if record.get("usage") is not None:
        if record.get("tokens") is not None:
            raise RowError("give tokens or usage, not both")
        raw = record["usage"]
        if not isinstance(raw, dict):
            raise RowError(f"usage: expected the provider's usage object, got {raw!r}")
        try:
            parsed = parse_usage(provider, raw)
        except (LookupError, ValueError) as exc:
            raise RowError(f"usage: {exc}") from None
        return _usage({name: getattr(parsed, name) for name in _TOKEN_FIELDS.values()}, str(tier))
    tokens = record.get("tokens")
    if not isinstance(tokens, dict):
        raise RowError('tokens: required, an object such as {"input": 10, "output": 5}')
    unknown = set(tokens) - set(_TOKEN_FIELDS)
    if unknown:
        raise RowError(f"tokens: unknown kind(s) {', '.join(sorted(unknown))}")
    counts = {_TOKEN_FIELDS[k]: _count(v, f"tokens.{k}") for k, v in tokens.items()}
    return _usage(counts, str(tier))


def parse_generic(record: Mapping[str, Any]) -> ImportedCall:
    unknown = set(record) - _GENERIC_KEYS
    if unknown:
        raise RowError(f"unknown field(s): {', '.join(sorted(unknown))}")
    provider = str(_text(record, "provider", required=True))
    status = record.get("status", 200)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise RowError(f"status: expected an HTTP status, got {status!r}")
    latency = record.get("latency_ms", 0)
    if isinstance(latency, bool) or not isinstance(latency, int | float) or latency < 0:
        raise RowError(f"latency_ms: expected a number >= 0, got {latency!r}")
    return ImportedCall(
        tool="jsonl",
        source_id=str(_text(record, "id", required=True)),
        started_at=_time(record.get("started_at"), "started_at"),
        provider=provider,
        model=str(_text(record, "model", required=True)),
        usage=_generic_usage(record, provider),
        endpoint=_text(record, "endpoint") or "/v1/chat/completions",
        status=status,
        error=_text(record, "error"),
        latency_ms=float(latency),
        user=_text(record, "user"),
        feature=_text(record, "feature"),
        tags=_tags(record.get("tags")),
        key_id=_text(record, "key"),
        trace_id=_text(record, "trace_id"),
        parent_id=_text(record, "parent_id"),
        source_cost=_money(record.get("cost_usd"), "cost_usd"),
    )


# LiteLLM's custom_llm_provider -> the catalog's provider id, where they differ.
_LITELLM_PROVIDERS = {"gemini": "google", "vertex_ai": "google", "vertex_ai_beta": "google"}
_LITELLM_ENDPOINTS = {
    "completion": "/v1/chat/completions",
    "text_completion": "/v1/completions",
    "embedding": "/v1/embeddings",
    "image_generation": "/v1/images/generations",
    "responses": "/v1/responses",
    "anthropic_messages": "/v1/messages",
}


def _litellm_usage(record: Mapping[str, Any], metadata: Mapping[str, Any]) -> Usage:
    """``prompt_tokens`` count cache reads and writes (LiteLLM reports every provider
    in OpenAI's shape); the cache and reasoning counts come from the usage object
    LiteLLM keeps in ``metadata.usage_object``. Where the cache counts exceed
    ``prompt_tokens`` (older releases passed Anthropic's input through, cache
    excluded), they are added to it."""
    usage = metadata.get("usage_object")
    usage = usage if isinstance(usage, dict) else {}
    details = usage.get("prompt_tokens_details")
    details = details if isinstance(details, dict) else {}
    out_details = usage.get("completion_tokens_details")
    out_details = out_details if isinstance(out_details, dict) else {}
    read = usage.get("cache_read_input_tokens") or details.get("cached_tokens") or 0
    cache_read = _count(read, "metadata.usage_object.cache_read_input_tokens")
    written = usage.get("cache_creation_input_tokens") or 0
    cache_write = _count(written, "metadata.usage_object.cache_creation_input_tokens")
    prompt = _count(record.get("prompt_tokens", 0), "prompt_tokens")
    if cache_read + cache_write > prompt:
        prompt += cache_read + cache_write
    reasoning = _count(out_details.get("reasoning_tokens") or 0, "reasoning_tokens")
    return _usage(
        {
            "input_tokens": prompt,
            "cache_read_tokens": cache_read,
            "cache_write_tokens": cache_write,
            "output_tokens": _count(record.get("completion_tokens", 0), "completion_tokens"),
            "reasoning_tokens": reasoning,
        }
    )


def _litellm_where(record: Mapping[str, Any]) -> tuple[str, str]:
    raw = _text(record, "custom_llm_provider")
    model = str(_text(record, "model", required=True))
    if raw is None:
        if "/" not in model:
            raise RowError("custom_llm_provider: empty, and the model names no provider")
        raw, model = model.split("/", 1)
    model = model.removeprefix(f"{raw}/")
    return _LITELLM_PROVIDERS.get(raw, raw), model


def _litellm_attribution(record: Mapping[str, Any], metadata: Mapping[str, Any]) -> dict[str, Any]:
    tags = list(_tags(record.get("request_tags")))
    team = _text(record, "team_id")
    if team:
        tags.append(f"team:{team}")
    extra = metadata.get("spend_logs_metadata")
    feature = extra.get("feature") if isinstance(extra, dict) else None
    key = _text(record, "api_key")
    return {
        "user": _text(record, "end_user") or _text(record, "user"),
        "feature": feature if isinstance(feature, str) and feature.strip() else None,
        "tags": tuple(dict.fromkeys(tags)),
        "key_id": f"litellm:{key}" if key else None,
        "trace_id": _text(record, "session_id"),
    }


def _litellm_endpoint(call_type: str) -> str:
    """``acompletion`` is ``completion`` called async: the same endpoint."""
    for name in (call_type, call_type.removeprefix("a")):
        if name in _LITELLM_ENDPOINTS:
            return _LITELLM_ENDPOINTS[name]
    return f"litellm:{call_type}"


def parse_litellm(record: Mapping[str, Any]) -> ImportedCall:
    if str(record.get("cache_hit", "")).lower() == "true":
        raise RowError("answered from LiteLLM's own cache: no provider call to price")
    metadata = _json_cell(record.get("metadata"), "metadata")
    provider, model = _litellm_where(record)
    started = _time(record.get("startTime"), "startTime")
    latency = 0.0
    if record.get("endTime"):
        latency = max((_time(record["endTime"], "endTime") - started).total_seconds() * 1000, 0)
    failed = str(record.get("status", "success")).lower() == "failure"
    call_type = str(record.get("call_type") or "completion")
    return ImportedCall(
        tool="litellm",
        source_id=str(_text(record, "request_id", required=True)),
        started_at=started,
        provider=provider,
        model=model,
        usage=_litellm_usage(record, metadata),
        endpoint=_litellm_endpoint(call_type),
        status=500 if failed else 200,
        error="the call failed (LiteLLM status: failure)" if failed else None,
        latency_ms=latency,
        source_cost=_money(record.get("spend"), "spend"),
        **_litellm_attribution(record, metadata),
    )
