"""The dashboard's Alerts page: rules with their spend now, the alerts fired with
each webhook's delivery and the spike's cause; through ASGI (strict CSP, no
webhook secret in the page, bad input a 400) and in Debian's chromium (no
console error; screenshot alerts.png in a temporary folder, or docs/screenshots
with `make screenshots`)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser

from alerts_support import paid
from browser_support import (  # noqa: F401 (browser, screenshots: fixtures)
    Watched,
    browser,
    fetch,
    gateway_with,
    screenshots,
    served,
)
from llmtally.alerts import AlertsConfig, AlertService, SpendRule
from llmtally.alerts.store import AlertStore, Outcome
from llmtally.catalog import Catalog
from llmtally.ledger import Store, open_store
from llmtally.web import Dashboard

NOW = dt.datetime(2026, 11, 8, 12, 0, tzinfo=dt.UTC)
SECRET = "xoxb-SECRET-77"
SETTINGS = {
    "webhooks": {
        "slack": {"url": f"https://hooks.slack.example/services/T1/B2/{SECRET}"},
        "pager": {"url": f"https://pager.example/hook?key={SECRET}"},
    },
    "rules": [
        {
            "name": "team-daily",
            "scope": {"feature": "chat"},
            "period": "day",
            "amount_usd": "4",
            "pace": False,
        }
    ],
    "anomalies": [{"name": "spikes", "webhooks": ["pager"]}],
    "delivery": {"max_attempts": 1},
}


def _sender(url: str, headers: Any, body: bytes, timeout: float) -> Outcome:
    """Slack accepts; the pager is down."""
    if "pager" in url:
        return Outcome(False, 502, "HTTP 502", 4.0)
    json.loads(body)
    return Outcome(True, 200, None, 3.0)


def _seed(store: Store) -> AlertsConfig:
    calls = []
    for k in range(1, 8):
        day = NOW - dt.timedelta(days=k)
        calls.append(paid("0.10", day - dt.timedelta(minutes=30), user="alice", feature="chat"))
    calls += [
        paid("1.75", NOW - dt.timedelta(hours=3), user="alice", feature="chat"),
        paid("1.50", NOW - dt.timedelta(minutes=20), user="mallory", feature="chat"),
    ]
    store.insert_many(calls)
    config = AlertsConfig.model_validate(SETTINGS)
    AlertStore(store).add_rule(
        SpendRule(name="mallory-monthly", scope={"user": "mallory"}, period="month",
                  amount_usd=Decimal(100), pace=False),
        NOW,
    )  # fmt: skip
    AlertService(store, config, clock=lambda: NOW, sender=_sender).check()
    return config


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    path = tmp_path_factory.mktemp("alertsweb") / "ledger.sqlite3"
    with open_store(f"sqlite:///{path}") as store:
        config = _seed(store)
        web = Dashboard(store, Catalog.load(), clock=lambda: NOW, alerts=config)
        yield web
        web.close()


def test_the_alerts_page_lists_rules_alerts_and_deliveries(site: Dashboard) -> None:
    response = fetch(site, "/alerts")
    assert response.status_code == 200
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page = response.text
    assert SECRET not in page and "T1/B2" not in page
    assert "https://hooks.slack.example/services/..." in page
    assert "https://pager.example/hook" in page
    # team-daily: $1.75 + $1.50 of $4.00 today (chat) = 81%; mallory: $1.50 this month
    assert "$3.25 (81%)" in page and "$1.50 (2%)" in page
    # spikes: $1.50 in the last hour against $0.10 on the days before
    assert "$1.50 last hour, usual $0.10" in page
    assert "80% of $4.00/day" in page and "50% of $4.00/day" in page
    assert "<td>15.0x usual</td>" in page and "<td>user mallory +$1.50</td>" in page
    assert "pager: failed, slack: delivered" in page  # the daily rule goes to both
    assert "not sent (a higher one was)" in page
    assert page.count('data-kind="threshold"') == 2 and page.count('data-kind="anomaly"') == 1


def test_the_alerts_page_refuses_unknown_parameters(site: Dashboard) -> None:
    response = fetch(site, "/alerts?since=1d")
    assert response.status_code == 400 and "unknown parameter since" in response.text


def test_every_page_links_to_the_alerts_page(site: Dashboard) -> None:
    assert 'href="/alerts"' in fetch(site, "/models").text


def test_an_empty_alerts_page_says_how_to_add_a_rule(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'ledger.sqlite3'}") as store:
        web = Dashboard(store, Catalog.load(), clock=lambda: NOW)
        page = fetch(web, "/alerts").text
        web.close()
    assert 'id="no-rules"' in page and "llmtally alerts add" in page
    assert 'id="no-alerts"' in page and 'id="no-webhooks"' in page


def test_the_alerts_page_in_chromium(
    browser: Browser,  # noqa: F811
    site: Dashboard,
    screenshots: Path,  # noqa: F811
) -> None:
    with served(gateway_with(site)) as url:
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        tab = Watched(context.new_page(), url, screenshots)
        page = tab.via_nav("/", "Alerts", "/alerts")
        assert page.locator("#alert-rules tbody tr").count() == 3
        assert page.locator("#alerts-fired tbody tr").count() == 3
        spike = page.locator('#alerts-fired tr[data-kind="anomaly"]')
        assert "Grew most: user mallory" in (spike.get_attribute("title") or "")
        assert spike.locator("td.status.err").inner_text() == "pager: failed"
        tab.screenshot("alerts")
        tab.check()
        context.close()
