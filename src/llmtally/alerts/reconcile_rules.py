"""Reconcile rules: the ledger against the providers' own reports feeds the alerts.

Each check reconciles the rule's last ``days`` full UTC days (``llmtally
reconcile``'s comparison, the same figures) and finds:

- ``unrecorded``: the period's unrecorded spend (usage the providers report
  that no capture path recorded, priced by the catalog) above
  ``unrecorded_usd``: one alert per rule per UTC day;
- ``drift``: a model whose bill implies a price the catalog lacks (the
  ``price_drift`` explanations): one alert per model and first day of the
  drift, with the dollars it accounts for in the period.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING

from llmtally.alerts.config import ReconcileRule
from llmtally.alerts.findings import Finding

if TYPE_CHECKING:
    from llmtally.catalog import Catalog
    from llmtally.ledger import Store
    from llmtally.reconcile.compare import Reconciliation

__all__ = ["reconcile_findings"]

DRIFT = "price_drift"  # the explanation kind of a price the catalog lacks


def _day_start(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def reconcile_findings(
    store: Store, catalog: Catalog, rule: ReconcileRule, now: dt.datetime
) -> list[Finding]:
    """What the rule's reconciliation shows now (full days up to today 00:00 UTC)."""
    from llmtally.reconcile.compare import reconcile

    until = _day_start(now)
    result = reconcile(store, catalog, until - dt.timedelta(days=rule.days), until)
    found = _unrecorded(rule, result, until, now)
    return found + (_drifts(rule, result, now) if rule.drift else [])


def _unrecorded(
    rule: ReconcileRule, result: Reconciliation, today: dt.datetime, now: dt.datetime
) -> list[Finding]:
    unrecorded = result.headline().unrecorded
    if rule.unrecorded_usd is None or unrecorded <= rule.unrecorded_usd:
        return []
    return [
        Finding(
            rule=rule.name,
            kind="unrecorded",
            scope={},
            period="day",
            period_start=today,
            period_end=now,
            spend=unrecorded,
            amount=rule.unrecorded_usd,
            webhooks=tuple(rule.webhooks) if rule.webhooks is not None else None,
        )
    ]


def _drifts(rule: ReconcileRule, result: Reconciliation, now: dt.datetime) -> list[Finding]:
    """One finding per provider x model with drift: from its first day, the dollars."""
    first: dict[tuple[str, str], dt.date] = {}
    dollars: dict[tuple[str, str], Decimal] = {}
    for found in result.explanations:
        if found.kind != DRIFT or found.effect is None:
            continue
        where = (found.provider, found.model)
        first[where] = min(first.get(where, found.day), found.day)
        dollars[where] = dollars.get(where, Decimal(0)) + abs(found.effect)
    return [
        Finding(
            rule=rule.name,
            kind="drift",
            scope={"provider": provider, "model": model},
            period="day",
            period_start=dt.datetime.combine(first[(provider, model)], dt.time(), dt.UTC),
            period_end=now,
            spend=dollars[(provider, model)],
            webhooks=tuple(rule.webhooks) if rule.webhooks is not None else None,
        )
        for provider, model in sorted(first)
    ]
