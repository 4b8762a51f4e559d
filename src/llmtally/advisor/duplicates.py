"""Duplicates: identical requests repeated within a window, which a response
cache would answer without calling the model.

Identical means the same SHA-256 of the stored request body
(``llmtally.advisor.period``); calls without a whole stored body are not
considered. Per body, the first call opens a window (default 1 h, a cache entry's
lifetime); the calls inside it are repeats, and the first call after it opens the
next window. The saving is the cost of the repeats (they would cost $0); the
first call of each window is still paid.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable

from llmtally.advisor.candidate import Candidate, Found, Recommender
from llmtally.advisor.grouping import Key, by_feature_model, call_filter, where
from llmtally.advisor.period import Period, PeriodCall
from llmtally.advisor.recommendation import Confidence, Considered
from llmtally.advisor.working import Working, answered_from_cache

__all__ = ["DEFAULT_WINDOW", "duplicates_recommender", "duplicates_within", "repeats"]

DEFAULT_WINDOW = dt.timedelta(hours=1)
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


def repeats(items: Iterable[PeriodCall], window: dt.timedelta) -> tuple[list[PeriodCall], int]:
    """(the calls a cache with entries kept ``window`` would answer, the number of
    identical requests sent again after their window ended)."""
    by_body: dict[str, list[PeriodCall]] = defaultdict(list)
    for item in items:
        if item.body_sha256 is not None:
            by_body[item.body_sha256].append(item)
    answered: list[PeriodCall] = []
    late = 0
    for sent in by_body.values():
        opened = sent[0].call.started_at
        for item in sent[1:]:
            if item.call.started_at - opened < window:
                answered.append(item)
            else:
                opened = item.call.started_at
                late += 1
    answered.sort(key=lambda item: (item.call.started_at, item.call.id))
    return answered, late


def _confidence(items: list[PeriodCall]) -> Confidence:
    if all(item.body is not None and item.body.get("temperature") == 0 for item in items):
        return Confidence("high", "the repeated requests ask for temperature 0")
    return Confidence(
        "medium",
        "identical requests at a sampling temperature may expect different answers",
    )


def _assumptions(window: dt.timedelta, late: int) -> tuple[str, ...]:
    said = [
        f"a cached answer is as good as a new one for {span(window)}",
        "only calls with a stored, whole request body are compared",
    ]
    if late:
        said.append(f"{late:,} identical requests came after the window ended: not counted")
    return tuple(said)


def _candidate(
    key: Key, found: list[PeriodCall], late: int, period: Period, window: dt.timedelta
) -> Candidate:
    seconds = str(int(window.total_seconds()))
    return Candidate(
        kind=KIND,
        title="Cache repeated responses",
        where=where(key),
        evidence={**call_filter(key, period), "window_s": seconds},
        call_ids=tuple(item.call.id for item in found),
        change=answered_from_cache,
        assumptions=_assumptions(window, late),
        confidence=_confidence(found),
        how_to_apply=_HOW.replace("WINDOW", span(window)).replace("SECONDS", seconds),
    )


def duplicates_within(window: dt.timedelta = DEFAULT_WINDOW) -> Recommender:
    """The duplicates recommender for a cache that keeps entries ``window``."""

    def recommend(period: Period, working: Working) -> Found:
        result = Found()
        for key, items in sorted(by_feature_model(period.calls).items()):
            found, late = repeats(items, window)
            if found:
                result.candidates.append(_candidate(key, found, late, period, window))
            elif late:
                reason = f"{late:,} identical requests, none within {span(window)} of the first"
                result.considered.append(Considered(KIND, where(key), reason))
        return result

    return recommend


duplicates_recommender = duplicates_within()
