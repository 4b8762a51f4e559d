"""Alert rules against a real ledger (SQLite and PostgreSQL): exact spend per
scope, thresholds once per period, pace, spikes with their cause, claims,
delivery with retries and backoff, and webhook secrets kept out of logs and rows.

Every expected amount is worked out by hand from the calls each test inserts.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from alerts_support import paid
from gateway_support import free_port
from llmtally.alerts import AlertsConfig, AlertService, Scope
from llmtally.alerts.deliver import backoff_s
from llmtally.alerts.evaluate import period_window
from llmtally.alerts.spend import scope_spend, spend_by
from llmtally.alerts.store import AlertStore, Due, Outcome
from llmtally.alerts.webhooks import redact_url
from llmtally.catalog.loader import CatalogFileError
from llmtally.gateway.config import load_config
from llmtally.ledger import Store
from llmtally.ledger.schema import alert_attempts, alert_deliveries, alerts
from test_ledger_support import db_url, pg_base_url, store  # noqa: F401

UTC = dt.UTC
NOW = dt.datetime(2026, 11, 4, 12, 0, tzinfo=UTC)  # a Wednesday
D = Decimal


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


DAILY = {"period": "day", "amount_usd": "1"}


def config(**data: Any) -> AlertsConfig:
    return AlertsConfig.model_validate(data)


# -- configuration ------------------------------------------------------------


def test_rules_are_checked_when_the_config_is_read(tmp_path: Path) -> None:
    path = tmp_path / "llmtally.yaml"
    path.write_text(
        "alerts:\n"
        "  webhooks: {ops: {url: 'https://hooks.example/x'}}\n"
        "  rules:\n"
        "    - {name: daily, period: day, amount_usd: '10', thresholds: [100, 50, 50]}\n"
        "  anomalies:\n"
        "    - {name: spikes, webhooks: [ops]}\n"
    )
    loaded = load_config(path).alerts
    assert loaded.rules[0].thresholds == [50, 100]
    assert loaded.rules[0].pace and loaded.rules[0].pace_min_elapsed == 0.25
    assert loaded.anomalies[0].factor == 3 and loaded.anomalies[0].floor_usd == 1
    path.write_text(
        "alerts:\n  rules:\n    - {name: daily, period: day, amount_usd: '10', webhooks: [ops]}\n"
    )
    with pytest.raises(CatalogFileError, match="webhook 'ops' is not configured"):
        load_config(path)
    path.write_text("alerts:\n  rules:\n    - {name: daily, period: fortnight, amount_usd: '1'}\n")
    with pytest.raises(CatalogFileError, match=r"llmtally.yaml:3.*period"):
        load_config(path)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"webhooks": {"ops": {}}}, "exactly one of url and url_env"),
        ({"webhooks": {"ops": {"url": "ftp://x"}}}, "should match pattern"),
        (
            {"rules": [{"name": "a", **DAILY}], "anomalies": [{"name": "a"}]},
            "two alert rules are named 'a'",
        ),
        ({"rules": [{"name": "a", "period": "day", "amount_usd": "0"}]}, "greater than 0"),
        ({"rules": [{"name": "a", **DAILY, "thresholds": [0]}]}, "1 to 1000"),
        ({"anomalies": [{"name": "a", "factor": "1"}]}, "greater than 1"),
    ],
)
def test_bad_alert_settings_say_why(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        config(**data)


def test_periods_are_utc_calendar_periods() -> None:
    assert period_window("day", NOW) == (at("2026-11-04 00:00"), at("2026-11-05 00:00"))
    assert period_window("week", NOW) == (at("2026-11-02 00:00"), at("2026-11-09 00:00"))
    assert period_window("month", NOW) == (at("2026-11-01 00:00"), at("2026-12-01 00:00"))
    assert period_window("total", NOW) == (at("1970-01-01 00:00"), None)


# -- spend per scope ------------------------------------------------------------


def _seed_scopes(ledger: Store) -> None:
    ledger.insert_many(
        [
            paid("1.25", at("2026-11-02 09:10"), user="alice", feature="chat", tags=("eu",),
                 key_id="k1", prompt_fingerprint="fp1"),
            paid("0.0000000003", at("2026-11-02 23:59:59"), user="bob", feature="chat",
                 model_requested="gpt-4o-mini", model_served="gpt-4o-mini"),
            paid("2.5", at("2026-11-03 10:00"), user="alice", feature="search", tags=("eu", "beta"),
                 model_requested="gpt-4o-mini", model_served="gpt-4o-mini"),
            paid("0.75", at("2026-11-04 11:45"), user="bob", feature="chat", provider="anthropic",
                 model_requested="claude-x", model_served="claude-x"),
            paid("3", at("2026-11-01 08:00"), user="alice"),
            paid("9", at("2026-11-04 11:50"), user="alice"),  # the range's end is exclusive
        ]
    )  # fmt: skip


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ({}, "4.5000000003"),
        ({"user": "alice"}, "3.75"),
        ({"user": "bob"}, "0.7500000003"),
        ({"feature": "chat"}, "2.0000000003"),
        ({"model": "gpt-4o-mini"}, "2.5000000003"),
        ({"model": "openai/gpt-4o"}, "1.25"),
        ({"provider": "anthropic"}, "0.75"),
        ({"provider": "openai", "model": "gpt-4o-mini"}, "2.5000000003"),
        ({"tag": "eu"}, "3.75"),
        ({"tag": "beta"}, "2.5"),
        ({"key": "k1"}, "1.25"),
        ({"fingerprint": "fp1"}, "1.25"),
        ({"user": "alice", "model": "gpt-4o-mini"}, "2.5"),  # across tables: from calls
        ({"user": "nobody"}, "0"),
    ],
)
def test_a_scopes_spend_is_exact_over_any_range(
    store: Store,  # noqa: F811
    scope: dict[str, str],
    expected: str,
) -> None:
    _seed_scopes(store)
    since, until = at("2026-11-02 09:05"), at("2026-11-04 11:50")
    found = scope_spend(store, Scope(**scope), since, until)
    assert found == D(expected) and isinstance(found, Decimal)


def test_all_time_spend_and_breakdowns(store: Store) -> None:  # noqa: F811
    _seed_scopes(store)
    assert scope_spend(store, Scope(), at("1970-01-01 00:00"), None) == D("16.5000000003")
    since, until = at("2026-11-02 09:05"), at("2026-11-04 11:50")
    assert spend_by(store, Scope(), "user", since, until) == {
        "alice": D("3.75"),
        "bob": D("0.7500000003"),
    }
    assert spend_by(store, Scope(), "model", since, until) == {
        "openai/gpt-4o": D("1.25"),
        "openai/gpt-4o-mini": D("2.5000000003"),
        "anthropic/claude-x": D("0.75"),
    }
    assert spend_by(store, Scope(feature="chat"), "user", since, until) == {
        "alice": D("1.25"),
        "bob": D("0.7500000003"),
    }
    fingerprints = spend_by(store, Scope(), "fingerprint", since, until)
    assert fingerprints == {"fp1": D("1.25"), "": D("3.2500000003")}


# -- thresholds and pace ----------------------------------------------------------


def test_each_threshold_fires_once_per_period_and_the_highest_notifies(
    store: Store,  # noqa: F811
) -> None:
    clock = Clock(NOW)
    rules = [{"name": "daily", "period": "day", "amount_usd": "10", "pace": False}]
    service = AlertService(store, config(rules=rules), clock)
    store.insert_many([paid("4", at("2026-11-04 01:00"))])
    assert service.evaluate() == []
    store.insert_many([paid("1", at("2026-11-04 02:00"))])  # $5: 50% exactly
    (fifty,) = service.evaluate()
    assert (fifty.kind, fifty.level, fifty.spend, fifty.notify) == ("threshold", 50, D(5), True)
    assert fifty.message == (
        "llmtally alert 'daily' (all calls): 50% of the $10.00 daily amount reached: "
        "$5.00 spent since 2026-11-04 00:00 UTC."
    )
    assert service.evaluate() == []
    store.insert_many([paid("7", at("2026-11-04 03:00"))])  # $12: 80% and 100% at once
    fired = service.evaluate()
    assert [(a.level, a.notify) for a in fired] == [(100, True), (80, False)]
    assert service.evaluate() == []
    clock.now = NOW + dt.timedelta(days=1)  # a new day: nothing spent yet
    assert service.evaluate() == []
    store.insert_many([paid("5.5", at("2026-11-05 08:00"))])
    (again,) = service.evaluate()
    assert (again.level, again.period_start) == (50, at("2026-11-05 00:00"))
    assert len(AlertStore(store).fired()) == 4


def test_on_pace_to_overrun_once_enough_of_the_period_has_passed(
    store: Store,  # noqa: F811
) -> None:
    clock = Clock(at("2026-11-04 05:00"))
    rules = [
        {"name": "ten", "period": "day", "amount_usd": "10"},
        {"name": "twelve", "period": "day", "amount_usd": "12"},
    ]
    service = AlertService(store, config(rules=rules), clock)
    store.insert_many([paid("3", at("2026-11-04 04:00"))])
    assert service.evaluate() == []  # 5 of 24 hours: too early to judge the pace
    clock.now = at("2026-11-04 06:00")  # a quarter of the day: $3 projects $12
    (pace,) = service.evaluate()
    assert (pace.rule, pace.kind, pace.projected, pace.elapsed) == ("ten", "pace", D(12), D("0.25"))
    assert pace.message == (
        "llmtally alert 'ten' (all calls): on pace to overrun the $10.00 daily amount: "
        "$3.00 spent in 25% of the day projects $12.00."
    )
    clock.now = at("2026-11-04 07:00")
    assert service.evaluate() == []  # once per period; $12 is not above 'twelve'


# -- spikes ---------------------------------------------------------------------


SPIKE_NOW = at("2026-11-08 12:00")


def _seed_spike(ledger: Store) -> None:
    calls = []
    for k in range(0, 8):
        day = SPIKE_NOW - dt.timedelta(days=k)
        calls += [
            paid("0.10", day - dt.timedelta(minutes=30), user="alice", feature="chat"),
            paid("0.10", day - dt.timedelta(minutes=20), user="bob", feature="chat"),
            paid("5", day - dt.timedelta(hours=2), user="carol", feature="batch"),  # not that hour
        ]
    spike = SPIKE_NOW - dt.timedelta(minutes=10)
    calls.append(paid("2", spike, user="mallory", feature="summarize"))
    ledger.insert_many(calls)


def test_a_spike_fires_once_an_hour_and_names_the_user_that_grew(
    store: Store,  # noqa: F811
) -> None:
    _seed_spike(store)
    clock = Clock(SPIKE_NOW)
    service = AlertService(store, config(anomalies=[{"name": "spikes"}]), clock)
    (spike,) = service.evaluate()
    # the last hour: 0.10 + 0.10 + 2; the same hour on each of 7 days before: 0.20
    assert (spike.kind, spike.spend, spike.baseline, spike.factor) == (
        "anomaly", D("2.2"), D("0.2"), D(3),
    )  # fmt: skip
    assert spike.cause is not None
    assert spike.cause["top"] == {
        "dimension": "user",
        "value": "mallory",
        "spend_usd": "2",
        "usual_usd": "0",
        "growth_usd": "2",
        "share_of_increase": "1",
    }
    tops = {g["dimension"]: g["value"] for g in spike.cause["by_dimension"]}
    assert tops == {"user": "mallory", "feature": "summarize", "model": "openai/gpt-4o",
                    "fingerprint": ""}  # fmt: skip
    assert spike.message.endswith(
        "spend spike: $2.20 in the last hour, 11.0x the usual $0.20 for this hour "
        "(the same hour on the previous days). Grew most: user mallory +$2.00 "
        "(100% of the increase)."
    )
    clock.now = SPIKE_NOW + dt.timedelta(minutes=10)
    assert service.evaluate() == []  # once in this UTC hour
    store.insert_many([paid("1.5", at("2026-11-08 12:30"), user="mallory")])
    clock.now = SPIKE_NOW + dt.timedelta(minutes=65)  # the next hour, still spiking
    (later,) = service.evaluate()
    assert (later.spend, later.baseline) == (D("1.5"), D(0))
    assert later.period_start == at("2026-11-08 13:00")


@pytest.mark.parametrize(
    ("rule", "fires"),
    [
        ({"floor_usd": "2.21"}, False),  # below the floor
        ({"floor_usd": "2.2"}, True),
        ({"factor": "11"}, False),  # 2.2 is not above 11 x 0.2
        ({"factor": "10.9"}, True),
        ({"scope": {"feature": "chat"}}, False),  # chat did not grow
        ({"scope": {"feature": "summarize"}}, True),
    ],
)
def test_a_spike_needs_the_factor_and_the_floor(
    store: Store,  # noqa: F811
    rule: dict[str, Any],
    fires: bool,
) -> None:
    _seed_spike(store)
    service = AlertService(store, config(anomalies=[{"name": "s", **rule}]), Clock(SPIKE_NOW))
    assert len(service.evaluate()) == int(fires)


def test_a_scoped_spike_is_explained_within_its_scope(store: Store) -> None:  # noqa: F811
    _seed_spike(store)
    rule = {"name": "s", "scope": {"feature": "summarize"}}
    (spike,) = AlertService(store, config(anomalies=[rule]), Clock(SPIKE_NOW)).evaluate()
    assert spike.cause is not None and spike.cause["top"]["value"] == "mallory"
    assert spike.scope == {"feature": "summarize"}


# -- claims and delivery ----------------------------------------------------------


class Sender:
    """A webhook that fails ``failures`` times, then accepts."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, url: str, headers: Any, body: bytes, timeout: float) -> Outcome:
        if self.failures > 0:
            self.failures -= 1
            return Outcome(False, 500, "HTTP 500", 3.0)
        self.bodies.append(json.loads(body))
        return Outcome(True, 200, None, 2.0)


