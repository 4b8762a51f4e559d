"""Duplicates: identical requests repeated within a window, which a response
cache would answer without calling the model.

Identical means the same SHA-256 of the request body
(``llmtally.advisor.repeat_rows``); calls without one are not considered. Per
body, the first call opens a window (default 1 h, a cache entry's lifetime); the
calls inside it are repeats, and the first call after it opens the next window.
The saving is the cost of the repeats (they would cost $0); the first call of
each window is still paid. The one-hour window the advisor uses is summed by the
ledger as calls are written (``advisor/repeat_cells.py``); another window
(``duplicates_within``) reads the period's repeated calls one by one.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable

from llmtally.advisor.candidate import Candidate, Found, Recommender
from llmtally.advisor.grouping import Key, call_filter, where
from llmtally.advisor.period import Period
from llmtally.advisor.recommendation import Confidence, Considered
from llmtally.advisor.repeat_cells import RepeatCell, RepeatSample, repeat_cells, repeat_sample
from llmtally.advisor.repeat_rows import Repeat, repeated_calls
from llmtally.advisor.usage_sum import add
from llmtally.advisor.working import Part, Working, without
from llmtally.ledger.advice_tables import REPEAT_WINDOW_S
from llmtally.usage import Usage

__all__ = ["DEFAULT_WINDOW", "duplicates_recommender", "duplicates_within", "repeats"]

DEFAULT_WINDOW = dt.timedelta(seconds=REPEAT_WINDOW_S)
SAMPLE_IDS = 10
KIND = "duplicates"

_HOW = """\
# A response cache keyed by the request's SHA-256, entries kept WINDOW
body = json.dumps(request, sort_keys=True).encode()
key = hashlib.sha256(body).hexdigest()
if (hit := cache.get(key)) is not None:
    return hit
response = client.chat.completions.create(**request)
cache.set(key, response, ttl=SECONDS)"""


def span(window: dt.timedelta) -> str:
    """A window as people say it: ``1 h``, ``30 min``, ``90 s``."""
    seconds = int(window.total_seconds())
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    return f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} s"


def repeats(items: Iterable[Repeat], window: dt.timedelta) -> tuple[list[Repeat], int]:
    """(the calls a cache with entries kept ``window`` would answer, the number of
    identical requests sent again after their window ended)."""
    by_body: dict[str, list[Repeat]] = defaultdict(list)
    for item in items:
        by_body[item.digest].append(item)
    answered: list[Repeat] = []
    late = 0
    for sent in by_body.values():
        opened = sent[0].started_at
        for item in sent[1:]:
            if item.started_at - opened < window:
                answered.append(item)
            else:
                opened = item.started_at
                late += 1
    answered.sort(key=lambda item: (item.started_at, item.call_id))
    return answered, late


def _confidence(items: list[Repeat]) -> Confidence:
    if all(item.temperature_zero for item in items):
        return Confidence("high", "the repeated requests ask for temperature 0")
    return Confidence(
        "medium",
        "identical requests at a sampling temperature may expect different answers",
    )


def _assumptions(window: dt.timedelta, late: int) -> tuple[str, ...]:
    said = [
        f"a cached answer is as good as a new one for {span(window)}",
        "only calls with a request digest (recorded, or of a whole stored body) are compared",
    ]
    if late:
        said.append(f"{late:,} identical requests came after the window ended: not counted")
    return tuple(said)


def _parts(found: list[Repeat]) -> tuple[Part, ...]:
    """Per cell: stop sending its answered calls (their summed usage)."""
    per_cell: dict[int, tuple[Usage, int]] = {}
    for item in found:
        usage, n = per_cell.get(item.cell, (Usage(requests=0), 0))
        per_cell[item.cell] = (add(usage, item.usage), n + 1)
    return tuple((cid, without(usage, n)) for cid, (usage, n) in sorted(per_cell.items()))


def _candidate(
    key: Key, found: list[Repeat], late: int, period: Period, window: dt.timedelta
) -> Candidate:
    seconds = str(int(window.total_seconds()))
    ids = tuple(item.call_id for item in found)
    return Candidate(
        kind=KIND,
        title="Cache repeated responses",
        where=where(key),
        evidence={**call_filter(key, period), "window_s": seconds},
        parts=_parts(found),
        calls=len(found),
        assumptions=_assumptions(window, late),
        confidence=_confidence(found),
        how_to_apply=_HOW.replace("WINDOW", span(window)).replace("SECONDS", seconds),
        sample_ids=ids,
        answered_ids=ids,
    )


def _grouped(period: Period, found: list[Repeat]) -> dict[Key, list[Repeat]]:
    groups: dict[Key, list[Repeat]] = defaultdict(list)
    for item in found:
        cell = period.cells[item.cell]
        groups[(cell.feature, cell.provider, cell.model)].append(item)
    return groups


def _confidence_of(sample: RepeatSample) -> Confidence:
    if sample.temperature_zero:
        return Confidence("high", "the sampled repeated requests ask for temperature 0")
    return Confidence(
        "medium",
        "identical requests at a sampling temperature may expect different answers",
    )


def _rolled_up(period: Period) -> Found:
    """The default window, from the sums the ledger keeps (``repeat_cells``)."""
    groups: dict[Key, list[RepeatCell]] = defaultdict(list)
    for row in repeat_cells(period):
        cell = period.cells[row.cell]
        groups[(cell.feature, cell.provider, cell.model)].append(row)
    result = Found()
    seconds = str(REPEAT_WINDOW_S)
    for key, rows in sorted(groups.items()):
        answered, late = sum(r.repeats for r in rows), sum(r.late for r in rows)
        if not answered:
            reason = f"{late:,} identical requests, none within {span(DEFAULT_WINDOW)} of the first"
            result.considered.append(Considered(KIND, where(key), reason))
            continue
        sample = repeat_sample(period, key, SAMPLE_IDS)
        result.candidates.append(
            Candidate(
                kind=KIND,
                title="Cache repeated responses",
                where=where(key),
                evidence={**call_filter(key, period), "window_s": seconds},
                parts=tuple((r.cell, without(r.usage, r.repeats)) for r in rows if r.repeats),
                calls=answered,
                assumptions=_assumptions(DEFAULT_WINDOW, late),
                confidence=_confidence_of(sample),
                how_to_apply=_HOW.replace("WINDOW", span(DEFAULT_WINDOW)).replace(
                    "SECONDS", seconds
                ),
                sample_ids=sample.call_ids,
            )
        )
    return result


def duplicates_within(window: dt.timedelta = DEFAULT_WINDOW) -> Recommender:
    """The duplicates recommender for a cache that keeps entries ``window``: the
    default window (one hour) from the ledger's sums, another from the calls."""

    def recommend(period: Period, working: Working) -> Found:
        if window == dt.timedelta(seconds=REPEAT_WINDOW_S):
            return _rolled_up(period)
        result = Found()
        for key, items in sorted(_grouped(period, repeated_calls(period)).items()):
            found, late = repeats(items, window)
            if found:
                result.candidates.append(_candidate(key, found, late, period, window))
            elif late:
                reason = f"{late:,} identical requests, none within {span(window)} of the first"
                result.considered.append(Considered(KIND, where(key), reason))
        return result

    return recommend


duplicates_recommender = duplicates_within()
