"""What ``cap_output`` reads, all from the advisor's rollups, never a call.

- ``output_groups``: per (feature, provider, model) with text output only (no
  audio or image output tokens, which a token cap does not bound alike): the
  calls, output and reasoning tokens, the longest outputs (``group_caps.longest``),
  the cap (``token_hist.quantile_cap`` at ``QUANTILE`` on the group's output
  histogram: the upper edge of the bin holding the nearest-rank p95 output, a
  round max_tokens at or above it), how many calls ended with ``finish_reason``
  ``length`` (stopped by max_tokens) or have none recorded (``cells.Facts``),
  and the reasoning effort asked for (``mixed`` when the calls asked for several).
- ``over_cap_cells``: per cell of the capped groups, the calls above the cap and
  their output and reasoning tokens above it (``group_caps.cells_above``: exact
  for a cap at a bin edge; the reasoning comes first in the output, so a cap
  cuts it only where it is longer), scaled to the calls a response cache still
  leaves (``token_changes.sent_part``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

from llmtally.advisor.cells import Cell
from llmtally.advisor.group_caps import GroupKey, cells_above, group_histograms, longest
from llmtally.advisor.grouping import by_feature_model
from llmtally.advisor.period import Period
from llmtally.advisor.token_changes import sent_part, still_sent
from llmtally.advisor.token_hist import Histogram, quantile_cap
from llmtally.advisor.working import Working

__all__ = ["QUANTILE", "OutputGroup", "OverCapCell", "output_groups", "over_cap_cells"]

QUANTILE = 95  # the cap: at or above the nearest-rank 95th percentile of the outputs


@dataclass(frozen=True, slots=True)
class OutputGroup:
    key: GroupKey
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
        calls=sum(item.calls for item in hist),
        output=sum(item.tokens for item in hist),
        reasoning=reasoning,
        longest=longest(hist),
        cap=quantile_cap(hist, QUANTILE),
        length=sum(cell.facts.length_stops for cell in cells),
        unknown=sum(cell.facts.finish_unknown for cell in cells),
        effort=_effort(cells),
    )


def output_groups(period: Period) -> list[OutputGroup]:
    """Per (feature, provider, model) with text output, in key order (see the
    module docstring)."""
    cells = by_feature_model(period.cells)
    reasoning = group_histograms(period, "reasoning")
    return [
        _group(key, cells[key], hist, sum(item.tokens for item in reasoning.get(key, ())))
        for key, hist in sorted(group_histograms(period, "output").items())
    ]


def over_cap_cells(
    period: Period, caps: Mapping[GroupKey, int], working: Working
) -> dict[GroupKey, list[OverCapCell]]:
    """Per capped group, its cells with outputs above the cap: the calls still sent
    above it and their output and reasoning tokens above it."""
    reasoning = cells_above(period, "reasoning", caps)
    found: dict[GroupKey, list[OverCapCell]] = defaultdict(list)
    for cell, (calls, output) in sorted(cells_above(period, "output", caps).items()):
        sent, left = sent_part(calls, output, cell, working)
        cut = still_sent(reasoning.get(cell, (0, 0))[1], cell, working)
        of = period.cells[cell]
        found[(of.feature, of.provider, of.model)].append(OverCapCell(cell, sent, left, cut))
    return found
