"""What the call page shows of one call: tokens by kind and by role, cost by
component, the price used, the cost its producer reported beside llmtally's,
timings, bodies. Plain data for the template.

The bodies are shown as stored: the gateway redacted them before storing
(API keys, bearer tokens, the config's patterns) and never stores headers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from llmtally.meter import COMPONENTS

if TYPE_CHECKING:
    from llmtally.ledger.keys import GatewayKey
    from llmtally.ledger.rows import CallBodies
    from llmtally.usage import Call
    from llmtally.web.call_billed import AsBilled, Billed

__all__ = ["Body", "CallView", "CostRow", "TokenRow", "call_view", "pretty_body"]

ROLES = ("system", "tools", "history", "latest_user", "context")
_ROLE_LABELS = {"latest_user": "latest user", "context": "retrieved context (tool results)"}
# (label, Usage field, what it is part of)
KINDS = (
    ("input (all prompt tokens)", "input_tokens", None),
    ("cache read", "cache_read_tokens", "input"),
    ("cache write", "cache_write_tokens", "input"),
    ("cache write, 1h TTL", "cache_write_1h_tokens", "cache write"),
    ("input audio", "input_audio_tokens", "input"),
    ("input image", "input_image_tokens", "input"),
    ("output (all billed output)", "output_tokens", None),
    ("reasoning", "reasoning_tokens", "output"),
    ("output audio", "output_audio_tokens", "output"),
    ("output image", "output_image_tokens", "output"),
    ("characters", "characters", None),
    ("requests", "requests", None),
)


@dataclass(frozen=True, slots=True)
class TokenRow:
    label: str
    count: int
    part_of: str | None


@dataclass(frozen=True, slots=True)
class CostRow:
    component: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Body:
    text: str | None  # None: not recorded
    truncated: bool
    is_json: bool


@dataclass(frozen=True, slots=True)
class CallView:
    call: Call
    tokens: list[TokenRow]
    roles: list[tuple[str, int | None, str]]  # role, tokens, share of input
    costs: list[CostRow]
    request: Body
    response: Body
    key: GatewayKey | None
    parent_known: bool
    # llmtally's cost minus the one the call's producer reported (an OTel span's,
    # an imported tool's); None unless both are known
    source_difference: Decimal | None = None
    # what it billed when not USD, and its cost as billed on a page in that
    # currency (llmtally.web.call_billed)
    billed: Billed | None = None
    as_billed: AsBilled | None = None


def pretty_body(text: str | None, truncated: bool) -> Body:
    """JSON indented for reading; anything else (a form, a cut-off body) as stored."""
    if text is None:
        return Body(None, truncated, False)
    try:
        parsed = json.loads(text)
    except ValueError:
        return Body(text, truncated, False)
    return Body(json.dumps(parsed, indent=2, ensure_ascii=False), truncated, True)


def _tokens(call: Call) -> list[TokenRow]:
    usage = call.usage
    rows = [TokenRow(label, getattr(usage, name), part) for label, name, part in KINDS]
    rows.insert(1, TokenRow("uncached input", usage.uncached_input_tokens, "input"))
    # the input and output totals always show; a zero subset or unit count does not
    always = {"input_tokens", "output_tokens"}
    names = [name for _, name, _ in KINDS]
    names.insert(1, "uncached")
    return [row for row, name in zip(rows, names, strict=True) if row.count or name in always]


def _roles(call: Call) -> list[tuple[str, int | None, str]]:
    counts = [getattr(call, f"input_{role}_tokens") for role in ROLES]
    if all(count is None for count in counts):
        return []
    whole = sum(count or 0 for count in counts)
    return [
        (
            _ROLE_LABELS.get(role, role),
            count,
            f"{100 * count / whole:.1f}%" if whole and count else "",
        )
        for role, count in zip(ROLES, counts, strict=True)
    ]


def call_view(
    call: Call, bodies: CallBodies | None, key: GatewayKey | None, parent_known: bool
) -> CallView:
    costs = []
    if call.cost is not None:
        costs = [CostRow(name, getattr(call.cost, name)) for name in COMPONENTS]
        costs = [row for row in costs if row.amount]
    return CallView(
        call=call,
        tokens=_tokens(call),
        roles=_roles(call),
        costs=costs,
        request=pretty_body(
            bodies.request_body if bodies else None, bool(bodies and bodies.request_truncated)
        ),
        response=pretty_body(
            bodies.response_body if bodies else None, bool(bodies and bodies.response_truncated)
        ),
        key=key,
        parent_known=parent_known,
        source_difference=_source_difference(call),
    )


def _source_difference(call: Call) -> Decimal | None:
    if call.cost is None or call.source_cost is None:
        return None
    return call.cost.total - call.source_cost
