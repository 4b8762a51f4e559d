"""``llmtally calls --currency`` (issue 17): each call's cost in the chosen
currency at its UTC day's rate, the rates in the table's footer and in
``--json`` beside the USD fields; a call billed in that currency at its billed
total exactly. SQLite and PostgreSQL, through the real CLI.

The rates are a test override file with round numbers (not real rates):
1 USD = 7.2 CNY on 2026-12-01 and 7.0 CNY on 2026-12-02; 1 USD = 150 JPY on
2026-12-01 (nothing later: 2026-12-02 converts at 150, the latest on or
before it).

| call | UTC time | stored (USD) | CNY | JPY |
| --- | --- | --- | --- | --- |
| a | 2026-12-01 10:00 | 1.50 | 1.50 x 7.2 = 10.80 | 1.50 x 150 = 225 |
| b | 2026-12-02 09:00 | 2.00 | 2.00 x 7.0 = 14.00 | 2.00 x 150 = 300 |
| c | 2026-12-02 12:00 | billed 1 CNY | 1 (as billed) | 0.1428571429 x 150 = 21.428571435 |
| d | 2026-12-02 13:00 | unpriced | unpriced | unpriced |

Call c is priced in CNY: the ledger stores 1 CNY at 2026-12-02's rate, 1 / 7.0 =
0.142857142857..., rounded to its 10 places: 0.1428571429 USD. Converted back
that would be 0.1428571429 x 7.0 = 1.0000000003 CNY; ``--currency CNY`` shows
the billed 1 instead, with no rate (nothing was converted).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from alerts_support import paid
from currency_support import use_rates
from llmtally.cli import app
from llmtally.ledger import open_store
from llmtally.meter import Cost
from test_ledger_support import db_url, pg_base_url, price  # noqa: F401

RATES = """\
rates:
  - {date: 2026-12-01, base: USD, quote: CNY, rate: "7.2", source: test rate day 1}
  - {date: 2026-12-02, base: USD, quote: CNY, rate: "7.0", source: test rate day 2}
  - {date: 2026-12-01, base: USD, quote: JPY, rate: "150", source: test yen day 1}
