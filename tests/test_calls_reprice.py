"""``llmtally calls reprice``: calls stored without a price are priced again once
the price or the rate is known (llmtally.ledger.reprice), the rollups rebuilt in
the same transaction; priced calls are never touched. SQLite and PostgreSQL,
through the real CLI.

The prices are test fixtures given through the user's override file, as a user
adds them (README "prices"), not real prices:

- ``testcny/cny-chat``: 2 CNY per 1M input tokens, 8 CNY per 1M output tokens
  (a provider billed in CNY, docs/currencies.md);
- ``inhouse/tuned-7b``: 0.20 USD per 1M input, 0.40 USD per 1M output, in force
  from 2026-01-01 (the README's override-file example); added only in
  ``AFTER``, the file the user writes later.

The ledger (``ledger`` fixture), recorded as the gateway records calls (priced
by the catalog of the time, converted with the rates of the time):

| call | started (UTC) | what | stored as |
| --- | --- | --- | --- |
| p | 2026-11-02 09:00 | gpt-4o, 1.50 USD (alerts_support.paid) | priced |
| u | 2026-11-02 10:00 | inhouse/tuned-7b, 1,000,000 in / 500,000 out | unknown model |
| e | 2025-12-01 10:00 | inhouse/tuned-7b, before its price took effect | unknown model |
| c | 2014-03-10 12:00 | testcny/cny-chat, 100,000 in / 50,000 out | billed 0.6 CNY, no rate |
| n | 2026-11-02 11:00 | HTTP 500, no usage reported | unpriced |

Call c is dated before the shipped rate table's first day (2014-10-24,
src/llmtally/currency/data/rates.yaml), so no rate converts it until the user's
rates file (``RATES``) has 2014-03-10: 1 USD = 6.25 CNY, so 1 CNY = 1 / 6.25 =
0.16 USD exactly.

Worked by hand:
- u: 1,000,000 x 0.20 / 1M = 0.20 input + 500,000 x 0.40 / 1M = 0.20 output = 0.40 USD;
- c: billed 100,000 x 2 / 1M = 0.2 + 50,000 x 8 / 1M = 0.4 = 0.6 CNY; in USD
  0.2 x 0.16 = 0.032 + 0.4 x 0.16 = 0.064 = 0.096 USD;
- e stays unpriced (no price in force on 2025-12-01), n too (no usage).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, func, select
from typer.testing import CliRunner

from alerts_support import paid
from currency_support import use_rates
from llmtally.analytics.overview import overview
from llmtally.cli import app
from llmtally.config import open_catalog
from llmtally.gateway.call_rows import repriced
from llmtally.ledger import open_store
from llmtally.ledger import reprice as reprice_module
from llmtally.ledger.advice_tables import ADVICE_TABLES
from llmtally.ledger.rollup_tables import ROLLUPS
from llmtally.ledger.schema import calls
from llmtally.usage import Call, Usage, new_ulid
from test_ledger_support import db_url, pg_base_url  # noqa: F401

CNY_PROVIDER = """\
providers:
  - provider: testcny
    name: A provider billed in CNY (a test fixture, not a real price list)
    pricing_url: https://example.invalid/testcny/pricing
    currency: CNY
    models:
      - id: cny-chat
        prices:
          - {source: tests/test_calls_reprice.py (fixture), input: "2", output: "8"}
"""
AFTER = (
    CNY_PROVIDER
    + """\
  - provider: inhouse
    name: In-house
    pricing_url: https://wiki.example/llm-prices
    models:
      - id: tuned-7b
        prices:
          - {effective: 2026-01-01, source: "https://wiki.example/llm-prices",
             input: "0.20", output: "0.40"}
"""
)
RATES = """\
rates:
  - {date: 2014-03-10, base: USD, quote: CNY, rate: "6.25", source: "test: our bank"}
