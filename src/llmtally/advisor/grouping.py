"""Grouping the period's calls by where a change would be made (feature, model)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from llmtally.advisor.period import Period, PeriodCall

__all__ = ["NO_FEATURE", "by_feature_model", "call_filter", "where"]

NO_FEATURE = "(none)"
Key = tuple[str, str, str]  # feature, provider, model


def by_feature_model(items: Iterable[PeriodCall]) -> dict[Key, list[PeriodCall]]:
    """Calls per (feature, provider, model that answered), in time order."""
    groups: dict[Key, list[PeriodCall]] = defaultdict(list)
    for item in items:
        call = item.call
        groups[(call.feature or NO_FEATURE, call.provider, call.model)].append(item)
    return dict(groups)


def where(key: Key) -> dict[str, str]:
    feature, provider, model = key
    return {"feature": feature, "provider": provider, "model": model}


def call_filter(key: Key, period: Period) -> dict[str, str]:
    """The ``llmtally calls`` filter naming the group's calls in the period."""
    feature, _, model = key
    return {
        "feature": feature,
        "model": model,
        "since": period.since.isoformat(),
        "until": period.until.isoformat(),
    }
