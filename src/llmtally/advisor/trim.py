"""Trim prompts (issue 15): input tokens a feature sends that it can do without.

Three rules, per (feature, provider, model), read from the advisor's rollups
(``trim_rows``: no call is read but the sample calls of a kept history cap);
savings re-priced on the working copy by removing exactly the tokens named
(``token_changes.fewer_input``: the cheapest kind first, so a cached prefix
never overstates it); where a response cache kept earlier answers some calls of
a cell, the cell's tokens are scaled to the share still sent:

- **Tools declared but never called.** Calls that send tool schemas
  (``input_tools_tokens`` > 0) and none of which, in the period, ended with
  ``finish_reason`` ``tool_calls``: sending no tools saves exactly their tools
  tokens. Traps, considered and not recommended: the tools are called (even
  once: a rare case may need them), or some of those calls have no recorded
  finish reason (recorded before migration 0013: cannot tell).
- **History that grows without bound.** A group's traced calls (``trace_id``)
  whose history rose from the trace's previous call, and none that dropped
  (both taken as each call is written). The cap H is a round number (a bin edge
  of ``ledger/token_bins.py``) at or above the median call's history: at least
  half of the calls are unchanged; only the long conversations lose their
  oldest turns. (It was the median of the traces' largest history; a trace's
  peak is not kept per day, so a period could not sum it.) Saving:
  sum(max(0, history - H)) input tokens, exact per cell for H at a bin edge.
  Trap: history that already drops within a trace (a window or a summary
  bounds it) is considered, not recommended.
- **A system prompt that dominates.** Its share of the input tokens counted by
  role is above one half: how much of a prompt's text can go cannot be known
  from counts, so it is only considered, with its share; no saving is claimed.

Its place in ``advise.RECOMMENDERS``: after the response cache, right-sizing,
prompt caching and batch, and before ``cap_output``. Those change how the same
request is answered or billed; trimming changes what the model sees, which is
less certain, so it claims only what they leave: priced on their state (the
tools of a cached prefix at the cache-read rate, a batched feature's at the
batch rate, none on the calls a response cache answers). Run before prompt
caching it would be wrong besides: the cache replay reads the recorded prefix
(system + tools) from the ledger and would cache tools the trim removed.
``cap_output`` touches only output tokens, so its saving does not depend on
which of the two comes first.
"""

from __future__ import annotations

from decimal import Decimal
from functools import partial

from llmtally.advisor.candidate import Candidate, Found
from llmtally.advisor.group_caps import ids_above
from llmtally.advisor.grouping import by_feature_model, call_filter, where
from llmtally.advisor.period import Period
from llmtally.advisor.recommendation import Confidence, Considered, Level
from llmtally.advisor.token_changes import fewer_input, thinned
from llmtally.advisor.trim_rows import (
    HISTORY_QUANTILE,
    HistoryCap,
    HistoryCell,
    HistoryGroup,
    ToolsGroup,
    history_caps,
    history_cells,
    history_groups,
    tools_groups,
)
from llmtally.advisor.working import Working
from llmtally.ledger.schema import calls as calls_table

__all__ = ["KIND", "SYSTEM_SHARE", "trim_recommender"]

KIND = "trim_prompt"
SYSTEM_SHARE = Decimal("0.5")  # a system prompt above this share of the input dominates
_SURE_CALLS = 1000  # calls without a tool call for "high" confidence
SAMPLE_IDS = 10  # sample calls of a cap: the first above it

_TOOLS_OPENAI = """\
# FEATURE (MODEL): no call of the period called a tool; send none
response = client.chat.completions.create(
    model="MODEL",
    messages=messages,
    # tools=TOOLS,  # removed: never called, TOKENS tokens a call
)"""
_TOOLS_ANTHROPIC = """\
# FEATURE (MODEL): no call of the period called a tool; send none
response = client.messages.create(
    model="MODEL", max_tokens=MAX_TOKENS, messages=messages,
    # tools=TOOLS,  # removed: never called, TOKENS tokens a call
)"""
_HISTORY = """\
HISTORY_CAP = @CAP@  # tokens: at least half of @FEATURE@'s calls stay under it

def capped(history, limit=HISTORY_CAP):
    \"\"\"The latest turns of the history that fit in limit tokens.\"\"\"
    kept, used = [], 0
    for message in reversed(history):
        used += count_tokens(message)
        if used > limit:
            break
        kept.append(message)
    return kept[::-1]

messages = [system, *capped(history), latest_user]"""


def _same_traffic(period: Period) -> str:
    return f"the traffic of the {period.days.normalize():f} day(s) repeats over a 30-day month"


def _cheapest_first() -> str:
    return (
        "the tokens removed are priced as the cheapest the cell was billed for "
        "(cache reads first): never more than the recorded rate"
    )


def _scaled(cells: list[int], working: Working) -> tuple[str, ...]:
    said = thinned(cells, working)
    return () if said is None else (said,)