"""
NOW = dt.datetime(2026, 11, 2, 12, tzinfo=dt.UTC)
WHOLE = ["--since", "2014-01-01", "--until", "2027-01-01"]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "home"
    folder.mkdir()
    (folder / "prices.yaml").write_text(CNY_PROVIDER)
    monkeypatch.setenv("LLMTALLY_HOME", str(folder))
    monkeypatch.delenv("LLMTALLY_RATES", raising=False)
    monkeypatch.delenv("LLMTALLY_PRICES", raising=False)
    monkeypatch.delenv("LLMTALLY_CURRENCY", raising=False)
    return folder


def _recorded(provider: str, model: str, at: dt.datetime, usage: Usage, **more: Any) -> Call:
    """A call priced as the gateway prices it, with the catalog of the time."""
    call = Call(
        id=new_ulid(),
        started_at=at,
        provider=provider,
        model_requested=model,
        model_served=model,
        endpoint="/v1/chat/completions",
        status=200,
        latency_ms=100.0,
        usage=usage,
        **more,
    )
    return repriced(call, open_catalog(), None)


def _no_usage(at: dt.datetime) -> Call:
    """A failed call that reported no usage, as the gateway records one."""
    return Call(
        id=new_ulid(),
        started_at=at,
        provider="openai",
        model_requested="gpt-4o",
        model_served=None,
        endpoint="/v1/chat/completions",
        status=500,
        latency_ms=100.0,
        usage=Usage(source="estimated"),
        cost_error="the call failed (HTTP 500) and reported no usage",
    )


@pytest.fixture
def ledger(db_url: str, home: Path) -> str:  # noqa: F811
    big = Usage(input_tokens=1_000_000, output_tokens=500_000)
    small = Usage(input_tokens=100_000, output_tokens=50_000)
    nov2 = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
    with open_store(db_url) as store:
        store.insert_many(
            [
                paid("1.50", nov2.replace(hour=9), user="p"),
                _recorded("inhouse", "tuned-7b", nov2.replace(hour=10), big, user="u"),
                _recorded(
                    "inhouse",
                    "tuned-7b",
                    dt.datetime(2025, 12, 1, 10, tzinfo=dt.UTC),
                    big,
                    user="e",
                ),
                _recorded(
                    "testcny",
                    "cny-chat",
                    dt.datetime(2014, 3, 10, 12, tzinfo=dt.UTC),
                    small,
                    user="c",
                ),
                _no_usage(nov2.replace(hour=11)),
            ]
        )
    return db_url


def _rows(url: str) -> dict[str, dict[str, Any]]:
    """Every stored row by its user (p, u, e, c; the failed call as n)."""
    with open_store(url) as store, store.engine.connect() as conn:
        found = conn.execute(select(calls)).mappings().all()
    return {row["user_id"] or "n": dict(row) for row in found}


def _rollups(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every rollup table (the dashboard's and the advisor's), sorted."""
    tables = {**ROLLUPS, **ADVICE_TABLES}
    with open_store(url) as store, store.engine.connect() as conn:
        return {
            name: sorted((tuple(row) for row in conn.execute(select(table))), key=repr)
            for name, table in tables.items()
        }


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def _reprice(url: str, *args: str) -> dict[str, Any]:
    code, out = _cli("calls", "reprice", "--database", url, "--json", *args)
    assert code == 0, out
    data: dict[str, Any] = json.loads(out)
    return data


def _after(home: Path) -> str:
    """The override file the user writes later: the in-house model added."""
    path = home / "prices-after.yaml"
    path.write_text(AFTER)
    return str(path)


def _reasons(data: dict[str, Any]) -> dict[str, int]:
    return {r["kind"]: r["calls"] for r in data["unpriced"]["reasons"]}


def test_an_unknown_model_is_priced_once_the_prices_file_has_it(ledger: str, home: Path) -> None:
    before = _rows(ledger)
    assert before["u"]["cost_total"] is None and "inhouse" in before["u"]["cost_error"]
    data = _reprice(ledger, "--prices-file", _after(home))
    # u: 0.20 input + 0.20 output = 0.40 USD; c has no rate yet, e no price in force
    assert data["repriced"] == {
        "calls": 1,
        "cost_usd": "0.4",
        "by_currency": {"USD": {"calls": 1, "billed": "0.4", "cost_usd": "0.4"}},
    }
    assert data["unpriced"]["calls"] == 3
    assert _reasons(data) == {"no price": 1, "no exchange rate": 1, "no usage reported": 1}
    first = {r["kind"]: r["first"] for r in data["unpriced"]["reasons"]}
    assert "2025-12-01" in first["no price"] and "2026-01-01" in first["no price"]
    assert "0.6 CNY" in first["no exchange rate"]
    u = _rows(ledger)["u"]
    assert (u["cost_input"], u["cost_output"]) == (Decimal("0.2"), Decimal("0.2"))
    assert u["cost_total"] == Decimal("0.4") and u["cost_error"] is None
    assert u["price_id"] == "inhouse/tuned-7b@2026-01-01"
    assert u["billed_currency"] is None  # a USD price: nothing converted
    assert data["rollups"]["rebuilt"] is True
    assert data["rollups"]["calls_read"] == 5  # every stored call


