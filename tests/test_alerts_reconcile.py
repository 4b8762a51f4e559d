"""Reconcile rules: what `llmtally reconcile` finds feeds the alerts.

The ledger and the provider's reports are the planted case of
tests/test_reconcile_compare.py: on 2026-11-03 the provider billed $0.09 of
gpt-4o-mini traffic on a key no capture path saw (400,000 input x $0.15 +
50,000 output x $0.60 per 1M = $0.06 + $0.03).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from decimal import Decimal

import pytest
from pydantic import ValidationError

from llmtally.alerts import AlertsConfig, AlertService
from llmtally.alerts.describe import rule_summary
from llmtally.alerts.webhooks import Outcome
from llmtally.ledger import Store
from test_ledger_support import db_url, pg_base_url, store  # noqa: F401
from test_reconcile_compare import CATALOG, _planted

# the check runs on 2026-11-05 at 09:00; a 7-day rule covers 2026-10-29 .. 2026-11-04
NOW = dt.datetime(2026, 11, 5, 9, tzinfo=dt.UTC)


class Sent:
    def __init__(self) -> None:
        self.bodies: list[dict[str, object]] = []

    def __call__(
        self, url: str, headers: Mapping[str, str], body: bytes, timeout: float
    ) -> Outcome:
        self.bodies.append(json.loads(body))
        return Outcome(True, 200, None, 1.0)


def _service(ledger: Store, rules: list[dict[str, object]], sent: Sent) -> AlertService:
    config = AlertsConfig.model_validate(
        {"webhooks": {"ops": {"url": "https://hooks.example/x"}}, "reconcile": rules}
    )
    return AlertService(ledger, config, clock=lambda: NOW, sender=sent, catalog=CATALOG)


def test_unrecorded_spend_above_the_threshold_fires_once(store: Store) -> None:  # noqa: F811
    _planted(store)
    sent = Sent()
    service = _service(store, [{"name": "bills", "unrecorded_usd": "0.05"}], sent)
    (fired,) = service.check().fired
    assert (fired.kind, fired.spend, fired.amount) == (
        "unrecorded",
        Decimal("0.09"),
        Decimal("0.05"),
    )
    assert "$0.09 of usage the providers report was recorded by no capture path" in fired.message
    assert service.check().fired == []  # the same day: claimed already
    assert len(sent.bodies) == 1


def test_unrecorded_spend_under_the_threshold_is_quiet(store: Store) -> None:  # noqa: F811
    _planted(store)
    service = _service(store, [{"name": "bills", "unrecorded_usd": "0.09"}], Sent())
    assert service.check().fired == []  # $0.09 is not above $0.09


def test_a_window_that_misses_the_day_finds_nothing(store: Store) -> None:  # noqa: F811
    _planted(store)
    later = dt.datetime(2026, 11, 20, 9, tzinfo=dt.UTC)  # 7 days: 2026-11-13 .. 11-19
    config = AlertsConfig.model_validate({"reconcile": [{"name": "b", "unrecorded_usd": "0"}]})
    service = AlertService(store, config, clock=lambda: later, sender=Sent(), catalog=CATALOG)
    assert service.check().fired == []


def test_rules_are_checked_and_described() -> None:
    with pytest.raises(ValidationError, match="nothing to watch"):
        AlertsConfig.model_validate({"reconcile": [{"name": "r", "drift": False}]})
    with pytest.raises(ValidationError, match="leave out scope"):
        AlertsConfig.model_validate(
            {"reconcile": [{"name": "r", "scope": {"feature": "chat"}, "drift": True}]}
        )
    config = AlertsConfig.model_validate(
        {"reconcile": [{"name": "r", "days": 14, "unrecorded_usd": "10"}]}
    )
    (rule,) = config.all_rules()
    assert rule_summary(rule) == "bills, last 14 days: unrecorded > $10.00; price drift"


def test_a_price_drift_fires_once_per_model(store: Store) -> None:  # noqa: F811
    """The planted month of tests/test_reconcile_planted.py: claude-haiku billed 10%
    above the catalog from 2026-11-27 ($1.50 x 10% + $3.00 x 10% = $0.45 over two
    days), and $0.45 of unrecorded sonnet traffic on 2026-11-02, outside this
    rule's 7 days."""
    from test_reconcile_planted import HAIKU
    from test_reconcile_planted import _planted as planted_month

    planted_month(store)
    after = dt.datetime(2026, 11, 29, 9, tzinfo=dt.UTC)  # 7 days: 11-22 .. 11-28
    config = AlertsConfig.model_validate(
        {"reconcile": [{"name": "bills", "unrecorded_usd": "0.01", "drift": True}]}
    )
    service = AlertService(store, config, clock=lambda: after, sender=Sent(), catalog=CATALOG)
    (fired,) = service.check().fired
    assert (fired.kind, fired.spend) == ("drift", Decimal("0.45"))
    assert fired.scope == {"provider": "anthropic", "model": HAIKU}
    assert fired.period_start == dt.datetime(2026, 11, 27, tzinfo=dt.UTC)
    assert f"provider=anthropic, model={HAIKU} implies a price the catalog lacks" in fired.message
    assert service.check().fired == []
