"""What ``trim`` reads, all from the advisor's rollups, never a call: tool schemas
sent and never called, and conversation history, per (feature, provider, model).

- ``tools_groups``: the calls that sent tool schemas (``input_tools_tokens`` >
  0), how many ended with ``finish_reason`` ``tool_calls`` and how many have no
  recorded finish reason (``cells.Facts``, counted as each call is written;
  calls recorded before migration 0013 have none), and per cell their tools
  tokens and calls scaled to the calls a response cache still leaves
  (``token_changes.sent_part``).
- ``history_groups``: how often a traced call's history rose or dropped from
  its trace's previous call (``Facts``, taken when the call is written), the
  calls with traced history, the cap (``token_hist.quantile_cap`` at
  ``HISTORY_QUANTILE``: the upper edge of the bin holding the median call's
  history, a round number at or above it) and the largest histories
  (``group_caps.longest``).
- ``history_cells``: per cell of a capped group, the calls above the cap and
  their history tokens above it (``token_hist.above``: exact at a bin edge),
  scaled to the calls still sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from llmtally.advisor.group_caps import GroupKey, group_histograms, longest
from llmtally.advisor.grouping import by_feature_model
from llmtally.advisor.period import Period
from llmtally.advisor.token_changes import sent_part
from llmtally.advisor.token_hist import Histogram, above, quantile_cap, token_histograms
from llmtally.advisor.working import Working

__all__ = [
    "HISTORY_QUANTILE",
    "HistoryCell",
    "HistoryGroup",
    "ToolsCell",
    "ToolsGroup",
    "HistoryCap",
    "history_caps",
    "history_cells",
    "history_groups",
    "tools_groups",
]

HISTORY_QUANTILE = 50  # the history cap: at or above the median call's history


@dataclass(frozen=True, slots=True)
class ToolsCell:
    cell: int
    sent: int  # calls with tool schemas still sent
    tokens: int  # their tools tokens


@dataclass(frozen=True, slots=True)
class ToolsGroup:
    key: GroupKey
    calls: int  # calls that sent tool schemas
    called: int  # ended with finish_reason tool_calls
    unknown: int  # no recorded finish reason
    cells: tuple[ToolsCell, ...]


@dataclass(frozen=True, slots=True)
class HistoryGroup:
    key: GroupKey
    rises: int  # a call's history above the previous call's of its trace
    drops: int  # below it: something already bounds the history
    cells: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class HistoryCap:
    """A group's calls with traced history, its cap and its largest histories."""

    calls: int  # traced calls with a history count
    cap: int | None  # None: the median is above every bin edge
    longest: int  # the average of the highest bin: the largest is at least this


@dataclass(frozen=True, slots=True)
class HistoryCell:
    cell: int
    calls: int  # calls still sent whose history is above the cap
    tokens: int  # their history tokens above the cap


def tools_groups(period: Period, working: Working) -> list[ToolsGroup]:
    """Per (feature, provider, model) that sent tool schemas, in key order."""
    found = []
    for key, cells in sorted(by_feature_model(period.cells).items()):
        sending = [cell for cell in cells if cell.facts.tools_calls]
        if not sending:
            continue
        rows = tuple(
            ToolsCell(
                cell.id,
                *sent_part(cell.facts.tools_calls, cell.facts.tools_tokens, cell.id, working),
            )
            for cell in sending
        )
        found.append(
            ToolsGroup(
                key=key,
                calls=sum(cell.facts.tools_calls for cell in sending),
                called=sum(cell.facts.tools_used for cell in sending),
                unknown=sum(cell.facts.tools_unknown for cell in sending),
                cells=rows,
            )
        )
    return found


def history_groups(period: Period) -> list[HistoryGroup]:
    """Per (feature, provider, model) whose traced history rose or dropped, in key
    order."""
    found = []
    for key, cells in sorted(by_feature_model(period.cells).items()):
        rises = sum(cell.facts.history_rises for cell in cells)
        drops = sum(cell.facts.history_drops for cell in cells)
        if rises or drops:
            ids = tuple(cell.id for cell in cells)
            found.append(HistoryGroup(key, rises, drops, ids))
    return found


def history_caps(
    period: Period, groups: list[HistoryGroup]
) -> tuple[dict[GroupKey, HistoryCap], Mapping[int, Histogram]]:
    """Per group: its history histogram and cap; and the cells' histograms (read
    only when a group is given)."""
    if not groups:
        return {}, {}
    per_cell = token_histograms(period, "history")
    cells = {group.key: [period.cells[cell] for cell in group.cells] for group in groups}
    merged = group_histograms(cells, per_cell)
    caps = {
        key: HistoryCap(
            sum(item.calls for item in hist), quantile_cap(hist, HISTORY_QUANTILE), longest(hist)
        )
        for key, hist in merged.items()
    }
    return caps, per_cell


def history_cells(
    group: HistoryGroup, cap: int, per_cell: Mapping[int, Histogram], working: Working
) -> list[HistoryCell]:
    """Per cell of ``group`` with history above ``cap``: the calls still sent above
    it and their history tokens above it."""
    found = []
    for cell in group.cells:
        calls, tokens = above(per_cell.get(cell, ()), cap)
        if tokens:
            found.append(HistoryCell(cell, *sent_part(calls, tokens, cell, working)))
    return found