def test_a_cny_call_is_converted_once_the_rates_file_has_its_day(
    ledger: str, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _rows(ledger)["c"]
    assert before["cost_total"] is None and before["billed_total"] == Decimal("0.6")
    use_rates(tmp_path, RATES, monkeypatch)
    data = _reprice(ledger)
    # billed 0.6 CNY x 0.16 = 0.096 USD
    assert data["repriced"]["by_currency"] == {
        "CNY": {"calls": 1, "billed": "0.6", "cost_usd": "0.096"}
    }
    c = _rows(ledger)["c"]
    assert (c["billed_currency"], c["billed_total"]) == ("CNY", Decimal("0.6"))  # unchanged
    assert c["cost_total"] == Decimal("0.096")
    assert (c["cost_input"], c["cost_output"]) == (Decimal("0.032"), Decimal("0.064"))
    assert Decimal(c["fx_rate"]) == Decimal("0.16")  # 1 / 6.25
    assert c["fx_date"] == dt.date(2014, 3, 10) and c["fx_source"] == "test: our bank"
    assert c["price_id"] == "testcny/cny-chat@launch" and c["cost_error"] is None


def _report_total(url: str) -> dict[str, Any]:
    code, out = _cli("report", *WHOLE, "--by", "model", "--format", "json", "--database", url)
    assert code == 0, out
    total: dict[str, Any] = json.loads(out)["total"]
    return total


def _advice_cost(url: str) -> Decimal:
    table = ADVICE_TABLES["rollup_advice_day"]
    with open_store(url) as store, store.engine.connect() as conn:
        return Decimal(conn.execute(select(func.sum(table.c.cost_total))).scalar_one())


def test_reports_and_the_dashboard_count_the_repriced_calls(
    ledger: str, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    total = _report_total(ledger)
    assert (total["cost_total"], total["unpriced"]) == ("1.5", 4)
    with open_store(ledger) as store:
        assert overview(store, NOW).today.cost == Decimal("1.5")
    assert _advice_cost(ledger) == Decimal("1.5")
    use_rates(tmp_path, RATES, monkeypatch)
    data = _reprice(ledger, "--prices-file", _after(home))
    assert data["repriced"]["calls"] == 2 and data["repriced"]["cost_usd"] == "0.496"
    # 1.50 (p) + 0.40 (u) + 0.096 (c) = 1.996; e and n still unpriced
    total = _report_total(ledger)
    assert (total["cost_total"], total["unpriced"], total["calls"]) == ("1.996", 2, 5)
    with open_store(ledger) as store:
        today = overview(store, NOW).today  # 2026-11-02: p 1.50 + u 0.40 = 1.90
    assert (today.cost, today.calls) == (Decimal("1.9"), 3)
    # the advisor's rollup: the 2xx calls' costs, 1.50 + 0.40 + 0.096 = 1.996
    assert _advice_cost(ledger) == Decimal("1.996")


def test_dry_run_changes_nothing(
    ledger: str, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_rates(tmp_path, RATES, monkeypatch)
    rows, rollups = _rows(ledger), _rollups(ledger)
    data = _reprice(ledger, "--prices-file", _after(home), "--dry-run")
    assert data["dry_run"] is True
    assert data["repriced"]["calls"] == 2 and data["repriced"]["cost_usd"] == "0.496"
    assert data["rollups"] == {"rebuilt": False, "calls_read": None}
    assert _rows(ledger) == rows and _rollups(ledger) == rollups
    code, out = _cli(
        "calls", "reprice", "--database", ledger, "--prices-file", _after(home), "--dry-run"
    )
    assert code == 0, out
    assert "2 calls would be re-priced: $0.496 in all" in out
    assert "dry run: nothing changed" in out
    assert _rows(ledger) == rows


def test_a_second_run_reprices_nothing(
    ledger: str, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_rates(tmp_path, RATES, monkeypatch)
    assert _reprice(ledger, "--prices-file", _after(home))["repriced"]["calls"] == 2
    rows, rollups = _rows(ledger), _rollups(ledger)
    again = _reprice(ledger, "--prices-file", _after(home))
    assert again["repriced"] == {"calls": 0, "cost_usd": "0", "by_currency": {}}
    assert again["unpriced"]["calls"] == 2  # e (no price in force), n (no usage)
    assert again["rollups"] == {"rebuilt": False, "calls_read": None}
    assert _rows(ledger) == rows and _rollups(ledger) == rollups


def test_priced_rows_are_untouched(
    ledger: str, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_rates(tmp_path, RATES, monkeypatch)
    before = _rows(ledger)
    _reprice(ledger, "--prices-file", _after(home))
    after = _rows(ledger)
    # p's 1.50 is paid()'s, not the catalog's gpt-4o price: re-pricing it would change it
    assert after["p"] == before["p"] and after["p"]["cost_total"] == Decimal("1.5")
    assert after["e"] == before["e"] and after["n"] == before["n"]  # still unpriced: as stored


def test_the_window_limits_what_is_repriced(
    ledger: str, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_rates(tmp_path, RATES, monkeypatch)
    data = _reprice(ledger, "--prices-file", _after(home), "--since", "2026-01-01")
    # c (2014) is outside: only u; unpriced counts e? no: e is 2025, outside too; n inside
    assert data["repriced"]["calls"] == 1 and data["repriced"]["cost_usd"] == "0.4"
    assert _reasons(data) == {"no usage reported": 1}
    assert _rows(ledger)["c"]["cost_total"] is None
    data = _reprice(ledger, "--until", "2015-01-01")
    assert data["repriced"]["by_currency"] == {
        "CNY": {"calls": 1, "billed": "0.6", "cost_usd": "0.096"}
    }


def test_the_text_output(
    ledger: str, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_rates(tmp_path, RATES, monkeypatch)
    code, out = _cli("calls", "reprice", "--database", ledger, "--prices-file", _after(home))
    assert code == 0, out
    assert "2 calls re-priced: $0.496 in all" in out
    assert "billed in CNY: 1 call, 0.6 CNY billed = $0.096" in out
    assert "billed in USD: 1 call, $0.4" in out
    assert "2 calls still unpriced" in out
    assert "no usage reported: 1 call, e.g. the call failed (HTTP 500)" in out
    assert "rollups rebuilt from 5 calls" in out


def test_a_broken_rates_file_stops_before_anything_changes(
    ledger: str, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_rates(tmp_path, "rates:\n  - {date: 2014-03-10, base: USD}\n", monkeypatch)
    rows = _rows(ledger)
    code, out = _cli("calls", "reprice", "--database", ledger, "--prices-file", _after(home))
    assert code == 2
    assert "rates.yaml" in out and "nothing re-priced" in out
    assert _rows(ledger) == rows


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "soon"], "--since: 'soon' is neither a duration"),
        (["--until", "later"], "--until: 'later' is neither a duration"),
        (["--since", "2026-11-02", "--until", "2026-11-01"], "must be after --since"),
    ],
)
def test_bad_options(ledger: str, args: list[str], message: str) -> None:
    code, out = _cli("calls", "reprice", "--database", ledger, *args)
    assert code == 2 and message in out


def test_a_ledger_that_cannot_be_opened(home: Path) -> None:
    code, out = _cli("calls", "reprice", "--database", "mysql://nowhere/ledger")
    assert code == 1 and "cannot open the ledger" in out


def test_a_call_recorded_during_the_run_waits_and_is_summed_once(
    ledger: str, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A gateway writing meanwhile: its insert waits for the run's lock (SQLite's
    write lock; PostgreSQL's table lock), then adds itself to the rebuilt rollups."""
    use_rates(tmp_path, RATES, monkeypatch)
    rebuild = reprice_module._rebuild
    done = threading.Event()
    with open_store(ledger) as gateway:

        def insert() -> None:
            gateway.insert_many([paid("2.00", NOW.replace(hour=8), user="late")])
            done.set()

        thread = threading.Thread(target=insert)

        def rebuild_while_writing(conn: Connection) -> int:
            thread.start()
            assert not done.wait(1.0)  # held back by the lock (SQLite waits up to 5 s)
            return rebuild(conn)

        monkeypatch.setattr(reprice_module, "_rebuild", rebuild_while_writing)
        data = _reprice(ledger, "--prices-file", _after(home))
        thread.join(30)
    assert done.is_set()
    assert data["rollups"]["calls_read"] == 5  # the late call was not there yet
    # 1.50 (p) + 0.40 (u) + 0.096 (c) + 2.00 (late) = 3.996, once
    total = _report_total(ledger)
    assert (total["cost_total"], total["calls"], total["unpriced"]) == ("3.996", 6, 2)
