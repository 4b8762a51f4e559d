"""What ``trim`` reads, all from the advisor's rollups, never a call: tool schemas
sent and never called, and conversation history, per (feature, provider, model).

- ``tools_groups``: the calls that sent tool schemas (``input_tools_tokens`` >
  0), how many ended with ``finish_reason`` ``tool_calls`` and how many have no
  recorded finish reason (``cells.Facts``, counted as each call is written;
  calls recorded before migration 0013 have none), and per cell their tools
  tokens and calls scaled to the calls a response cache still leaves
  (``token_changes.sent_part``).
- ``history_groups``: how often a traced call's history rose or dropped from
  its trace's previous call (``Facts``, taken when the call is written).
- ``history_caps``: for the groups given, the calls with traced history, the
  cap (``token_hist.quantile_cap`` at ``HISTORY_QUANTILE`` on the group's
  history histogram: the upper edge of the bin holding the median call's
  history, a round number at or above it) and the largest histories
  (``group_caps.longest``).
- ``history_cells``: per cell of the capped groups, the calls above the cap and
  their history tokens above it (``group_caps.cells_above``: exact at a bin
  edge), scaled to the calls still sent.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

from llmtally.advisor.group_caps import GroupKey, cells_above, group_histograms, longest
from llmtally.advisor.grouping import by_feature_model
from llmtally.advisor.period import Period
from llmtally.advisor.token_changes import sent_part
from llmtally.advisor.token_hist import quantile_cap
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


def history_caps(period: Period, groups: list[HistoryGroup]) -> dict[GroupKey, HistoryCap]:
    """Per group given with traced history: its calls, cap and largest histories
    (the histograms are read only when a group is given)."""
    if not groups:
        return {}
    hists = group_histograms(period, "history")
    found = {}
    for group in groups:
        hist = hists.get(group.key)
        if hist:
            calls = sum(item.calls for item in hist)
            found[group.key] = HistoryCap(
                calls, quantile_cap(hist, HISTORY_QUANTILE), longest(hist)
            )
    return found


def history_cells(
    period: Period, caps: Mapping[GroupKey, int], working: Working
) -> dict[GroupKey, list[HistoryCell]]:
    """Per capped group, its cells with history above the cap: the calls still sent
    above it and their history tokens above it."""
    found: dict[GroupKey, list[HistoryCell]] = defaultdict(list)
    for cell, (calls, tokens) in sorted(cells_above(period, "history", caps).items()):
        of = period.cells[cell]
        found[(of.feature, of.provider, of.model)].append(
            HistoryCell(cell, *sent_part(calls, tokens, cell, working))
        )
    return found
