"""Token classification explainers: service tier and cache lifetime mismatches, and rounding.

The provider and the ledger counted the same tokens but priced them at a
different tier (batch calls the ledger recorded as standard) or cache lifetime
(1h writes the ledger priced as 5m). The amount is the catalog's own price
difference on exactly the tokens that moved, so it is exact; the residual rows
have those tokens moved to where the provider put them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal

from llmtally.meter import PricingError, decimal_text
from llmtally.reconcile.explain_types import (
    KINDS,
    DayFigures,
    Explained,
    Explanation,
    ExplanationKind,
    TokenKind,
    Tokens,
    agree,
    unit_price,
)
from llmtally.usage import SERVICE_TIERS, ServiceTier

__all__ = ["ROUNDING_LIMIT", "explain_cache_ttl", "explain_rounding", "explain_tiers"]

# A difference under a cent on one day x model is the providers' rounding of
# amounts (OpenAI and Anthropic bill to the cent or a fraction of it).
ROUNDING_LIMIT = Decimal("0.01")


@dataclass(slots=True)
class _Tally:
    """One explanation being gathered over the days."""

    dollars: Decimal = Decimal(0)
    tokens: int = 0
    days: set[dt.date] = field(default_factory=set)


def _by_tier(side: Mapping[ServiceTier, Tokens], tier: ServiceTier) -> Tokens:
    return side.get(tier, Tokens())


def _money(amount: Decimal) -> str:
    return f"${decimal_text(abs(amount))}"


def _gather(
    tallies: dict[tuple[str, str, str], _Tally],
    kind: ExplanationKind,
    detail: Iterable[tuple[tuple[str, str, str], str]],
) -> tuple[Explanation, ...]:
    text = dict(detail)
    return tuple(
        Explanation(
            kind=kind,
            provider=key[0],
            model=key[1],
            dollars=t.dollars,
            tokens=t.tokens,
            detail=text[key],
            days=tuple(sorted(t.days)),
        )
        for key, t in tallies.items()
        if t.tokens
    )


def _move_tiers(
    row: DayFigures, kind: TokenKind, ledger: dict[ServiceTier, Tokens]
) -> list[tuple[ServiceTier, ServiceTier, int, Decimal]]:
    """(ledger tier, provider tier, tokens, dollars) moves for one token kind."""
    usage = {t: _by_tier(row.usage, t) for t in SERVICE_TIERS}
    mine = sum(ledger[t].get(kind) for t in SERVICE_TIERS)
    if not agree(mine, sum(usage[t].get(kind) for t in SERVICE_TIERS)):
        return []  # a count difference, not a classification one
    surplus = {t: ledger[t].get(kind) - usage[t].get(kind) for t in SERVICE_TIERS}
    moves = []
    for src in SERVICE_TIERS:
        for dst in SERVICE_TIERS:
            n = min(surplus[src], -surplus[dst])
            if src == dst or n <= 0:
                continue
            try:
                dollars = n * (unit_price(row.price, dst, kind) - unit_price(row.price, src, kind))
            except PricingError:
                continue  # a tier the catalog does not price: left unexplained
            surplus[src] -= n
            surplus[dst] += n
            ledger[src] = ledger[src].with_count(kind, ledger[src].get(kind) - n)
            ledger[dst] = ledger[dst].with_count(kind, ledger[dst].get(kind) + n)
            moves.append((src, dst, n, dollars))
    return moves


def _clean(ledger: dict[ServiceTier, Tokens]) -> dict[ServiceTier, Tokens]:
    return {t: v for t, v in ledger.items() if v.total}


def explain_tiers(rows: Sequence[DayFigures]) -> Explained:
    """Tokens the provider billed at another service tier than the ledger priced
    them at (batch, flex, priority vs standard), per kind where the totals agree.
    One explanation per provider x model x (ledger tier, billed tier)."""
    tallies: dict[tuple[str, str, str], _Tally] = {}
    texts: dict[tuple[str, str, str], str] = {}
    residual = []
    for row in rows:
        ledger = {t: _by_tier(row.ledger, t) for t in SERVICE_TIERS}
        moved = Decimal(0)
        for kind in KINDS:
            for src, dst, n, dollars in _move_tiers(row, kind, ledger):
                key = (row.provider, row.model, f"{src}>{dst}")
                tally = tallies.setdefault(key, _Tally())
                tally.dollars += dollars
                tally.tokens += n
                tally.days.add(row.day)
                texts[key] = f"{dst} calls recorded as {src}"
                moved += dollars
        residual.append(replace(row, ledger=_clean(ledger), ledger_cost=row.ledger_cost + moved))
    details = []
    for key, t in tallies.items():
        way = "more" if t.dollars > 0 else "less"
        details.append((key, f"{texts[key]}: {t.tokens:,} tokens billed {_money(t.dollars)} {way}"))
    return Explained(_gather(tallies, "tier_mismatch", details), tuple(residual))


def _ttl_move(row: DayFigures, tier: ServiceTier, ledger: Tokens) -> tuple[int, Decimal, Tokens]:
    """(tokens, dollars, new ledger tokens): writes moved between 5m and 1h at one tier.
    Positive tokens: the provider billed 1h what the ledger priced as 5m."""
    usage = _by_tier(row.usage, tier)
    l5, l1 = ledger.cache_write_5m, ledger.cache_write_1h
    u5, u1 = usage.cache_write_5m, usage.cache_write_1h
    if not agree(l5 + l1, u5 + u1):
        return 0, Decimal(0), ledger
    if u1 > l1:
        n = max(0, min(u1 - l1, l5 - u5))
    else:
        n = -max(0, min(l1 - u1, u5 - l5))
    if n == 0:
        return 0, Decimal(0), ledger
    step = unit_price(row.price, tier, "cache_write_1h") - unit_price(
        row.price, tier, "cache_write_5m"
    )
    moved = replace(ledger, cache_write_5m=l5 - n, cache_write_1h=l1 + n)
    return n, n * step, moved


def explain_cache_ttl(rows: Sequence[DayFigures]) -> Explained:
    """Cache writes the provider billed with another lifetime than the ledger
    priced (Anthropic's ephemeral_1h tokens recorded as 5m writes, or back)."""
    tallies: dict[tuple[str, str, str], _Tally] = {}
    residual = []
    for row in rows:
        ledger = {t: _by_tier(row.ledger, t) for t in SERVICE_TIERS}
        extra = Decimal(0)
        for tier in SERVICE_TIERS:
            try:
                n, dollars, ledger[tier] = _ttl_move(row, tier, ledger[tier])
            except PricingError:
                continue
            if n:
                way = "1h>5m" if n > 0 else "5m>1h"
                tally = tallies.setdefault((row.provider, row.model, way), _Tally())
                tally.dollars += dollars
                tally.tokens += abs(n)
                tally.days.add(row.day)
                extra += dollars
        residual.append(replace(row, ledger=_clean(ledger), ledger_cost=row.ledger_cost + extra))
    details = []
    for key, t in tallies.items():
        billed, priced = ("1h", "5m") if key[2] == "1h>5m" else ("5m", "1h")
        way = "more" if t.dollars > 0 else "less"
        details.append(
            (
                key,
                f"{billed} cache writes priced as {priced}: {t.tokens:,} tokens "
                f"billed {_money(t.dollars)} {way}",
            )
        )
    return Explained(_gather(tallies, "cache_ttl_mismatch", details), tuple(residual))


def explain_rounding(rows: Sequence[DayFigures]) -> Explained:
    """Differences under :data:`ROUNDING_LIMIT` on a day x model whose tokens
    agree: the provider's rounding. One explanation per provider x model."""
    tallies: dict[tuple[str, str, str], _Tally] = {}
    residual = []
    for row in rows:
        gap = row.gap
        if gap and abs(gap) < ROUNDING_LIMIT and row.tokens_agree():
            tally = tallies.setdefault((row.provider, row.model, ""), _Tally())
            tally.dollars += gap
            tally.days.add(row.day)
            row = replace(row, ledger_cost=row.billed)
        residual.append(row)
    out = tuple(
        Explanation(
            kind="rounding",
            provider=key[0],
            model=key[1],
            dollars=t.dollars,
            tokens=0,
            detail=(
                f"rounding: under a cent a day on {len(t.days)} day(s), {_money(t.dollars)} in all"
            ),
            days=tuple(sorted(t.days)),
        )
        for key, t in tallies.items()
    )
    return Explained(out, tuple(residual))