"""
ZERO = Decimal(0)
KNOWN = "(known: USD, EUR, GBP, CNY, JPY)"


@pytest.fixture(autouse=True)
def _rates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_rates(tmp_path, RATES, monkeypatch)
    monkeypatch.delenv("LLMTALLY_CURRENCY", raising=False)
    monkeypatch.setenv("COLUMNS", "160")  # one line per row in the table


def _at(day: int, hour: int) -> dt.datetime:
    return dt.datetime(2026, 12, day, hour, 0, tzinfo=dt.UTC)


def _billed_in_cny(amount: str, at: dt.datetime) -> Any:
    """A call whose price is in CNY, all of it input: ``amount`` CNY billed."""
    cny = dataclasses.replace(price(), provider="testcny", model="cny-chat", currency="CNY")
    cost = Cost(Decimal(amount), ZERO, ZERO, ZERO, ZERO, ZERO, ZERO, ZERO, cny)
    return paid("0", at, provider="testcny", model_served="cny-chat", cost=cost)


@pytest.fixture
def url(db_url: str) -> str:  # noqa: F811
    with open_store(db_url) as ledger:
        ledger.insert_many(
            [
                paid("1.50", _at(1, 10), user="a"),
                paid("2.00", _at(2, 9), user="b"),
                _billed_in_cny("1", _at(2, 12)),
                paid("0", _at(2, 13), user="d", cost=None, cost_error="unknown model"),
            ]
        )
    return db_url


def _calls(url: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["calls", "--database", url, *args])
    return result.exit_code, result.output


def _json(url: str, *args: str) -> list[dict[str, Any]]:
    code, out = _calls(url, "--json", *args)
    assert code == 0, out
    return list(reversed(json.loads(out)))  # oldest first: a, b, c, d


def test_json_in_cny_each_day_at_its_rate_and_a_cny_call_as_billed(url: str) -> None:
    a, b, c, d = _json(url, "--currency", "CNY")
    assert a["shown"]["cost"] == {"amount": "10.8", "currency": "CNY"}  # 1.50 x 7.2
    assert a["shown"]["rate"] == {
        "from": "USD", "to": "CNY", "rate": "7.2", "date": "2026-12-01",
        "source": "test rate day 1",
    }  # fmt: skip
    assert Decimal(b["shown"]["cost"]["amount"]) == Decimal(14)  # 2.00 x 7.0
    assert b["shown"]["rate"]["rate"] == "7" and b["shown"]["rate"]["date"] == "2026-12-02"
    # billed 1 CNY: shown as billed, not 0.1428571429 x 7.0 = 1.0000000003
    assert c["cost_usd"] == "0.1428571429"  # 1 / 7.0 at the ledger's 10 places
    assert c["shown"] == {"cost": {"amount": "1", "currency": "CNY"}, "rate": None}
    assert d["shown"] == {"cost": None, "rate": None}  # unpriced
    # the USD fields are as without --currency
    assert [a["cost_usd"], b["cost_usd"], d["cost_usd"]] == ["1.5", "2", None]


def test_json_in_jpy_converts_the_cny_call_through_its_usd(url: str) -> None:
    a, b, c, _ = _json(url, "--currency", "JPY")
    assert Decimal(a["shown"]["cost"]["amount"]) == Decimal(225)  # 1.50 x 150
    assert Decimal(b["shown"]["cost"]["amount"]) == Decimal(300)  # 2.00 x 150 (12-01's)
    assert b["shown"]["rate"]["date"] == "2026-12-01"
    # billed in CNY, shown in JPY: its USD 0.1428571429 x 150 = 21.428571435
    assert Decimal(c["shown"]["cost"]["amount"]) == Decimal("21.428571435")


def test_the_table_in_cny_states_the_rates_used(url: str) -> None:
    code, out = _calls(url, "--currency", "CNY")
    assert code == 0, out
    assert "(CNY)" in out  # the cost column's head: "cost (CNY)", folded
    rows = {line.split()[2]: line.split() for line in out.splitlines() if "2026-12-0" in line}
    # id, day, time, provider/model, HTTP, tokens, cost, ...
    assert rows["10:00:00"][6] == "¥10.80"  # a: 1.50 x 7.2
    assert rows["09:00:00"][6] == "¥14.00"  # b: 2.00 x 7.0
    assert rows["12:00:00"][3:7] == ["testcny/cny-chat", "200", "100/10", "¥1.00"]  # c
    assert rows["13:00:00"][6] == "unpriced"  # d
    assert "¥ at 7.2 CNY per USD (2026-12-01, test rate day 1)" in out
    assert "¥ at 7 CNY per USD (2026-12-02, test rate day 2)" in out
    assert "calls billed in CNY: as billed, not converted" in out


def test_usd_output_is_unchanged_byte_for_byte(url: str) -> None:
    for args in (["--json"], []):
        plain = _calls(url, *args)
        assert _calls(url, *args, "--currency", "USD") == plain
        assert "¥" not in plain[1] and '"shown"' not in plain[1]
    assert "$1.50" in _calls(url)[1]


def test_the_currency_setting_applies(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMTALLY_CURRENCY", "CNY")
    a = _json(url)[0]
    assert a["shown"]["cost"] == {"amount": "10.8", "currency": "CNY"}
    assert "shown" not in _json(url, "--currency", "USD")[0]  # the option wins


def test_bad_input_is_a_clear_error(url: str) -> None:
    code, out = _calls(url, "--currency", "XYZ")
    assert code == 2 and f"unknown currency 'XYZ' {KNOWN}" in out
    with open_store(url) as ledger:  # a call before any rate (shipped ones start in 2014)
        ledger.insert_many([paid("1", dt.datetime(2010, 1, 4, 12, tzinfo=dt.UTC))])
    code, out = _calls(url, "--currency", "JPY")
    assert code == 2
    assert "--currency JPY: no USD->JPY exchange rate on or before 2010-01-04" in out
    assert "Traceback" not in out


def _show(url: str, *args: str) -> tuple[int, str]:
    """``llmtally calls show ARGS`` on the ledger at ``url``."""
    result = CliRunner().invoke(app, ["calls", "show", *args, "--database", url])
    return result.exit_code, result.output


def _id_of(url: str, hour: str) -> str:
    return next(c["id"] for c in _json(url) if f"T{hour}:00:00" in c["started_at"])


def test_show_in_cny_converts_at_the_calls_day(url: str) -> None:
    b = _id_of(url, "09")
    code, out = _show(url, b, "--json", "--currency", "CNY")
    assert code == 0, out
    data = json.loads(out)
    assert Decimal(data["shown"]["cost"]["amount"]) == Decimal(14)  # 2.00 x 7.0 (12-02)
    assert data["shown"]["rate"]["date"] == "2026-12-02" and data["cost_usd"] == "2"
    code, out = _show(url, b, "--currency", "CNY")
    assert code == 0, out
    assert "cost (CNY)" in out and "¥14.00" in out
    assert "¥ at 7 CNY per USD (2026-12-02, test rate day 2)" in out


def test_show_a_cny_call_in_cny_as_billed_and_in_jpy_through_usd(url: str) -> None:
    c = _id_of(url, "12")
    data = json.loads(_show(url, c, "--json", "--currency", "CNY")[1])
    assert data["shown"] == {"cost": {"amount": "1", "currency": "CNY"}, "rate": None}
    out = _show(url, c, "--currency", "CNY")[1]
    assert "¥1.00" in out and "per USD" not in out  # nothing converted, no rate stated
    data = json.loads(_show(url, c, "--json", "--currency", "JPY")[1])
    # its USD 0.1428571429 x 150 (12-01's rate, the latest on or before 12-02)
    assert Decimal(data["shown"]["cost"]["amount"]) == Decimal("21.428571435")


def test_show_unpriced_usd_unchanged_and_no_rate(url: str) -> None:
    d = _id_of(url, "13")
    data = json.loads(_show(url, d, "--json", "--currency", "CNY")[1])
    assert data["shown"] == {"cost": None, "rate": None}
    assert "unpriced" in _show(url, d, "--currency", "CNY")[1]
    a = _id_of(url, "10")
    assert _show(url, a, "--currency", "USD") == _show(url, a)  # USD: byte for byte
    assert "shown" not in json.loads(_show(url, a, "--json")[1])
    with open_store(url) as ledger:  # a call before any rate
        ledger.insert_many([paid("1", dt.datetime(2010, 1, 4, 12, tzinfo=dt.UTC), user="old")])
    old = next(c["id"] for c in _json(url) if c["user"] == "old")
    code, out = _show(url, old, "--currency", "JPY")
    assert code == 2 and "no USD->JPY exchange rate on or before 2010-01-04" in out
    assert "Traceback" not in out