def test_a_failed_delivery_is_retried_with_backoff_then_delivered(store: Store) -> None:  # noqa: F811
    clock = Clock(NOW)
    sender = Sender(failures=2)
    data = {
        "webhooks": {"ops": {"url": "http://127.0.0.1:9/hook"}},
        "rules": [{"name": "daily", "period": "day", "amount_usd": "10", "thresholds": [50]}],
        "delivery": {"backoff_s": 2, "max_attempts": 5},
    }
    service = AlertService(store, config(**data), clock, sender=sender)
    store.insert_many([paid("5", at("2026-11-04 01:00"))])
    first = service.check()
    assert [s.outcome.status for s in first.sent] == [500]
    clock.now = NOW + dt.timedelta(seconds=1.9)
    assert service.check().sent == []  # not due before 2 s
    clock.now = NOW + dt.timedelta(seconds=2)
    assert [s.outcome.status for s in service.check().sent] == [500]
    clock.now = NOW + dt.timedelta(seconds=5.9)  # the second wait is 4 s
    assert service.check().sent == []
    clock.now = NOW + dt.timedelta(seconds=6)
    assert [s.outcome.status for s in service.check().sent] == [200]
    clock.now = NOW + dt.timedelta(hours=1)
    assert service.check().sent == []
    (alert,) = AlertStore(store).fired()
    (delivery,) = alert.deliveries
    assert (delivery.state, delivery.attempts, delivery.target) == (
        "delivered", 3, "http://127.0.0.1:9/hook",
    )  # fmt: skip
    attempts = AlertStore(store).attempts(alert.id)
    assert [(a.attempt, a.ok, a.http_status) for a in attempts] == [
        (1, False, 500), (2, False, 500), (3, True, 200),
    ]  # fmt: skip
    assert [a.started_at for a in attempts] == [NOW, NOW + dt.timedelta(seconds=2),
                                                NOW + dt.timedelta(seconds=6)]  # fmt: skip
    (body,) = sender.bodies
    assert body["id"] == alert.id and body["threshold_percent"] == 50


