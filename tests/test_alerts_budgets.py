"""Alerts on any budget scope (SQLite and PostgreSQL): a ``team`` scope (the
calls of the keys now in the team, exact from the key rollups and from
``calls``), and rules on a budget (``budget: <id>``) that take its scope, amount
and period. Each threshold reaches a local webhook receiver once.

Every amount is worked out by hand from the calls each test records.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from alerts_support import Receiver, paid
from llmtally.alerts import AlertsConfig, AlertService, Scope, SpendRule
from llmtally.alerts.budget_rules import BudgetRuleError
from llmtally.alerts.spend import scope_spend
from llmtally.alerts.status import rule_statuses
from llmtally.alerts.store import AlertStore, AlertStoreError
from llmtally.budgets import BudgetBook, BudgetCounters
from llmtally.budgets.counters import Claim
from llmtally.cli import app
from llmtally.ledger import Store, open_store
from llmtally.ledger.keys import KeyStore
from test_ledger_support import db_url, pg_base_url, store  # noqa: F401

UTC = dt.UTC
NOW = dt.datetime(2026, 11, 4, 12, 0, tzinfo=UTC)  # a Wednesday
D = Decimal


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def _keys(ledger: Store) -> dict[str, str]:
    """Keys a and b in team search, c in team ads, d in none: name -> id."""
    keys = KeyStore(ledger)
    teams = {"a": "search", "b": "search", "c": "ads", "d": None}
    return {name: keys.create(name, team=team).key.id for name, team in teams.items()}


def _service(ledger: Store, receiver: Receiver, rules: list[dict[str, Any]]) -> AlertService:
    settings = AlertsConfig.model_validate(
        {"webhooks": {"ops": {"url": f"{receiver.url}/hook"}}, "rules": rules}
    )
    return AlertService(ledger, settings, clock=lambda: NOW)


def _levels(receiver: Receiver) -> list[int]:
    return [body["threshold_percent"] for body in receiver.bodies()]


# -- the rule's shape -------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"budget": "B1", "amount_usd": "5"}, "leave out amount_usd"),
        ({"budget": "B1", "period": "day"}, "leave out period"),
        ({"budget": "B1", "scope": {"team": "search"}}, "leave out scope"),
        ({"period": "day"}, "give amount_usd, or a budget's id as budget"),
        ({}, "give period and amount_usd, or a budget's id as budget"),
    ],
)
def test_a_rule_has_its_own_limit_or_a_budgets(rule: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AlertsConfig.model_validate({"rules": [{"name": "r", **rule}]})


# -- a team's spend ---------------------------------------------------------------


def _seed_team(ledger: Store) -> dict[str, str]:
    ids = _keys(ledger)
    ledger.insert_many(
        [
            paid("0.40", at("2026-11-03 23:59"), key_id=ids["b"]),
            paid("0.90", at("2026-11-04 01:00"), key_id=ids["a"]),
            paid("5", at("2026-11-04 02:00"), key_id=ids["c"]),  # team ads
            paid("3", at("2026-11-04 03:00")),  # no key
            paid("7", at("2026-11-04 03:30"), key_id=ids["d"]),  # a key in no team
            paid("0.25", at("2026-11-04 04:10"), key_id=ids["b"],
                 model_requested="gpt-4o-mini", model_served="gpt-4o-mini"),
            paid("0.05", at("2026-11-05 00:00"), key_id=ids["a"]),  # the next day
        ]
    )  # fmt: skip
    return ids


@pytest.mark.parametrize(
    ("scope", "since", "until", "expected"),
    [
        # a whole day: the day rollup of keys a and b: 0.90 + 0.25
        ({"team": "search"}, "2026-11-04 00:00", "2026-11-05 00:00", "1.15"),
        # minutes from calls at both ends, hours and the day between: 0.40 + 0.90 + 0.25 + 0.05
        ({"team": "search"}, "2026-11-03 23:58", "2026-11-05 00:01", "1.6"),
        ({"team": "search"}, "2026-11-04 01:00", "2026-11-04 04:10", "0.9"),  # end exclusive
        ({"team": "ads"}, "2026-11-03 00:00", "2026-11-06 00:00", "5"),
        ({"team": "nobody"}, "2026-11-03 00:00", "2026-11-06 00:00", "0"),
        # team and model cross the rollups: from calls
        ({"team": "search", "model": "gpt-4o-mini"}, "2026-11-04 00:00", "2026-11-05 00:00",
         "0.25"),
        ({"team": "search", "model": "gpt-4o"}, "2026-11-03 00:00", "2026-11-06 00:00", "1.35"),
    ],
)  # fmt: skip
def test_a_teams_spend_is_exact_over_any_range(
    store: Store,  # noqa: F811
    scope: dict[str, str],
    since: str,
    until: str,
    expected: str,
) -> None:
    _seed_team(store)
    assert scope_spend(store, Scope(**scope), at(since), at(until)) == D(expected)


def test_a_team_is_the_keys_in_it_now(store: Store) -> None:  # noqa: F811
    ids = _seed_team(store)
    KeyStore(store).set_team(ids["c"], "search")  # c's $5 comes with it, as its budget counts
    found = scope_spend(store, Scope(team="search"), at("2026-11-04 00:00"), at("2026-11-05 00:00"))
    assert found == D("6.15")


def test_a_team_rule_reaches_each_threshold_once(store: Store) -> None:  # noqa: F811
    ids = _seed_team(store)  # today, team search: 0.90 + 0.25 = $1.15 of $2.30 is 50%
    rules = [{"name": "search-daily", "scope": {"team": "search"}, "period": "day",
              "amount_usd": "2.30", "pace": False}]  # fmt: skip
    with Receiver() as receiver:
        service = _service(store, receiver, rules)
        steps: list[tuple[list[Any], list[int]]] = [
            ([], [50]),
            ([paid("0.68", at("2026-11-04 05:00"), key_id=ids["a"])], [50]),  # $1.83: 79.6%
            ([paid("9", at("2026-11-04 05:10"), key_id=ids["c"])], [50]),  # another team
            ([paid("0.01", at("2026-11-04 11:59"), key_id=ids["b"])], [50, 80]),  # $1.84: 80%
            ([paid("0.46", at("2026-11-04 11:00"), key_id=ids["a"])], [50, 80, 100]),  # $2.30
            ([paid("1", at("2026-11-04 11:10"), key_id=ids["b"])], [50, 80, 100]),
        ]
        for calls, levels in steps:
            store.insert_many(calls)
            for _ in range(2):
                service.check()
            assert _levels(receiver) == levels
        fifty, eighty, hundred = receiver.bodies()
    assert (fifty["spend_usd"], eighty["spend_usd"], hundred["spend_usd"]) == (
        "1.15",
        "1.84",
        "2.3",
    )
    assert fifty["scope"] == {"team": "search"} and fifty["amount_usd"] == "2.3"
    assert fifty["text"] == (
        "llmtally alert 'search-daily' (team=search): 50% of the $2.30 daily amount "
        "reached: $1.15 spent since 2026-11-04 00:00 UTC."
    )
    assert len(AlertStore(store).fired()) == 3


# -- rules on a budget ------------------------------------------------------------


def test_a_budget_rule_alerts_on_its_recorded_spend_before_the_budget_refuses(
    store: Store,  # noqa: F811
) -> None:
    ids = _keys(store)
    budget = BudgetBook(store).add("team", "search", "usd", "total", D("1.50"), now=NOW)
    store.insert_many([paid("0.75", at("2026-10-01 08:00"), key_id=ids["a"])])  # 50%
    counters = BudgetCounters(store, clock=lambda: NOW)
    with Receiver() as receiver:
        service = _service(store, receiver, [{"name": "search-total", "budget": budget.id}])
        service.check()
        assert _levels(receiver) == [50]
        store.insert_many([paid("0.30", at("2026-11-03 09:00"), key_id=ids["b"])])  # $1.05: 70%
        service.check()
        assert _levels(receiver) == [50]
        store.insert_many([paid("0.15", at("2026-11-04 10:00"), key_id=ids["a"])])  # $1.20: 80%
        service.check()
        assert _levels(receiver) == [50, 80]
        # a call in flight holds $0.30 of the budget: spent + reserved is $1.50, the
        # budget refuses the next call, but nothing is spent until it is recorded
        start = dt.datetime(1970, 1, 1, tzinfo=UTC)
        assert counters.reserve("holder-1", [Claim(budget, start, None, D("0.30"))]) is None
        assert counters.state([budget])[budget.id] == (D("1.20"), D("0.30"))
        service.check()
        assert _levels(receiver) == [50, 80]
        store.insert_many([paid("0.30", at("2026-11-04 11:00"), key_id=ids["b"])])  # $1.50
        service.check()
        service.check()
        assert _levels(receiver) == [50, 80, 100]
        fifty, _, hundred = receiver.bodies()
    assert fifty["scope"] == {"budget": budget.id, "team": "search"}
    assert (fifty["period"], fifty["period_start"], fifty["amount_usd"]) == ("total", None, "1.5")
    assert (fifty["spend_usd"], hundred["spend_usd"]) == ("0.75", "1.5")
    assert fifty["text"] == (
        f"llmtally alert 'search-total' (budget={budget.id}, team=search): 50% of the "
        "$1.50 total amount reached: $0.75 spent in total."
    )


def test_a_budget_rule_takes_any_budgets_scope(store: Store) -> None:  # noqa: F811
    keys = KeyStore(store)
    own = keys.create("ci", budget_usd=D("4"), period="week").key.id  # its own budget
    book = BudgetBook(store)
    made = {
        "user": book.add("user", "alice", "usd", "day", D("2"), now=NOW),
        "feature": book.add("feature", "chat", "usd", "month", D("10"), now=NOW),
        "tag": book.add("tag", "eu", "usd", "total", D("8"), now=NOW),
    }
    store.insert_many(
        [
            paid("1", at("2026-11-04 09:00"), user="alice", feature="chat", tags=("eu",)),
            paid("3", at("2026-11-02 09:00"), key_id=own, feature="chat"),  # Monday
            paid("0.5", at("2026-10-30 09:00"), user="alice", tags=("eu",)),  # last month
        ]
    )
    ledger_rules = [SpendRule(name=f"on-{name}", budget=b.id) for name, b in made.items()]
    ledger_rules.append(SpendRule(name="on-key", budget=f"key:{own}"))
    for rule in ledger_rules:
        AlertStore(store).add_rule(rule, NOW)
    found = {s.rule.name: s for s in rule_statuses(store, AlertsConfig(), NOW)}
    shown = {
        name: (s.rule.scope.items(), s.rule.period, s.rule.amount_usd, s.spend, s.used)
        for name, s in found.items()
    }
    assert shown == {
        "on-user": ({"user": "alice"}, "day", D(2), D(1), D("0.5")),
        "on-feature": ({"feature": "chat"}, "month", D(10), D(4), D("0.4")),
        "on-tag": ({"tag": "eu"}, "total", D(8), D("1.5"), D("0.1875")),
        "on-key": ({"key": own}, "week", D(4), D(3), D("0.75")),
    }


def test_a_budget_that_is_no_spend_or_missing_is_refused_when_read(
    store: Store,  # noqa: F811
) -> None:
    book = BudgetBook(store)
    calls = book.add("user", "alice", "requests", "day", D(100), now=NOW)
    tokens = book.add("user", "bob", "tokens", "month", D(5000), now=NOW)
    per_minute = book.add("user", "carol", "usd", "minute", D(1), now=NOW)
    cases = [
        (calls.id, f"budget '{calls.id}' is the daily request limit of user 'alice': alerts "
                   "watch dollars, so name a usd budget"),
        (tokens.id, "is the monthly token limit of user 'bob': alerts watch dollars"),
        (per_minute.id, "(a rate limit): alerts watch a day, week, month or total budget"),
        ("01NOPE", "no budget '01NOPE' (see llmtally budgets list)"),
    ]  # fmt: skip
    keeper = AlertStore(store)
    for budget_id, message in cases:
        settings = AlertsConfig.model_validate({"rules": [{"name": "r", "budget": budget_id}]})
        with pytest.raises(BudgetRuleError, match=f"^alert rule 'r': .*{re.escape(message)}"):
            AlertService(store, settings)
        with pytest.raises(AlertStoreError, match=re.escape(message)):
            keeper.add_rule(SpendRule(name="r", budget=budget_id), NOW)
    assert keeper.rules() == []


def test_a_ledger_rule_whose_budget_was_removed_is_left_out_and_said(
    store: Store,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    book = BudgetBook(store)
    budget = book.add("user", "alice", "usd", "day", D(2), now=NOW)
    AlertStore(store).add_rule(SpendRule(name="alice", budget=budget.id), NOW)
    store.insert_many([paid("1.6", at("2026-11-04 09:00"), user="alice")])
    book.remove(budget.id)
    with Receiver() as receiver, caplog.at_level(logging.WARNING):
        service = _service(store, receiver, [])
        assert service.check().fired == [] and service.check().fired == []
        assert receiver.bodies() == []
    said = [r.getMessage() for r in caplog.records if "alice" in r.getMessage()]
    assert said == [
        f"alert rule 'alice': no budget '{budget.id}' (see llmtally budgets list); "
        "the rule is left out"
    ]
    (status,) = rule_statuses(store, AlertsConfig(), NOW)
    assert (status.spend, status.used) == (D(0), None)
    assert status.problem is not None and "no budget" in status.problem


# -- the command line -------------------------------------------------------------


def test_alerts_add_budget_and_team(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    database = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    monkeypatch.setenv("LLMTALLY_DATABASE_URL", database)
    config = tmp_path / "llmtally.yaml"
    config.write_text("alerts: {}\n")
    with open_store(database) as ledger:
        ids = _keys(ledger)
        book = BudgetBook(ledger)
        budget = book.add("team", "search", "usd", "total", D("1.50"), now=NOW)
        limit = book.add("team", "search", "requests", "minute", D(60), now=NOW)

    def run(*args: str) -> tuple[int, str]:
        done = CliRunner().invoke(app, ["alerts", *args, "--config", str(config)])
        return done.exit_code, done.output

    assert run("add", "st", "--budget", budget.id) == (
        0, f"Added alert rule 'st' (team=search): budget {budget.id}: $1.50 in total at "
           "50, 80, 100%.\n",
    )  # fmt: skip
    # no pace: 0.75 spent by any time after 06:00 UTC projects past 2.00 a day, so
    # with pace this rule fired or not by the hour the test ran
    daily = ["add", "daily", "--team", "search", "--amount-usd", "2", "--period", "day"]
    assert run(*daily, "--no-pace") == (
        0, "Added alert rule 'daily' (team=search): $2.00/day at 50, 80, 100%.\n",
    )  # fmt: skip
    refused = [
        (["--amount-usd", "1"], 2, f"rule: a rule on budget '{budget.id}' takes its scope, "
                                   "amount and period from the budget: leave out amount_usd"),
        (["--team", "search"], 2, "leave out scope"),
        (["--anomaly"], 2, "--budget is for a spend rule, not --anomaly"),
    ]  # fmt: skip
    for extra, code, message in refused:
        said = run("add", "x", "--budget", budget.id, *extra)
        assert said[0] == code and message in said[1], extra
    said = run("add", "x", "--budget", limit.id)
    assert said[0] == 1 and "the per-minute request limit of team 'search'" in said[1]
    said = run("add", "x", "--budget", "nope")
    assert said == (1, "error: alert rule 'x': no budget 'nope' (see llmtally budgets list)\n")

    with open_store(database) as ledger:
        recent = dt.datetime.now(UTC) - dt.timedelta(minutes=1)
        ledger.insert_many([paid("0.75", recent, key_id=ids["a"])])
    code, said = run("check", "--json")
    (fired,) = json.loads(said)["fired"]  # 0.75 of 1.50; of 2.00 it is 37.5%
    assert (fired["rule"], fired["threshold_percent"], fired["spend_usd"]) == ("st", 50, "0.75")
    assert fired["scope"] == {"budget": budget.id, "team": "search"}
    listed = {rule["name"]: rule for rule in json.loads(run("list", "--json")[1])}
    assert listed["st"] | {"scope": None} == {
        "name": "st", "scope": None, "kind": "spend", "period": "total", "amount_usd": "1.5",
        "budget": budget.id, "thresholds": [50, 80, 100], "pace": True, "pace_min_elapsed": 0.25,
        "source": "ledger", "spend_usd": "0.75", "used_share": "0.5", "usual_usd": None,
        "problem": None,
    }  # fmt: skip
    assert listed["st"]["scope"] == {"team": "search"}

    with open_store(database) as ledger:
        BudgetBook(ledger).remove(budget.id)
    code, said = run("list", "--json")
    assert json.loads(said)[1]["problem"] == (
        f"alert rule 'st': no budget '{budget.id}' (see llmtally budgets list)"
    )
    config.write_text(f"alerts: {{rules: [{{name: gone, budget: '{budget.id}'}}]}}\n")
    code, said = run("check")
    assert code == 1 and said.startswith("error: the config's alerts: alert rule 'gone': no budget")
