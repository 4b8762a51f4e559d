"""Advice as JSON (``llmtally advise --json``); the schema is docs/advice-schema.md.

Amounts are exact decimal strings (``llmtally.meter.decimal_text``: no trailing
zeros), never rounded text; times are ISO 8601 UTC.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from llmtally.advisor.realised import Realised
from llmtally.advisor.recommendation import Advice, Considered, Recommendation
from llmtally.meter import decimal_text

__all__ = ["advice_json", "realised_json"]


def _recommendation(item: Recommendation) -> dict[str, Any]:
    return {
        "kind": item.kind,
        "title": item.title,
        "where": item.where,
        "evidence": item.evidence,
        "calls": item.calls,
        "period_saving": decimal_text(item.period_saving),
        "monthly_saving": decimal_text(item.monthly_saving),
        "assumptions": list(item.assumptions),
        "confidence": {"level": item.confidence.level, "why": item.confidence.why},
        "how_to_apply": item.how_to_apply,
        "call_ids": list(item.call_ids),
    }


def _considered(item: Considered) -> dict[str, Any]:
    saving = item.monthly_saving
    return {
        "kind": item.kind,
        "where": item.where,
        "reason": item.reason,
        "monthly_saving": None if saving is None else decimal_text(saving),
    }


def _amount(value: Decimal | None) -> str | None:
    return None if value is None else decimal_text(value)


def realised_json(item: Realised) -> dict[str, Any]:
    """One realised saving as JSON-ready values (see docs/advice-schema.md)."""
    return {
        "kind": item.kind,
        "where": item.where,
        "applied_at": item.applied_at.isoformat(),
        "how_known": item.how_known,
        "calls_before": item.calls_before,
        "calls_after": item.calls_after,
        "cost_per_call_before": _amount(item.cost_per_call_before),
        "cost_per_call_after": _amount(item.cost_per_call_after),
        "period_saving": decimal_text(item.period_saving),
        "monthly_saving": decimal_text(item.monthly_saving),
        "method": item.method,
        "note": item.note,
    }


def advice_json(advice: Advice) -> dict[str, Any]:
    """The advice as JSON-ready values (see docs/advice-schema.md)."""
    return {
        "since": advice.since.isoformat(),
        "until": advice.until.isoformat(),
        "floor": decimal_text(advice.floor),
        "monthly_saving": decimal_text(advice.monthly_saving),
        "recommendations": [_recommendation(r) for r in advice.recommendations],
        "considered": [_considered(c) for c in advice.considered],
        "realised": [realised_json(r) for r in advice.realised],
    }