def test_delivery_gives_up_after_max_attempts(store: Store) -> None:  # noqa: F811
    clock = Clock(NOW)
    data = {
        "webhooks": {"ops": {"url": "http://127.0.0.1:9/hook"}},
        "rules": [{"name": "daily", "period": "day", "amount_usd": "10", "thresholds": [50]}],
        "delivery": {"backoff_s": 1, "backoff_max_s": 3, "max_attempts": 4},
    }
    service = AlertService(store, config(**data), clock, sender=Sender(failures=99))
    store.insert_many([paid("5", at("2026-11-04 01:00"))])
    tried = 0
    for second in range(0, 60):
        clock.now = NOW + dt.timedelta(seconds=second)
        tried += len(service.check().sent)
    (alert,) = AlertStore(store).fired()
    assert tried == 4 and alert.deliveries[0].state == "failed"
    starts = [a.started_at - NOW for a in AlertStore(store).attempts(alert.id)]
    assert starts == [dt.timedelta(seconds=s) for s in (0, 1, 3, 6)]  # waits 1, 2, then 3 (the cap)
    assert [backoff_s(n, config().delivery) for n in (1, 2, 3, 9)] == [2, 4, 8, 300]


def test_an_attempt_is_claimed_by_one_caller(store: Store) -> None:  # noqa: F811
    data = {
        "webhooks": {"ops": {"url": "http://127.0.0.1:9/hook"}},
        "rules": [{"name": "daily", "period": "day", "amount_usd": "10", "thresholds": [50]}],
    }
    store.insert_many([paid("5", at("2026-11-04 01:00"))])
    (alert,) = AlertService(store, config(**data), Clock(NOW)).evaluate()
    keeper = AlertStore(store)
    (due,) = keeper.due(NOW)
    assert due == Due(alert.id, "ops", 0)
    lease = NOW + dt.timedelta(seconds=25)
    assert keeper.take(due, NOW, lease) is True
    assert keeper.take(due, NOW, lease) is False  # the same attempt again
    assert keeper.due(NOW + dt.timedelta(seconds=24)) == []  # leased
    # the taker died while sending: after its lease, the delivery is due again
    assert keeper.due(NOW + dt.timedelta(seconds=25)) == [Due(alert.id, "ops", 1)]


