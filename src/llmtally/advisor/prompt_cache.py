"""Cache prompt prefixes: one candidate per (fingerprint, provider, model) whose
cached prefix pays, from the replay in ``advisor/prefix_rows.py``.

Each TTL the provider offers is priced (5 min everywhere; 1 h on Anthropic) on
the working copy: per cell, the prefix tokens its calls would read become cache
reads and the ones they would write cache writes (``cache_prefix.cache_change``),
re-priced by the meter; the TTL with the larger saving is chosen (a tie keeps
the shorter: cheaper writes, the default). A prefix under the provider's
minimum cacheable size is not considered; one whose best TTL does not pay (a
prefix reused less often than the TTL: every call a write, writes at a premium)
is reported as considered, with the reason. Where a response cache answers some
calls of a cell (duplicates, priced before this), the cell's reads and writes
are scaled to the calls still sent; the batch recommender after this one sees
the cached usage.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from llmtally.advisor.cache_prefix import (
    TTLS_OFFERED,
    Ttl,
    assumptions,
    cache_change,
    how_to_apply,
    minimum_prefix_tokens,
)
from llmtally.advisor.candidate import Candidate, Found
from llmtally.advisor.period import Period
from llmtally.advisor.prefix_rows import PrefixCell, prefix_cells
from llmtally.advisor.recommendation import Confidence, Considered
from llmtally.advisor.working import Part, Working
from llmtally.meter import decimal_text

__all__ = ["KIND", "PrefixOption", "prompt_cache_recommender"]

KIND = "prompt_cache"
Group = tuple[str, str, str]  # fingerprint, provider, model


@dataclass(frozen=True, slots=True)
class PrefixOption:
    """One TTL for a prefix: calls reading and writing it, and what it saves."""

    ttl: Ttl
    reads: int
    writes: int
    unchanged: int
    saving: Decimal
    parts: tuple[Part, ...]


def _still_sent(tokens: int, row: PrefixCell, working: Working) -> int:
    """``tokens`` of a cell's calls scaled to the share still sent (a response cache
    answers the others; whole tokens, rounded down)."""
    sent, total = working.state(row.cell).calls, working.cell(row.cell).calls
    return tokens if sent == total else tokens * sent // total


def _option(key: Group, rows: list[PrefixCell], ttl: Ttl, working: Working) -> PrefixOption:
    provider = key[1]
    parts = tuple(
        (
            row.cell,
            cache_change(
                _still_sent(row.read_tokens[ttl], row, working),
                _still_sent(row.write_tokens[ttl], row, working),
                ttl,
                provider,
            ),
        )
        for row in rows
    )
    return PrefixOption(
        ttl=ttl,
        # the hit rate's numerator counts the calls that already read from a cache too
        reads=sum(row.reads[ttl] + row.already_read for row in rows),
        writes=sum(row.writes[ttl] for row in rows),
        unchanged=sum(row.unchanged for row in rows),
        saving=working.saving(parts),
        parts=parts,
    )


def _where(key: Group, rows: list[PrefixCell], period: Period) -> dict[str, str]:
    features = sorted({period.cells[row.cell].feature for row in rows})
    return {
        "feature": ", ".join(features),
        "provider": key[1],
        "model": key[2],
        "fingerprint": key[0],
    }


def _reason(best: PrefixOption, other: PrefixOption | None, calls: int) -> str:
    if best.saving > 0:
        why = f"{best.reads} of {calls} calls read the prefix"
        if other is not None:
            why += (
                f"; the {best.ttl} TTL saves more than {other.ttl} ({decimal_text(other.saving)})"
            )
        return why
    return (
        f"reused less often than the TTL: {best.writes} writes and {best.reads} reads; "
        f"net of write premiums, caching would cost {decimal_text(-best.saving)} USD more "
        "over the period"
    )


def _confidence(provider: str) -> Confidence:
    if provider == "anthropic":
        return Confidence("high", "the reads and writes follow the observed call times")
    return Confidence(
        "medium", f"{provider} caches implicitly with no published TTL: 5 minutes assumed"
    )


def _group(key: Group, rows: list[PrefixCell], period: Period, working: Working) -> Found:
    fingerprint, provider, model = key
    options = [_option(key, rows, ttl, working) for ttl in TTLS_OFFERED.get(provider, ("5m",))]
    best = options[0]
    for option in options[1:]:
        if option.saving > best.saving:
            best = option
    other = next((o for o in options if o is not best), None)
    calls = sum(row.calls for row in rows)
    reason = _reason(best, other, calls)
    if best.saving <= 0:
        monthly = best.saving * period.to_month
        return Found(considered=[Considered(KIND, _where(key, rows, period), reason, monthly)])
    prefix = max(row.prefix_max for row in rows)
    hit_rate = Decimal(best.reads) / Decimal(calls)
    candidate = Candidate(
        kind=KIND,
        title=f"Cache the {prefix:,}-token prompt prefix ({best.ttl} TTL)",
        where=_where(key, rows, period),
        evidence={
            "fingerprint": fingerprint,
            "model": model,
            "since": period.since.isoformat(),
            "until": period.until.isoformat(),
            "ttl": best.ttl,
            "hit_rate": str(hit_rate.quantize(Decimal("0.001"))),
            "reads": str(best.reads),
            "writes": str(best.writes),
            "why": reason,
        },
        parts=best.parts,
        calls=calls - best.unchanged,
        assumptions=_assumptions(rows, calls, period, provider, best.ttl),
        confidence=_confidence(provider),
        how_to_apply=how_to_apply(provider, best.ttl),
    )
    return Found(candidates=[candidate])


def _assumptions(
    rows: list[PrefixCell], calls: int, period: Period, provider: str, ttl: Ttl
) -> tuple[str, ...]:
    said = assumptions(calls, f"{period.days.normalize():f}", provider, ttl)
    late = sum(row.late for row in rows)
    if late:
        said += (
            f"{late:,} calls were recorded after a later call of the same prefix and are "
            "counted as writes: the saving is a lower bound",
        )
    return said


def _eligible(key: Group, rows: list[PrefixCell]) -> bool:
    minimum = minimum_prefix_tokens(key[1], key[2])
    return minimum is not None and min(row.prefix_min for row in rows) >= minimum


def prompt_cache_recommender(period: Period, working: Working) -> Found:
    """One candidate per (fingerprint, provider, model) whose cached prefix pays."""
    groups: dict[Group, list[PrefixCell]] = defaultdict(list)
    for row in prefix_cells(period):
        cell = period.cells[row.cell]
        groups[(row.fingerprint, cell.provider, cell.model)].append(row)
    found = Found()
    for key, rows in sorted(groups.items()):
        if _eligible(key, rows):
            part = _group(key, rows, period, working)
            found.candidates.extend(part.candidates)
            found.considered.extend(part.considered)
    return found
