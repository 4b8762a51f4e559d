"""The bins of the advisor's token histograms (``rollup_tokens_day``): the round
numbers people set limits at (1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 6, 8 times a power of
ten, whole tokens only), so a cap chosen at a bin's edge is a number one would
write in a config, and the tokens above it are exact: for a cap at an edge, every
call of a bin above it is over the cap by its tokens minus the cap.

Bin ``i`` holds the values in (``EDGES[i - 1]``, ``EDGES[i]``]; bin 0 holds 0; the
last bin (``len(EDGES)``) holds everything above the largest edge.
"""

from __future__ import annotations

from bisect import bisect_left
from decimal import Decimal

__all__ = ["EDGES", "bin_of", "upper_edge"]

_STEPS = ("1", "1.25", "1.5", "2", "2.5", "3", "4", "5", "6", "8")
EDGES: tuple[int, ...] = (
    0,
    *sorted(
        {
            int(Decimal(step).scaleb(power))
            for power in range(10)
            for step in _STEPS
            if Decimal(step).scaleb(power) == Decimal(step).scaleb(power).to_integral_value()
        }
    ),
)


def bin_of(value: int) -> int:
    """The bin holding ``value`` (>= 0)."""
    return bisect_left(EDGES, value)


def upper_edge(bin_no: int) -> int | None:
    """The largest value bin ``bin_no`` holds; None for the open last bin."""
    return EDGES[bin_no] if bin_no < len(EDGES) else None