def test_alerts_without_webhooks_are_recorded_and_never_sent(store: Store) -> None:  # noqa: F811
    rules = [{"name": "daily", "period": "day", "amount_usd": "10"}]
    store.insert_many([paid("5", at("2026-11-04 01:00"))])
    sender = Sender(failures=0)
    result = AlertService(store, config(rules=rules), Clock(NOW), sender=sender).check()
    assert [a.level for a in result.fired] == [50] and result.sent == []
    assert result.fired[0].deliveries == ()


def test_ledger_rules_join_the_configs_which_win_on_a_name(store: Store) -> None:  # noqa: F811
    from llmtally.alerts import SpendRule

    keeper = AlertStore(store)
    keeper.add_rule(SpendRule(name="cli", period="day", amount_usd=D(1), pace=False), NOW)
    keeper.add_rule(SpendRule(name="both", period="day", amount_usd=D(1), pace=False), NOW)
    rules = [{"name": "both", "period": "day", "amount_usd": "100", "pace": False}]
    store.insert_many([paid("1", at("2026-11-04 01:00"))])
    fired = AlertService(store, config(rules=rules), Clock(NOW)).evaluate()
    assert sorted((a.rule, a.level) for a in fired) == [("cli", 50), ("cli", 80), ("cli", 100)]
    assert keeper.remove_rule("cli") is True and keeper.remove_rule("cli") is False
    assert [r.name for r in keeper.rules()] == ["both"]


