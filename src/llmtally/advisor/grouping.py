"""Grouping the period's cells by where a change would be made (feature, model)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from llmtally.advisor.cells import NO_FEATURE, Cell
from llmtally.advisor.period import Period

__all__ = ["NO_FEATURE", "Key", "by_feature_model", "call_filter", "where"]

Key = tuple[str, str, str]  # feature, provider, model


def by_feature_model(cells: Iterable[Cell]) -> dict[Key, list[Cell]]:
    """Cells per (feature, provider, model that answered), in their order."""
    groups: dict[Key, list[Cell]] = defaultdict(list)
    for cell in cells:
        groups[(cell.feature, cell.provider, cell.model)].append(cell)
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
