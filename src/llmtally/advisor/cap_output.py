"""Cap output and reasoning (issue 15): output tokens a feature pays for and could
bound, per (feature, provider, model) with text output, read from the advisor's
rollups (``cap_rows``): no call is read but the sample calls of a kept cap.

- **A long tail of outputs.** The cap is a round max_tokens one would write: the
  upper edge of the histogram bin (``ledger/token_bins.py``: 1, 1.25, 1.5, 2,
  2.5, 3, 4, 5, 6, 8 x 10^k) holding the group's nearest-rank p95 output, so at
  or above the p95 (a p95 of 1,437 is capped at 1,500). The tail is long when
  the longest outputs (the average of the highest bin, never more than the
  longest) are at least twice the cap: runaway answers, not the usual length.
  Capping max_tokens there saves sum(max(0, output - cap)) output tokens, of
  which sum(max(0, reasoning - cap)) reasoning (it comes first in the output;
  the subsets stay valid), exact per cell for a cap at a bin edge, re-priced on
  the working copy. Where a response cache kept earlier answers some calls of a
  cell, its tokens above the cap are scaled to the share still sent. Traps,
  considered and not recommended: at least 1 in 20 calls already stopped at
  max_tokens (``finish_reason`` ``length``: the limit binds; a lower one cuts
  more answers), or reasoning is most of the output (a cap counts the reasoning
  too: a capped call may stop before it answers).
- **Reasoning share.** A group whose reasoning tokens are more than half of its
  output: a lower effort is recommended only with lab evidence that it passes
  the same checks (``llmtally advise verify FEATURE --models MODEL --effort
  low``), its saving the reasoning the replays did without (``cap_effort``);
  without it, or where it fails, the group is considered, with its share and the
  command that gathers the evidence; no saving is claimed.

Registered after ``trim`` (see its docstring): a cap changes what the model may
answer, so it is priced on top of every change that keeps the answers.
"""

from __future__ import annotations

from decimal import Decimal
from functools import partial

from llmtally.advisor.candidate import Candidate, Found
from llmtally.advisor.cap_effort import EffortEvidence, effort_result
from llmtally.advisor.cap_rows import (
    QUANTILE,
    OutputGroup,
    OverCapCell,
    output_groups,
    over_cap_cells,
)
from llmtally.advisor.group_caps import ids_above
from llmtally.advisor.grouping import call_filter, where
from llmtally.advisor.period import Period
from llmtally.advisor.recommendation import Confidence, Considered
from llmtally.advisor.token_changes import fewer_output, thinned
from llmtally.advisor.working import Working
from llmtally.ledger.schema import calls

__all__ = ["KIND", "LENGTH_SHARE", "REASONING_SHARE", "TAIL_FACTOR", "cap_output_recommender"]

KIND = "cap_output"
TAIL_FACTOR = 2  # the longest output at least this many times the cap: a long tail
LENGTH_SHARE = Decimal("0.05")  # calls already stopped by max_tokens: the limit binds
REASONING_SHARE = Decimal("0.5")  # reasoning above this share of the output: effort, not cap
SAMPLE_IDS = 10  # sample calls: the first above the cap

_OPENAI = """\
# FEATURE (MODEL): QUANTILE% of the outputs fit in CAP tokens
response = client.chat.completions.create(
    model="MODEL", messages=messages,
    max_completion_tokens=CAP,
)
if response.choices[0].finish_reason == "length":
    log.warning("FEATURE answer cut at CAP tokens")"""
_ANTHROPIC = """\
# FEATURE (MODEL): QUANTILE% of the outputs fit in CAP tokens
response = client.messages.create(
    model="MODEL", messages=messages,
    max_tokens=CAP,
)
if response.stop_reason == "max_tokens":
    log.warning("FEATURE answer cut at CAP tokens")"""


def _percent(part: int, whole: int) -> str:
    return f"{(Decimal(100 * part) / whole).quantize(Decimal('0.1'))}%"


def _reasoning(
    group: OutputGroup, period: Period, working: Working, lab: EffortEvidence
) -> Candidate | Considered | None:
    """A reasoning-led group's lower effort (``cap_effort``); None: not reasoning-led."""
    if not group.output or Decimal(group.reasoning) / group.output <= REASONING_SHARE:
        return None
    return effort_result(group, period, working, lab)


