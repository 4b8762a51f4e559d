"""What a recommender hands the advisor: candidate changes (not yet priced against
the others or the floor) and the places it considered and rejected.

A recommender is a function ``(period, working) -> Found``; the advisor runs the
list in ``llmtally.advisor.advise.RECOMMENDERS`` in order, so a new kind plugs in by
adding its function there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from llmtally.advisor.period import Period
from llmtally.advisor.recommendation import Confidence, Considered
from llmtally.advisor.working import Change, Working

__all__ = ["Candidate", "Found", "Recommender"]


@dataclass(frozen=True, slots=True)
class Candidate:
    """A change to ``call_ids``; the advisor prices it on the working copy."""

    kind: str
    title: str
    where: dict[str, str]
    evidence: dict[str, str]
    call_ids: tuple[str, ...]
    change: Change
    assumptions: tuple[str, ...]
    confidence: Confidence
    how_to_apply: str


@dataclass(frozen=True, slots=True)
class Found:
    candidates: list[Candidate] = field(default_factory=list)
    considered: list[Considered] = field(default_factory=list)


Recommender = Callable[[Period, Working], Found]
