"""Sums and differences of ``Usage`` records: the advisor prices groups of calls
(``llmtally.advisor.cells``) as one summed usage, and a change to some calls of a
group adds or removes their tokens."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from llmtally.ledger.rows import USAGE_COUNTS as COUNTS
from llmtally.usage import Usage

__all__ = ["COUNTS", "add", "subtract"]


def add(base: Usage, more: Usage) -> Usage:
    """``base`` with every count of ``more`` added (tier and media of ``base``)."""
    return replace(base, **{name: getattr(base, name) + getattr(more, name) for name in COUNTS})


def subtract(base: Usage, less: Usage) -> Usage:
    """``base`` without ``less``, a part of it (UsageError if it is not)."""
    counts: dict[str, Any] = {name: getattr(base, name) - getattr(less, name) for name in COUNTS}
    media: dict[str, Any] = {"images": (), "audio_seconds": None} if not counts["requests"] else {}
    return replace(base, **counts, **media)