def _confidence(group: OutputGroup, over: int) -> Confidence:
    cut = f"{over:,} of {group.calls:,} outputs are longer than the cap and would be cut"
    if group.unknown:
        return Confidence(
            "low",
            f"{cut}; {group.unknown:,} calls have no recorded finish reason: whether "
            "outputs already stop at max_tokens is not known",
        )
    return Confidence(
        "medium", f"{cut}; check on the sample calls that the longest are runaway answers"
    )


def _tail_trap(group: OutputGroup) -> Considered | None:
    """Why a long tail is not capped; None: no long tail, or nothing against it."""
    if not _long_tail(group) or Decimal(group.length) / group.calls < LENGTH_SHARE:
        return None
    reason = (
        f"{group.length:,} of {group.calls:,} calls ({_percent(group.length, group.calls)}) "
        "already stopped at max_tokens: a lower cap would cut more answers"
    )
    return Considered(KIND, where(group.key), reason)


def _long_tail(group: OutputGroup) -> bool:
    return bool(group.cap) and group.longest >= TAIL_FACTOR * (group.cap or 0)


def _cappable(group: OutputGroup) -> bool:
    reasoning_led = group.output and Decimal(group.reasoning) / group.output > REASONING_SHARE
    return _long_tail(group) and not _tail_trap(group) and not reasoning_led


def _reasoning_assumption(group: OutputGroup) -> tuple[str, ...]:
    if not group.reasoning:
        return ()
    return (
        "reasoning counts toward the cap and comes first: a call still reasoning at "
        "the cap returns no answer",
    )


def _tail(
    group: OutputGroup, rows: list[OverCapCell], period: Period, working: Working
) -> Candidate | None:
    cap = group.cap or 0
    rows = [row for row in rows if row.output]
    over = sum(row.calls for row in rows)
    if not over:
        return None
    feature, provider, model = group.key
    template = _ANTHROPIC if provider == "anthropic" else _OPENAI
    how = template.replace("FEATURE", feature).replace("MODEL", model)
    scaled = thinned((row.cell for row in rows), working)
    return Candidate(
        kind=KIND,
        title=f"Cap the output at {cap:,} tokens (p{QUANTILE})",
        where=where(group.key),
        evidence={
            **call_filter(group.key, period),
            "cap_tokens": str(cap),
            "longest_output_tokens": str(group.longest),
            "calls_over_cap": str(over),
            "stopped_at_max_tokens": str(group.length),
        },
        parts=tuple((row.cell, fewer_output(row.output, row.reasoning)) for row in rows),
        calls=over,
        assumptions=(
            f"the cap is the round number at or above the p{QUANTILE} of the "
            f"{group.calls:,} outputs; the longest average {group.longest:,} tokens, "
            f"{group.longest // cap}x the cap: runaway answers",
            "a capped answer stops at the cap; the calls under it are unchanged",
            f"the traffic of the {period.days.normalize():f} day(s) repeats over a 30-day month",
            *_reasoning_assumption(group),
            *(() if scaled is None else (scaled,)),
        ),
        confidence=_confidence(group, over),
        how_to_apply=how.replace("QUANTILE", str(QUANTILE)).replace("CAP", str(cap)),
        sampler=partial(ids_above, period, group.key, calls.c.output_tokens, cap, SAMPLE_IDS),
    )


def cap_output_recommender(period: Period, working: Working) -> Found:
    """Candidates for long output tails; high reasoning shares and binding limits
    considered (see the module docstring)."""
    groups = output_groups(period)
    caps = {group.key: group.cap for group in groups if group.cap and _cappable(group)}
    rows = over_cap_cells(period, caps, working)
    found = Found()
    lab = EffortEvidence(period)
    for group in groups:
        tail = _tail(group, rows.get(group.key, []), period, working) if group.key in caps else None
        for result in (tail, _tail_trap(group), _reasoning(group, period, working, lab)):
            if isinstance(result, Candidate):
                found.candidates.append(result)
            elif isinstance(result, Considered):
                found.considered.append(result)
    return found