# -- secrets ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://hooks.slack.com/services/T000/B000/XXXX", "https://hooks.slack.com/services/..."),
        ("http://user:pw@127.0.0.1:8080/hook?token=abc#frag", "http://127.0.0.1:8080/hook"),
        ("https://example.com", "https://example.com"),
        ("http://[::1]:9000/a/b", "http://[::1]:9000/a/..."),
    ],
)
def test_webhook_urls_are_shown_without_their_secrets(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_a_webhook_urls_secrets_reach_no_log_and_no_row(
    store: Store,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = free_port()  # nothing listens there: every attempt fails
    secret_url = f"http://hookuser:pw-SECRET-1@127.0.0.1:{port}/hooks/SECRET-2?token=SECRET-3"
    data = {
        "webhooks": {"ops": {"url_env": "ALERT_HOOK"}},
        "rules": [{"name": "daily", "period": "day", "amount_usd": "10", "thresholds": [50]}],
        "delivery": {"max_attempts": 1, "timeout_s": 2},
    }
    store.insert_many([paid("5", at("2026-11-04 01:00"))])
    environ = {"ALERT_HOOK": secret_url}
    service = AlertService(store, config(**data), Clock(NOW), environ=environ)
    with caplog.at_level(logging.DEBUG):
        (sent,) = service.check().sent
    assert not sent.outcome.ok and sent.outcome.error
    with store.engine.connect() as conn:
        rows = [list(conn.execute(select(t))) for t in (alerts, alert_deliveries, alert_attempts)]
    stored = repr(rows) + caplog.text
    assert f"127.0.0.1:{port}/hooks/..." in stored  # the redacted form is what shows
    for secret in ("SECRET", "hookuser", "pw-"):
        assert secret not in stored


def test_the_cause_is_what_grew_beyond_its_usual_share(store: Store) -> None:  # noqa: F811
    # alice, usually half of the hour's spend, spends $2 on a feature new this hour:
    # she grew by $2 where her usual half of the $2 increase was $1; the new feature
    # grew by all of it, so it is the cause named.
    calls = []
    for k in range(0, 8):
        day = SPIKE_NOW - dt.timedelta(days=k)
        calls += [
            paid("0.10", day - dt.timedelta(minutes=30), user="alice", feature="chat"),
            paid("0.10", day - dt.timedelta(minutes=20), user="bob", feature="chat"),
        ]
    calls.append(paid("2", SPIKE_NOW - dt.timedelta(minutes=5), user="alice", feature="digest"))
    store.insert_many(calls)
    (spike,) = AlertService(store, config(anomalies=[{"name": "s"}]), Clock(SPIKE_NOW)).evaluate()
    assert spike.cause is not None
    top = spike.cause["top"]
    assert (top["dimension"], top["value"], top["growth_usd"]) == ("feature", "digest", "2")
    users = spike.cause["by_dimension"][0]
    assert (users["value"], users["growth_usd"], users["share_of_increase"]) == ("alice", "2", "1")
    assert "Grew most: feature digest +$2.00 (100% of the increase)." in spike.message
