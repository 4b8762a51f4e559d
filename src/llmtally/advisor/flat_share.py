"""Splitting a flat amount (machines of one's own, a one-off training run spread
over months) over the cells it replaces, in proportion to their tokens.

Each share but the last is rounded to a millionth of a dollar; the last takes
what is left, so the shares always add up to the amount exactly (a saving is
never gained or lost in the rounding).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Decimal

from llmtally.advisor.working import CellState

__all__ = ["SHARE_QUANTUM", "split_by_tokens", "state_tokens"]

SHARE_QUANTUM = Decimal("0.000001")


def state_tokens(state: CellState) -> int:
    """The tokens a cell would still send and receive: input plus output."""
    return state.usage.input_tokens + state.usage.output_tokens


def split_by_tokens(amount: Decimal, tokens: Sequence[int]) -> list[Decimal]:
    """``amount`` in shares proportional to ``tokens`` (equal shares when there
    are no tokens at all); the remainder of the rounding on the last share."""
    if not tokens:
        return []
    total = sum(tokens)
    weights = list(tokens) if total else [1] * len(tokens)
    whole = sum(weights)
    shares = [
        (amount * weight / whole).quantize(SHARE_QUANTUM, rounding=ROUND_HALF_EVEN)
        for weight in weights[:-1]
    ]
    shares.append(amount - sum(shares, Decimal(0)))
    return shares
