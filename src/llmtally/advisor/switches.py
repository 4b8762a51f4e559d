"""Changes found in the ledger without anyone marking them: a feature whose calls
moved from one model to another, or from the standard tier to batch or flex.

From the calls per (feature, provider, model, tier, UTC day): for each day that
could be the first after a change, the days before must have at least
:data:`SHARE` of the feature's calls on one (provider, model, tier) and the days
from it on at least that share on another. Of the days that qualify, the one
that puts the most calls on the side of their own setting wins (the earliest on
a tie), so a day with calls on both goes where most of its calls belong.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from llmtally.advisor.realised_sql import DayMix

__all__ = ["SHARE", "Setting", "Switch", "switches"]

SHARE = Decimal("0.8")
Setting = tuple[str, str, str]  # provider, model, service tier
_CHEAPER_TIERS = ("batch", "flex")


@dataclass(frozen=True, slots=True)
class Switch:
    """``feature`` moved from ``old`` to ``new`` on ``day`` (UTC)."""

    feature: str
    old: Setting
    new: Setting
    day: dt.date

    @property
    def kind(self) -> str:
        return "batch" if self.old[:2] == self.new[:2] else "right_size"


def _kind_known(old: Setting, new: Setting) -> bool:
    if old[:2] != new[:2]:
        return True
    return old[2] == "standard" and new[2] in _CHEAPER_TIERS


def _dominant(counts: Counter[Setting]) -> Setting | None:
    total = sum(counts.values())
    if not total:
        return None
    setting, n = max(sorted(counts.items()), key=lambda item: item[1])
    return setting if Decimal(n) >= SHARE * total else None


def _feature_switch(feature: str, days: dict[dt.date, Counter[Setting]]) -> Switch | None:
    order = sorted(days)
    after: Counter[Setting] = Counter()
    for day in order:
        after.update(days[day])
    before: Counter[Setting] = Counter()
    best: tuple[int, Switch] | None = None
    for previous, day in zip(order, order[1:], strict=False):
        before.update(days[previous])
        after.subtract(days[previous])
        after = +after  # drop the settings left with no calls
        old, new = _dominant(before), _dominant(after)
        if old is None or new is None or old == new or not _kind_known(old, new):
            continue
        score = before[old] + after[new]
        if best is None or score > best[0]:
            best = (score, Switch(feature, old, new, day))
    return None if best is None else best[1]


def switches(mix: Iterable[DayMix]) -> list[Switch]:
    """Each feature's change of model or tier in the period, if it has one."""
    by_feature: dict[str, dict[dt.date, Counter[Setting]]] = defaultdict(dict)
    for row in mix:
        day = by_feature[row.feature].setdefault(row.day, Counter())
        day[(row.provider, row.model, row.tier)] += row.calls
    found = []
    for feature in sorted(by_feature):
        switch = _feature_switch(feature, by_feature[feature])
        if switch is not None:
            found.append(switch)
    return found
