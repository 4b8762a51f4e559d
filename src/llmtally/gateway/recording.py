"""What the gateway saw of one call -> a priced :class:`~llmtally.usage.Call`.

Pricing never drops a record: an unknown model or a missing price gives a
``Call`` with ``cost=None`` and the reason in ``cost_error``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from llmtally.catalog import Catalog
from llmtally.catalog.price import Price, Rates
from llmtally.gateway.client_watch import CLIENT_DISCONNECTED
from llmtally.meter import Cost, time_cost
from llmtally.pricing import Priced, price_usage
from llmtally.providers.request_facts import max_output_tokens, reasoning_effort, request_sha256
from llmtally.providers.wires import Wire
from llmtally.tokens.chat import MessageCount
from llmtally.usage import Call, Usage, new_ulid

if TYPE_CHECKING:
    from llmtally.gateway.budget_gate import Hold

__all__ = ["STREAM_CUT_STATUS", "Exchange", "attribution", "build_call"]

# A stream that broke after its 200 went out (cut, or ended before its last event)
# is recorded as a bad gateway: an error in the ledger, the dashboard and /metrics alike.
STREAM_CUT_STATUS = 502

_HEADER = "x-llmtally-"


@dataclass(slots=True)
class Exchange:
    """One request through the gateway, filled in as it goes."""

    started_at: dt.datetime
    t0: float
    wire: Wire  # the format the client spoke (and the upstream answered in)
    endpoint: str
    provider: str  # the catalog's provider id of the upstream that served it
    model_requested: str
    request_json: Mapping[str, Any]
    headers: Mapping[str, str]
    status: int = 0
    error: str | None = None
    usage: Usage | None = None
    usage_error: str | None = None
    model_served: str | None = None
    first_byte_at: float | None = None
    finished_at: float | None = None
    stream: bool = False
    key_id: str | None = None
    usd_per_hour: Decimal | None = None
    roles: MessageCount | None = None  # prompt tokens by role, when counted
    fingerprint: str | None = None  # of the system prompt
    flags: list[str] = field(default_factory=list)  # Call.flags
    hold: Hold | None = None  # the call's budget reservation, settled once recorded
    request_body: bytes | None = None  # the JSON body exactly as the client sent it
    finish_reason: str | None = None  # normalised, from the response (or its stream)
    secrets: tuple[str, ...] = ()  # besides its key headers: kept out of every stored text


def attribution(headers: Mapping[str, str], body: Mapping[str, Any]) -> dict[str, Any]:
    """Who and what: ``x-llmtally-*`` headers, else the OpenAI ``user`` field or
    Anthropic ``metadata.user_id``."""
    user = headers.get(_HEADER + "user")
    if user is None and isinstance(body.get("user"), str):
        user = body["user"]
    metadata = body.get("metadata")
    if user is None and isinstance(metadata, Mapping) and isinstance(metadata.get("user_id"), str):
        user = metadata["user_id"]
    tags = headers.get(_HEADER + "tags", "")
    return {
        "user": user,
        "feature": headers.get(_HEADER + "feature"),
        "trace_id": headers.get(_HEADER + "trace-id"),
        "parent_id": headers.get(_HEADER + "parent-id"),
        "tags": tuple(t.strip() for t in tags.split(",") if t.strip()),
    }


def _seconds(start: float, end: float) -> Decimal:
    return Decimal(f"{max(end - start, 0.0):.6f}")


def _priced_by_time(ex: Exchange, usd_per_hour: Decimal) -> Cost:
    """Input = time to the first byte (prompt processing), output = the rest."""
    end = ex.finished_at or ex.t0
    first = ex.first_byte_at if ex.stream and ex.first_byte_at else ex.t0
    source = f"gateway config: {usd_per_hour} USD per hour of the upstream's machine"
    price = Price(
        provider=ex.provider,
        model=ex.model_served or ex.model_requested,
        effective=None,
        source=source,
        catalog_version="config",
        rates=Rates(),
    )
    return time_cost(price, usd_per_hour, _seconds(ex.t0, first), _seconds(first, end))


def _priced(ex: Exchange, usage: Usage, catalog: Catalog) -> Priced:
    # a client that left mid-stream still held the machine until then
    held = ex.status < 400 or CLIENT_DISCONNECTED in ex.flags
    if ex.usd_per_hour is not None and held:
        return Priced(_priced_by_time(ex, ex.usd_per_hour))
    if ex.usage is None:
        if ex.usage_error is not None:
            return Priced(None, ex.usage_error)
        if ex.status >= 400:
            return Priced(None, f"the call failed (HTTP {ex.status}) and reported no usage")
        return Priced(None, f"no usage reported (HTTP {ex.status})")
    model = ex.model_served or ex.model_requested
    return price_usage(usage, catalog, ex.provider, model, ex.started_at)


def build_call(ex: Exchange, catalog: Catalog) -> Call:
    usage = ex.usage or Usage(source="estimated")
    priced = _priced(ex, usage, catalog)
    end = ex.finished_at or ex.t0
    latency_ms = (end - ex.t0) * 1000
    ttft_ms = (ex.first_byte_at - ex.t0) * 1000 if ex.stream and ex.first_byte_at else None
    # A stream generates from its first token on; a whole answer arrives at once,
    # so its generation took the whole call (its first byte is the end).
    generating = end - (ex.first_byte_at if ex.stream and ex.first_byte_at else ex.t0)
    rate = usage.output_tokens / generating if usage.output_tokens and generating > 0 else None
    roles = ex.roles
    return Call(
        id=new_ulid(),
        started_at=ex.started_at,
        provider=ex.provider,
        model_requested=ex.model_requested,
        model_served=ex.model_served,
        endpoint=ex.endpoint,
        status=ex.status,
        latency_ms=latency_ms,
        usage=usage,
        cost=priced.cost,
        cost_error=priced.reason,
        saved_cache=priced.savings.cache if priced.savings else None,
        saved_tier=priced.savings.tier if priced.savings else None,
        error=ex.error,
        ttft_ms=ttft_ms,
        output_tokens_per_s=rate,
        key_id=ex.key_id,
        prompt_fingerprint=ex.fingerprint,
        input_system_tokens=roles.system if roles else None,
        input_tools_tokens=roles.tools if roles else None,
        input_history_tokens=roles.history if roles else None,
        input_latest_user_tokens=roles.latest_user if roles else None,
        input_context_tokens=roles.context if roles else None,
        flags=tuple(dict.fromkeys(ex.flags)),
        request_sha256=request_sha256(ex.request_body),
        finish_reason=ex.finish_reason,
        max_output_tokens=max_output_tokens(ex.wire.name, ex.request_json),
        reasoning_effort=reasoning_effort(ex.wire.name, ex.request_json),
        **attribution(ex.headers, ex.request_json),
    )
