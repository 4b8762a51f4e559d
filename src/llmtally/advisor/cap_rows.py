"""What ``cap_output`` reads, all from the advisor's rollups, never a call.

- ``output_groups``: per (feature, provider, model) with text output only (no
  audio or image output tokens, which a token cap does not bound alike): the
  calls, output and reasoning tokens, the longest outputs (``group_caps.longest``),
  the cap (``token_hist.quantile_cap`` at ``QUANTILE``: the upper edge of the bin
  holding the nearest-rank p95 output, a round max_tokens at or above it), how
  many calls ended with ``finish_reason`` ``length`` (stopped by max_tokens) or
  have none recorded (``cells.Facts``), the reasoning effort asked for
  (``mixed`` when the calls asked for several), and the group's cells' output
  histograms.
- ``over_cap_cells``: per cell of a capped group, the calls above the cap and
  their output and reasoning tokens above it (``token_hist.above``: exact for a
  cap at a bin edge; the reasoning comes first in the output, so a cap cuts it
  only where it is longer), scaled to the calls a response cache still leaves
  (``token_changes.sent_part``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from llmtally.advisor.cells import Cell
from llmtally.advisor.group_caps import GroupKey, group_histograms, longest
from llmtally.advisor.grouping import by_feature_model
from llmtally.advisor.period import Period
from llmtally.advisor.token_changes import sent_part, still_sent
from llmtally.advisor.token_hist import Histogram, above, quantile_cap, token_histograms
from llmtally.advisor.working import Working

__all__ = [
    "QUANTILE",
    "Histograms",
    "OutputGroup",
    "OverCapCell",
    "output_groups",
    "over_cap_cells",
    "read_histograms",
]

QUANTILE = 95  # the cap: at or above the nearest-rank 95th percentile of the outputs


@dataclass(frozen=True, slots=True)
class OutputGroup:
    key: GroupKey
    cells: tuple[int, ...]  # the ids of the group's cells with text output
    calls: int
    output: int
    reasoning: int
    longest: int  # the average output of the highest bin: the longest is at least this
    cap: int | None  # a bin edge at or above the p95 output; None: above every edge
    length: int  # calls stopped by max_tokens
    unknown: int  # calls with no recorded finish reason
    effort: str | None  # the reasoning effort asked for, "mixed", None: none recorded


@dataclass(frozen=True, slots=True)
class OverCapCell:
    cell: int
    calls: int  # calls still sent whose output is above the cap
    output: int  # their output tokens above the cap
    reasoning: int  # their reasoning tokens above the cap


def _effort(cells: list[Cell]) -> str | None:
    least = [cell.facts.effort_min for cell in cells if cell.facts.effort_min is not None]
    most = [cell.facts.effort_max for cell in cells if cell.facts.effort_max is not None]
    if not least or not most:
        return None
    return min(least) if min(least) == max(most) else "mixed"


def _group(key: GroupKey, cells: list[Cell], hist: Histogram, reasoning: int) -> OutputGroup:
    return OutputGroup(
        key=key,
        cells=tuple(cell.id for cell in cells),
        calls=sum(item.calls for item in hist),
        output=sum(item.tokens for item in hist),
        reasoning=reasoning,
        longest=longest(hist),
        cap=quantile_cap(hist, QUANTILE),
        length=sum(cell.facts.length_stops for cell in cells),
        unknown=sum(cell.facts.finish_unknown for cell in cells),
        effort=_effort(cells),
    )


@dataclass(frozen=True, slots=True)
class Histograms:
    """Per cell id, the text-only calls' output and reasoning histograms."""

    output: Mapping[int, Histogram]
    reasoning: Mapping[int, Histogram]


def read_histograms(period: Period) -> Histograms:
    return Histograms(token_histograms(period, "output"), token_histograms(period, "reasoning"))


def output_groups(period: Period, hists: Histograms) -> list[OutputGroup]:
    """Per (feature, provider, model) with text output, in key order (see the
    module docstring)."""
    groups = by_feature_model(cell for cell in period.cells if cell.id in hists.output)
    merged_output = group_histograms(groups, hists.output)
    found = []
    for key, cells in sorted(groups.items()):
        reasoning = sum(item.tokens for c in cells for item in hists.reasoning.get(c.id, ()))
        found.append(_group(key, cells, merged_output[key], reasoning))
    return found


def over_cap_cells(group: OutputGroup, hists: Histograms, working: Working) -> list[OverCapCell]:
    """Per cell of ``group`` with outputs above its cap: the calls still sent above
    it and their output and reasoning tokens above it."""
    cap = group.cap
    if cap is None:
        return []
    found = []
    for cell in group.cells:
        calls, output = above(hists.output.get(cell, ()), cap)
        if not output:
            continue
        _, reasoning = above(hists.reasoning.get(cell, ()), cap)
        sent, output = sent_part(calls, output, cell, working)
        found.append(OverCapCell(cell, sent, output, still_sent(reasoning, cell, working)))
    return found
