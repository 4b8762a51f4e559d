"""The period's token histograms per cell (``rollup_tokens_day``), and what a cap
at a bin edge would cut, exactly.

A histogram holds, per bin of ``ledger/token_bins.py``, the calls and the sum of
their tokens. For a cap at a bin's upper edge every call of a later bin is above
it, by its tokens minus the cap: so the calls above and the tokens above the cap
are exact sums, read without a single call.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select

from llmtally.advisor.cells import KEY_NAMES, day_number, key_of
from llmtally.advisor.period import Period
from llmtally.ledger.advice_tables import ADVICE_TABLES
from llmtally.ledger.token_bins import upper_edge

__all__ = ["Bin", "Histogram", "above", "merged", "quantile_cap", "token_histograms"]

_TOKENS = ADVICE_TABLES["rollup_tokens_day"]


@dataclass(frozen=True, slots=True)
class Bin:
    bin: int
    calls: int
    tokens: int


Histogram = tuple[Bin, ...]  # by bin number, ascending


def token_histograms(period: Period, metric: str) -> dict[int, Histogram]:
    """Per cell id: the histogram of ``metric`` (output, reasoning or history)."""
    keys = [_TOKENS.c[name] for name in KEY_NAMES]
    query = select(*keys, _TOKENS.c.bin, _TOKENS.c.calls, _TOKENS.c.tokens).where(
        _TOKENS.c.metric == metric,
        _TOKENS.c.bucket >= day_number(period.since),
        _TOKENS.c.bucket < day_number(period.until),
    )
    found: dict[int, list[Bin]] = defaultdict(list)
    with period.store.engine.connect() as conn:
        for row in conn.execute(query).mappings():
            found[period.cell_id(key_of(row))].append(
                Bin(int(row["bin"]), int(row["calls"]), int(row["tokens"]))
            )
    return {cell: tuple(sorted(bins, key=lambda b: b.bin)) for cell, bins in found.items()}


def merged(histograms: Iterable[Histogram]) -> Histogram:
    """One histogram of several (a group's cells)."""
    calls: dict[int, int] = defaultdict(int)
    tokens: dict[int, int] = defaultdict(int)
    for histogram in histograms:
        for item in histogram:
            calls[item.bin] += item.calls
            tokens[item.bin] += item.tokens
    return tuple(Bin(b, calls[b], tokens[b]) for b in sorted(calls))


def quantile_cap(histogram: Histogram, percent: int) -> int | None:
    """The upper edge of the bin holding the nearest-rank ``percent``-th value
    (rank ceil(percent x n / 100)): a round cap at or above that value; None when
    it is in the open last bin or there are no calls."""
    total = sum(item.calls for item in histogram)
    if not total:
        return None
    rank = (total * percent + 99) // 100
    seen = 0
    for item in histogram:
        seen += item.calls
        if seen >= rank:
            return upper_edge(item.bin)
    return None


def above(histogram: Histogram, cap: int) -> tuple[int, int]:
    """(calls above ``cap``, their tokens above it) for ``cap`` a bin edge."""
    calls = tokens = 0
    for item in histogram:
        lower = upper_edge(item.bin - 1) if item.bin > 0 else None
        if lower is not None and lower >= cap:
            calls += item.calls
            tokens += item.tokens - item.calls * cap
    return calls, tokens
