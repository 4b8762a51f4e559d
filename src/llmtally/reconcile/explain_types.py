"""The inputs and outputs of the price explainers, independent of the compare core.

The comparison core (``compare.py``) builds one :class:`DayFigures` per day x
provider x model and hands them to :func:`llmtally.reconcile.explain_price.explain_prices`.
Each explainer returns :class:`Explained`: what it accounted for, and the rows
with that part applied to the ledger side (``residual``), so the next explainer
never sees, and never counts again, an amount already explained.

Sign: every dollar figure here is a part of ``billed - ledger_cost``; positive
means the provider billed more than the ledger recorded.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Literal

from llmtally.catalog.price import Price
from llmtally.meter import cost
from llmtally.usage import SERVICE_TIERS, ServiceTier, Usage

__all__ = [
    "KINDS",
    "RATE_FIELD",
    "TOKEN_TOLERANCE",
    "DayFigures",
    "DriftRates",
    "Explained",
    "Explanation",
    "ExplanationKind",
    "TokenKind",
    "Tokens",
    "agree",
    "catalog_cost",
    "line_kind",
    "openai_line",
    "total_of",
    "unit_price",
]

TokenKind = Literal["uncached_input", "cache_read", "cache_write_5m", "cache_write_1h", "output"]
KINDS: tuple[TokenKind, ...] = (
    "uncached_input",
    "cache_read",
    "cache_write_5m",
    "cache_write_1h",
    "output",
)
# The catalog rate (``Rates`` field, USD per 1M) each token kind is billed at.
RATE_FIELD: dict[TokenKind, str] = {
    "uncached_input": "input",
    "cache_read": "cache_read",
    "cache_write_5m": "cache_write",
    "cache_write_1h": "cache_write_1h",
    "output": "output",
}

# Anthropic cost report ``token_type`` -> token kind
# (https://docs.anthropic.com/en/api/admin-api/usage-cost/get-cost-report).
_ANTHROPIC_TOKEN_TYPES: dict[str, TokenKind] = {
    "uncached_input_tokens": "uncached_input",
    "cache_read_input_tokens": "cache_read",
    "cache_creation.ephemeral_5m_input_tokens": "cache_write_5m",
    "cache_creation.ephemeral_1h_input_tokens": "cache_write_1h",
    "output_tokens": "output",
}
# OpenAI Costs ``line_item`` "<model>, <what>" -> token kind
# (https://platform.openai.com/docs/api-reference/usage/costs). "input" and "output"
# are in the stored fixtures; "cached input" is assumed from the pricing page's wording.
_OPENAI_LINE_ITEMS: dict[str, TokenKind] = {
    "input": "uncached_input",
    "cached input": "cache_read",
    "output": "output",
}


def line_kind(provider: str, line_item: str | None, token_type: str | None) -> TokenKind | None:
    """The token kind a cost report line bills, or None when it does not say
    (then the day has no per-kind lines and the rate is solved from the total)."""
    if provider == "anthropic" and token_type:
        return _ANTHROPIC_TOKEN_TYPES.get(token_type)
    if provider == "openai":
        parsed = openai_line(line_item)
        return None if parsed is None else parsed[1]
    return None


def openai_line(line_item: str | None) -> tuple[str, TokenKind] | None:
    """An OpenAI Costs ``line_item`` "<model>, <token kind>" as (model as written,
    kind); None when the line does not name a token kind of a model ("web search
    tool calls", "ft-... training", an unknown suffix). The one parser of these
    lines: import stores the model from it, gather and price_link the kind."""
    if not line_item or ", " not in line_item:
        return None
    model, word = line_item.rsplit(", ", 1)
    kind = _OPENAI_LINE_ITEMS.get(word.strip().lower())
    model = model.strip()
    return None if kind is None or not model else (model, kind)


ExplanationKind = Literal["tier_mismatch", "cache_ttl_mismatch", "price_drift", "rounding"]

# Token counts agree when they differ by at most 0.1% of the larger (docs/decisions.md):
# the providers count the same tokens, but a report may cut a day at another instant.
TOKEN_TOLERANCE = Decimal("0.001")


@dataclass(frozen=True, slots=True)
class Tokens:
    """Token counts by kind; the kinds are disjoint (``uncached_input`` excludes cache)."""

    uncached_input: int = 0
    cache_read: int = 0
    cache_write_5m: int = 0
    cache_write_1h: int = 0
    output: int = 0

    def get(self, kind: TokenKind) -> int:
        value: int = getattr(self, kind)
        return value

    def with_count(self, kind: TokenKind, count: int) -> Tokens:
        return replace(self, **{kind: count})

    def __add__(self, other: Tokens) -> Tokens:
        return Tokens(*(self.get(k) + other.get(k) for k in KINDS))

    @property
    def total(self) -> int:
        return sum(self.get(k) for k in KINDS)


def total_of(by_tier: Mapping[ServiceTier, Tokens]) -> Tokens:
    """All tiers' tokens together."""
    out = Tokens()
    for tokens in by_tier.values():
        out = out + tokens
    return out


def agree(a: int, b: int) -> bool:
    """Whether two counts of the same tokens agree within :data:`TOKEN_TOLERANCE`."""
    return abs(a - b) <= TOKEN_TOLERANCE * max(a, b)


_ONE_TOKEN: dict[TokenKind, Usage] = {
    "uncached_input": Usage(input_tokens=1, requests=0),
    "cache_read": Usage(input_tokens=1, cache_read_tokens=1, requests=0),
    "cache_write_5m": Usage(input_tokens=1, cache_write_tokens=1, requests=0),
    "cache_write_1h": Usage(
        input_tokens=1, cache_write_tokens=1, cache_write_1h_tokens=1, requests=0
    ),
    "output": Usage(output_tokens=1, requests=0),
}


def unit_price(price: Price, tier: ServiceTier, kind: TokenKind) -> Decimal:
    """USD for one token of ``kind`` at ``tier``, as the meter prices it (its tier
    discounts and fallbacks included). One token, not the day's total: a day's
    total would cross a long-context cliff that no single call did.

    Raises :class:`llmtally.meter.PricingError` where the model has no such tier."""
    return cost(replace(_ONE_TOKEN[kind], service_tier=tier), price).total


def catalog_cost(price: Price, by_tier: Mapping[ServiceTier, Tokens]) -> Decimal:
    """These tokens at the catalog's price, exact."""
    total = Decimal(0)
    for tier, tokens in by_tier.items():
        for kind in KINDS:
            if tokens.get(kind):
                total += tokens.get(kind) * unit_price(price, tier, kind)
    return total


@dataclass(frozen=True, slots=True)
class DayFigures:
    """One day x provider x model: the ledger's side and the provider's side.

    ``ledger`` and ``usage`` are token counts by service tier (``standard``,
    ``batch``, ``flex``, ``priority``); ``billed_lines`` is the billed cost by
    token kind where the cost report splits it (OpenAI Costs line items such as
    ``"gpt-4o-2024-08-06, output"``, Anthropic's ``token_type``), else empty.
    """

    day: dt.date
    provider: str
    model: str
    price: Price
    ledger: Mapping[ServiceTier, Tokens]
    ledger_cost: Decimal
    usage: Mapping[ServiceTier, Tokens]
    billed: Decimal
    billed_lines: Mapping[TokenKind, Decimal] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for side in (self.ledger, self.usage):
            unknown = set(side) - set(SERVICE_TIERS)
            if unknown:
                raise ValueError(f"unknown service tier(s): {', '.join(sorted(unknown))}")

    @property
    def gap(self) -> Decimal:
        """What the bill says minus what the ledger says, USD."""
        return self.billed - self.ledger_cost

    def tokens_agree(self) -> bool:
        """Every kind's total over the tiers agrees between ledger and usage."""
        mine, theirs = total_of(self.ledger), total_of(self.usage)
        return all(agree(mine.get(k), theirs.get(k)) for k in KINDS)


@dataclass(frozen=True, slots=True)
class DriftRates:
    """What a price drift found: catalog and effective rates (USD per 1M) by
    ``Rates`` field, from which day, and how the rates were solved."""

    effective: dt.date
    catalog: Mapping[str, Decimal]
    billed: Mapping[str, Decimal]
    per_kind_lines: bool  # False: one billed total, the catalog's ratios between kinds assumed
    scale: Decimal  # billed rate / catalog rate (the common factor when ratios were assumed)


@dataclass(frozen=True, slots=True)
class Explanation:
    """One explained difference: ``dollars`` is the part of billed - ledger it accounts for."""

    kind: ExplanationKind
    provider: str
    model: str
    dollars: Decimal
    tokens: int
    detail: str
    days: tuple[dt.date, ...]
    drift: DriftRates | None = None


@dataclass(frozen=True, slots=True)
class Explained:
    explanations: tuple[Explanation, ...]
    residual: tuple[DayFigures, ...]
