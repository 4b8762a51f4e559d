"""What the advisor says: a recommendation with the dollars it saves, and what it
looked at and did not recommend (so that a trap is visible, not silently dropped)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from llmtally.advisor.realised import Realised

__all__ = ["Advice", "Confidence", "Considered", "Recommendation"]

Level = Literal["high", "medium", "low"]


@dataclass(frozen=True, slots=True)
class Confidence:
    """How sure the advisor is, and why (a level alone says nothing to act on)."""

    level: Level
    why: str


@dataclass(frozen=True, slots=True)
class Recommendation:
    """One change, where it applies, and what it saves.

    ``period_saving`` is the exact difference between re-pricing the affected
    calls of the period as they were (after the recommendations before this one)
    and under this change; ``monthly_saving`` scales it to 30 days.
    ``evidence`` is a call filter (``llmtally calls`` options) naming the calls.
    """

    kind: str
    title: str
    where: dict[str, str]
    evidence: dict[str, str]
    calls: int
    period_saving: Decimal
    monthly_saving: Decimal
    assumptions: tuple[str, ...]
    confidence: Confidence
    how_to_apply: str
    call_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Considered:
    """A place the advisor looked at and does not recommend changing, and why."""

    kind: str
    where: dict[str, str]
    reason: str
    monthly_saving: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Advice:
    """The recommendations over ``since``..``until`` (savings combined, never
    double counted), the most saving first, and what was considered and left."""

    since: dt.datetime
    until: dt.datetime
    floor: Decimal
    recommendations: tuple[Recommendation, ...] = ()
    considered: tuple[Considered, ...] = field(default_factory=tuple)
    # What changes applied before ``until`` have saved (llmtally.advisor.realised).
    realised: tuple[Realised, ...] = ()

    @property
    def monthly_saving(self) -> Decimal:
        """The saving of applying every recommendation together (their sum: each
        was priced on top of the ones before it)."""
        return sum((r.monthly_saving for r in self.recommendations), Decimal(0))
