"""Spend alerts: rules (thresholds, pace, anomalies), evaluated against the
ledger, each alert claimed once and delivered as a webhook with retries.

- ``config``: the rules and webhooks (the gateway config's ``alerts:`` table).
- ``spend``: a scope's spend over a range, exact, from the rollups.
- ``evaluate``: what should fire now; ``findings``: an alert's facts and text.
- ``store``: the ledger's alert tables (claims, deliveries, attempts, rules).
- ``webhooks`` and ``deliver``: the POST, its body, retries with backoff.
- ``service``: one pass (``llmtally alerts check``) or the thread in ``serve``.
"""

from __future__ import annotations

from llmtally.alerts.config import (
    AlertsConfig,
    AnomalyRule,
    Delivery,
    Rule,
    Scope,
    SpendRule,
    Webhook,
)
from llmtally.alerts.findings import Cause, Finding, Growth, alert_text
from llmtally.alerts.service import AlertService, CheckResult
from llmtally.alerts.store import AlertStore, AlertStoreError, FiredAlert
from llmtally.alerts.webhooks import payload, redact_url

__all__ = [
    "AlertService",
    "AlertStore",
    "AlertStoreError",
    "AlertsConfig",
    "AnomalyRule",
    "Cause",
    "CheckResult",
    "Delivery",
    "Finding",
    "FiredAlert",
    "Growth",
    "Rule",
    "Scope",
    "SpendRule",
    "Webhook",
    "alert_text",
    "payload",
    "redact_url",
]
