"""Budgets given in another currency (issue 17): the limit in CNY, admission in
USD at the rate of the window's first day, shown back in CNY; alerts name the
currency. SQLite and PostgreSQL.

The rates are a test override file with round numbers (not real rates):
1 USD = 7.2 CNY on 2026-12-01 and 7.0 CNY on 2026-12-02; 1 USD = 150 JPY on
2026-12-01. NOW is 2026-12-02 12:00 UTC.

- Team search, 7,000 CNY a month: the month's window starts 2026-12-01, whose
  rate is 7.2 (the 7.0 of 2026-12-02 is not used, though it is the latest):
  7000 / 7.2 = 972.2222... USD, rounded down to the ledger's 10 places:
  972.2222222222 USD (never above 7,000 CNY).
- User bob, 70 CNY a day: today's window starts 2026-12-02, rate 7.0:
  70 / 7.0 = 10 USD exactly. Bob spent 3.00 USD today (3 x 7.0 = 21 CNY
  shown); a claim of 7 USD fits (3 + 7 = 10), one of 0.0000000001 more does not.
- Feature chat, 20 USD a month (a plain USD budget): shown in JPY with
  --currency JPY at the month's first day's 150: 20 x 150 = 3,000 JPY.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from alerts_support import paid
from llmtally.alerts.budget_rules import with_budgets
from llmtally.alerts.config import SpendRule
from llmtally.alerts.describe import rule_summary
from llmtally.alerts.evaluate import spend_findings
from llmtally.alerts.findings import alert_text
from llmtally.budgets.book import BudgetBook
from llmtally.budgets.counters import BudgetCounters, Claim
from llmtally.budgets.rules import Budget, BudgetError, limit_in_usd, window_of
from llmtally.cli import app
from llmtally.currency import NoRateError, RateTable, open_rates
from llmtally.ledger import Store
from test_ledger_support import db_url, pg_base_url, store  # noqa: F401

NOW = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)
RATES = """\
rates:
  - {date: 2026-12-01, base: USD, quote: CNY, rate: "7.2", source: test rate day 1}
  - {date: 2026-12-02, base: USD, quote: CNY, rate: "7.0", source: test rate day 2}
  - {date: 2026-12-01, base: USD, quote: JPY, rate: "150", source: test yen rate}
