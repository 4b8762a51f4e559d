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
from llmtally.advisor.working import Part, Working

__all__ = ["Candidate", "Found", "Recommender"]


@dataclass(frozen=True, slots=True)
class Candidate:
    """A change to some cells (``parts``: each cell's id and its change) touching
    ``calls`` calls; the advisor prices it on the working copy.

    ``sample_ids``: calls to show as evidence (when empty, ``sampler``'s, asked
    only for a candidate that is kept; else the first calls matching ``where``);
    ``answered_ids``: calls the change stops sending (a response cache answers
    them), which later recommenders leave out.
    """

    kind: str
    title: str
    where: dict[str, str]
    evidence: dict[str, str]
    parts: tuple[Part, ...]
    calls: int
    assumptions: tuple[str, ...]
    confidence: Confidence
    how_to_apply: str
    sample_ids: tuple[str, ...] = ()
    answered_ids: tuple[str, ...] = ()
    sampler: Callable[[], tuple[str, ...]] | None = None  # sample ids, asked once kept


@dataclass(frozen=True, slots=True)
class Found:
    candidates: list[Candidate] = field(default_factory=list)
    considered: list[Considered] = field(default_factory=list)


Recommender = Callable[[Period, Working], Found]