def _tools(group: ToolsGroup, period: Period, working: Working) -> Candidate | Considered | None:
    key, total = group.key, group.calls
    if group.called:
        reason = f"the tools are called: {group.called:,} of {total:,} calls ended with a tool call"
        return Considered(KIND, where(key), reason)
    if group.unknown:
        reason = (
            f"{group.unknown:,} of {total:,} calls with tools have no recorded finish reason: "
            "cannot tell whether the tools are used"
        )
        return Considered(KIND, where(key), reason)
    sent = [row for row in group.cells if row.tokens]
    calls, tokens = sum(row.sent for row in sent), sum(row.tokens for row in sent)
    if not calls:
        return None
    each = tokens // calls
    level: Level = "high" if total >= _SURE_CALLS else "medium"
    template = _TOOLS_ANTHROPIC if key[1] == "anthropic" else _TOOLS_OPENAI
    how = template.replace("FEATURE", key[0]).replace("MODEL", key[2])
    return Candidate(
        kind=KIND,
        title="Remove the tool schemas no call uses",
        where=where(key),
        evidence={**call_filter(key, period), "tools_tokens": str(tokens), "tool_calls": "0"},
        parts=tuple((row.cell, fewer_input(row.tokens)) for row in sent),
        calls=calls,
        assumptions=(
            f"the {total:,} calls sending tool schemas never ended with a tool call: "
            "the answers are the same without them",
            "the tools tokens are the schemas' own (as counted by role)",
            _cheapest_first(),
            _same_traffic(period),
            *_scaled([row.cell for row in sent], working),
        ),
        confidence=Confidence(
            level,
            f"none of {total:,} calls with tools in the period called one; an input not seen "
            "in the period might",
        ),
        how_to_apply=how.replace("TOKENS", f"{each:,}"),
    )


def _history_trap(group: HistoryGroup) -> Considered | None:
    if not group.drops:
        return None
    reason = (
        f"the history already drops {group.drops:,} time(s) within its traces: "
        "a window or a summary bounds it"
    )
    return Considered(KIND, where(group.key), reason)


def _history(
    group: HistoryGroup,
    found: HistoryCap,
    rows: list[HistoryCell],
    period: Period,
    working: Working,
) -> Candidate | None:
    key, cap = group.key, found.cap or 0
    rows = [row for row in rows if row.tokens]
    calls, tokens = sum(row.calls for row in rows), sum(row.tokens for row in rows)
    if not calls:
        return None
    return Candidate(
        kind=KIND,
        title=f"Cap the conversation history at {cap:,} tokens",
        where=where(key),
        evidence={
            **call_filter(key, period),
            "history_cap_tokens": str(cap),
            "history_calls": str(found.calls),
            "longest_history_tokens": str(found.longest),
            "history_tokens_over_cap": str(tokens),
        },
        parts=tuple((row.cell, fewer_input(row.tokens)) for row in rows),
        calls=calls,
        assumptions=(
            f"the cap is the round number at or above the p{HISTORY_QUANTILE} of the "
            f"{found.calls:,} traced calls' history: at least half of the calls are unchanged",
            "the oldest turns above the cap are dropped; nothing replaces them "
            "(a summary would add its own tokens)",
            "the answers stay as good without the oldest turns",
            _cheapest_first(),
            _same_traffic(period),
            *_scaled([row.cell for row in rows], working),
        ),
        confidence=Confidence(
            "low",
            "the model no longer sees the oldest turns of long conversations: "
            "check the sample calls' answers before applying",
        ),
        how_to_apply=_HISTORY.replace("@CAP@", f"{cap:_}").replace("@FEATURE@", key[0]),
        sampler=partial(
            ids_above, period, key, calls_table.c.input_history_tokens, cap, SAMPLE_IDS
        ),
    )


def _system_shares(period: Period) -> list[Considered]:
    found = []
    for key, cells in sorted(by_feature_model(period.cells).items()):
        system = sum(cell.roles.system for cell in cells)
        counted = sum(cell.roles.counted for cell in cells)
        total = sum(
            cell.roles.system
            + cell.roles.tools
            + cell.roles.history
            + cell.roles.latest_user
            + cell.roles.context
            for cell in cells
        )
        if total and Decimal(system) / total > SYSTEM_SHARE:
            share = (Decimal(100 * system) / total).quantize(Decimal("0.1"))
            reason = (
                f"the system prompt is {share}% of the input tokens ({system // counted:,} "
                f"tokens a call over {counted:,} calls): shorten it or cache it; no saving "
                "is claimed, as how much of its text can go is not known from counts"
            )
            found.append(Considered(KIND, where(key), reason))
    return found


def _histories(period: Period, working: Working) -> list[Candidate | Considered | None]:
    groups = history_groups(period)
    growing = [group for group in groups if group.rises and not group.drops]
    caps = history_caps(period, growing)
    capped = {key: found.cap for key, found in caps.items() if found.cap}
    rows = history_cells(period, capped, working)
    found: list[Candidate | Considered | None] = [_history_trap(group) for group in groups]
    found += [
        _history(group, caps[group.key], rows.get(group.key, []), period, working)
        for group in growing
        if group.key in capped
    ]
    return found


def trim_recommender(period: Period, working: Working) -> Found:
    """Candidates for unused tools and unbounded history; dominant system prompts
    considered (see the module docstring)."""
    found = Found()
    results = [_tools(group, period, working) for group in tools_groups(period, working)]
    for result in results + _histories(period, working):
        if isinstance(result, Candidate):
            found.candidates.append(result)
        elif isinstance(result, Considered):
            found.considered.append(result)
    found.considered.extend(_system_shares(period))
    return found