"""


@pytest.fixture
def rates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RateTable]:
    path = tmp_path / "rates.yaml"
    path.write_text(RATES, encoding="utf-8")
    monkeypatch.setenv("LLMTALLY_RATES", str(path))
    monkeypatch.delenv("LLMTALLY_CURRENCY", raising=False)
    yield open_rates()


def _seed(ledger: Store, rates: RateTable, at: dt.datetime = NOW) -> dict[str, Budget]:
    """Bob's calls: 3.00 USD on ``at``'s day before ``at``, 5 USD the day before."""
    midnight = at.replace(hour=0, minute=0, second=0, microsecond=0)
    ledger.insert_many(
        [
            paid("1.25", midnight + (at - midnight) / 3, user="bob"),
            paid("1.75", midnight + (at - midnight) / 2, user="bob"),  # bob: 3.00 that day
            paid("5", midnight - dt.timedelta(hours=1), user="bob"),  # the day before
        ]
    )
    book = BudgetBook(ledger, rates)
    return {
        "team": book.add("team", "search", "usd", "month", Decimal(7000), NOW, currency="CNY"),
        "bob": book.add("user", "bob", "usd", "day", Decimal(70), NOW, currency="CNY"),
        "chat": book.add("feature", "chat", "usd", "month", Decimal(20), NOW),
    }


def test_a_cny_limit_is_usd_at_the_rate_of_the_windows_first_day(
    store: Store,  # noqa: F811
    rates: RateTable,
) -> None:
    made = _seed(store, rates)
    team, bob = made["team"], made["bob"]
    assert (team.metric, team.currency, team.given) == ("usd", "CNY", Decimal(7000))
    assert team.amount == Decimal("972.2222222222")  # 7000 / 7.2, rounded down
    assert team.rate is not None and team.rate.rate == Decimal("7.2")
    assert team.rate.rate_date == dt.date(2026, 12, 1)
    assert bob.amount == Decimal(10)  # 70 / 7.0
    assert bob.rate is not None and bob.rate.rate_date == dt.date(2026, 12, 2)
    # next month's window takes the rate of its own first day (the latest: 7.0)
    later = BudgetBook(store, rates).get(team.id, dt.datetime(2027, 1, 5, tzinfo=dt.UTC))
    assert later is not None and later.amount == Decimal(1000)  # 7000 / 7.0


def test_admission_stays_in_usd_and_never_passes_the_converted_limit(
    store: Store,  # noqa: F811
    rates: RateTable,
) -> None:
    bob = _seed(store, rates)["bob"]
    counters = BudgetCounters(store, clock=lambda: NOW)
    start, end = window_of("day", NOW)
    # 3.00 spent + 7.00 = 10.00 USD = 70 CNY: fits exactly
    assert counters.reserve("gw", [Claim(bob, start, end, Decimal(7))]) is None
    refused = counters.reserve("gw", [Claim(bob, start, end, Decimal("0.0000000001"))])
    assert refused is not None


def test_the_cli_adds_and_lists_a_cny_budget(
    db_url: str,  # noqa: F811
    rates: RateTable,
) -> None:
    runner = CliRunner()
    added = runner.invoke(
        app,
        ["budgets", "add", "--user", "bob", "--spend", "70", "--currency", "CNY",
         "--period", "day", "--json", "--database", db_url],
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    data = json.loads(added.output)
    assert data["metric"] == "usd"
    assert data["shown"]["limit"] == {"amount": "70", "currency": "CNY"}
    # the rate of today's window (whatever today is) is the latest: 7.0 of 2026-12-02
    assert data["shown"]["rate"]["rate"] == "7" and data["amount"] == "10"
    text = runner.invoke(app, ["budgets", "list", "--database", db_url])
    assert text.exit_code == 0, text.output
    assert "¥70.00/day" in text.output
    assert "at 7 CNY per USD (2026-12-02, test rate day 2)" in text.output


def test_budgets_list_shows_money_in_each_budgets_currency(
    db_url: str,  # noqa: F811
    rates: RateTable,
) -> None:
    from llmtally.ledger import open_store

    # the CLI's windows are the real clock's (any day from 2026-12-02 on: CNY at 7.0,
    # the month's first day's JPY at 150), so bob's calls are made today
    with open_store(db_url) as opened:
        made = _seed(opened, rates, at=dt.datetime.now(dt.UTC))
    listed = _list_json(db_url, "--currency", "JPY")
    bob, chat = listed[made["bob"].id], listed[made["chat"].id]
    # the CNY budget stays in CNY; its USD figures are the ledger's
    assert bob["amount"] == "10" and bob["spent"] == "3"
    assert bob["shown"]["limit"] == {"amount": "70", "currency": "CNY"}
    # spent 3.00 USD x 7.0 = 21 CNY (exact digits of 3.0000000000 x 7.0)
    assert Decimal(bob["shown"]["spent"]["amount"]) == Decimal(21)
    # the USD budget in JPY at the month's first day's rate: 20 x 150 = 3000
    assert chat["amount"] == "20"
    assert Decimal(chat["shown"]["limit"]["amount"]) == Decimal(3000)
    assert chat["shown"]["rate"] == {
        "from": "USD", "to": "JPY", "rate": "150", "date": "2026-12-01",
        "source": "test yen rate",
    }  # fmt: skip
    # USD: the JSON as before, no "shown"
    plain = _list_json(db_url)
    assert "shown" not in plain[made["chat"].id]
    assert plain[made["chat"].id]["amount"] == "20"


def _list_json(url: str, *extra: str) -> dict[str, dict[str, Any]]:
    result = CliRunner().invoke(app, ["budgets", "list", "--json", "--database", url, *extra])
    assert result.exit_code == 0, result.output
    return {row["id"]: row for row in json.loads(result.output)}


def test_the_cli_refuses_bad_currency_input(
    db_url: str,  # noqa: F811
    rates: RateTable,
) -> None:
    runner = CliRunner()
    base = ["budgets", "add", "--user", "bob", "--database", db_url]
    unknown = runner.invoke(app, [*base, "--spend", "70", "--currency", "XYZ"])
    assert unknown.exit_code == 1
    assert "unknown currency 'XYZ' (known: USD, EUR, GBP, CNY, JPY)" in unknown.output
    mixed = runner.invoke(app, [*base, "--usd", "5", "--currency", "CNY"])
    assert mixed.exit_code == 2 and "--currency goes with --spend" in mixed.output
    listed = runner.invoke(app, ["budgets", "list", "--database", db_url, "--currency", "ABC"])
    assert listed.exit_code == 2 and "known: USD, EUR, GBP, CNY, JPY" in listed.output


def test_a_limit_without_a_rate_is_an_error_naming_the_pair_and_day(
    store: Store,  # noqa: F811
) -> None:
    with pytest.raises(NoRateError, match=r"no USD->CNY exchange rate on or before 2026-12-01"):
        limit_in_usd(Decimal(70), "CNY", dt.date(2026, 12, 1), RateTable())
    book = BudgetBook(store, RateTable())  # no rates at all
    with pytest.raises(BudgetError, match="cannot convert the limit to USD: no USD->CNY"):
        book.add("user", "bob", "usd", "day", Decimal(70), NOW, currency="CNY")
    with pytest.raises(BudgetError, match="a requests limit is a count"):
        book.add("user", "bob", "requests", "day", Decimal(5), NOW, currency="CNY")


def test_alerts_on_a_cny_budget_name_its_currency(
    store: Store,  # noqa: F811
    rates: RateTable,
) -> None:
    bob = _seed(store, rates)["bob"]
    store.insert_many([paid("5.00", NOW - dt.timedelta(minutes=30), user="bob")])
    # bob today: 1.25 + 1.75 + 5.00 = 8.00 USD of 10 USD = 80%; 8 x 7.0 = 56 CNY
    rules, problems = with_budgets(store, [SpendRule(name="bob-cny", budget=bob.id)])
    assert problems == {}
    found = spend_findings(store, rules[0], NOW)  # type: ignore[arg-type]
    threshold = next(f for f in found if f.kind == "threshold" and f.level == 80)
    assert rule_summary(rules[0]) == f"budget {bob.id}: ¥70.00/day at 50, 80, 100%; pace"
    assert alert_text(threshold) == (
        "llmtally alert 'bob-cny' (budget="
        f"{bob.id}, user=bob): 80% of the ¥70.00 daily amount reached: ¥56.00 spent since "
        "2026-12-02 00:00 UTC (CNY at 7 per USD (2026-12-02, test rate day 2); "
        "admission counts USD)."
    )
