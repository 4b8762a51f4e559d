"""What counts a call's cost before the ledger has it counts USD, the ledger's pivot
(issue 17): budget reservation and settlement, /metrics, the OTLP export and the
import summary, for a call priced in CNY (``llmtally.currency.pivot``).

The price file is a fixture of this test (a provider ``testcny`` billed in CNY,
given through the user's override file, as tests/test_currency_ledger.py does):
``cny-chat`` 10 CNY per 1M input tokens and 20 CNY per 1M output tokens;
``cny-cfets`` 7.1726 and 14.3452 (1x and 2x the CFETS USD/CNY central parity of
2025-02-25 in the shipped table, src/llmtally/currency/data/rates.yaml, so its
USD figures come out round at that rate). Not real prices.

The rates: a user rates file gives 1 CNY = 0.14 USD for today (a round test
rate, "test: our bank"), which serves every call made now; calls of 2025-03-10
use the shipped CFETS 7.1726 (1 CNY = 1/7.1726 USD =
0.1394194573794718790954465605 to 28 digits, bc -l); no way from CNY to USD
exists on or before 2014-10-23 (the shipped table starts 2014-10-24).

The wire: the OpenAI Chat Completions object
(https://platform.openai.com/docs/api-reference/chat/object), which DashScope's,
Kimi's and GLM's OpenAI-compatible modes answer with
(https://www.alibabacloud.com/help/en/model-studio/compatibility-of-openai-with-dashscope).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from currency_support import bank_rate_today, chat_call
from gateway_support import live_gateway
from llmtally.budgets.book import BudgetBook
from llmtally.budgets.counters import Claim
from llmtally.budgets.rules import Budget
from llmtally.budgets.worst_case import Call as Request
from llmtally.budgets.worst_case import worst_case
from llmtally.catalog import Catalog
from llmtally.cli import app
from llmtally.config import open_catalog
from llmtally.currency import open_rates
from llmtally.gateway.budget_gate import BudgetGate, _actual
from llmtally.gateway.keys import KeyGate
from llmtally.gateway.metrics import GatewayMetrics
from llmtally.history.load import import_records
from llmtally.ledger import LedgerWriter, Store
from llmtally.ledger.keys import KeyStore
from llmtally.ledger.schema import calls
from llmtally.otel.export_encode import MetricsWindow, span_of
from llmtally.providers.wires import OPENAI_CHAT
from llmtally.usage import Call, Usage
from otlp_receiver import attributes
from replay_upstream import ReplayUpstream
from test_ledger_support import db_url, pg_base_url, store  # noqa: F401

D = Decimal
PRICES = """\
providers:
  - provider: testcny
    name: A provider billed in CNY (a test fixture, not a real price list)
    pricing_url: https://example.invalid/testcny/pricing
    currency: CNY
    models:
      - id: cny-chat
        prices:
          - source: tests/test_currency_settle.py (fixture)
            input: "10"
            output: "20"
      - id: cny-cfets
        prices:
          - source: tests/test_currency_settle.py (fixture)
            input: "7.1726"
            output: "14.3452"
"""
MARCH = dt.datetime(2025, 3, 10, 12, tzinfo=dt.UTC)  # CFETS 2025-02-25 applies
NO_RATE = dt.datetime(2014, 10, 23, 12, tzinfo=dt.UTC)  # before any CNY->USD way
CFETS = "http://china.org.cn/china/Off_the_Wire/2025-02/25/content_117731713.htm"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The CNY price file and a rates file with 1 CNY = 0.14 USD for today."""
    folder = tmp_path / "home"
    folder.mkdir()
    (folder / "prices.yaml").write_text(PRICES)
    bank_rate_today(folder)
    monkeypatch.setenv("LLMTALLY_HOME", str(folder))
    monkeypatch.delenv("LLMTALLY_RATES", raising=False)
    return folder


@pytest.fixture
def catalog(home: Path) -> Catalog:
    return open_catalog()


def _call(catalog: Catalog, model: str, at: dt.datetime, usage: Usage, **more: Any) -> Call:
    return chat_call("testcny", model, catalog.price_at("testcny", model, at), at, usage, **more)


# -- budgets through the real gateway ---------------------------------------------------

# A request body of exactly 100 bytes asking for at most 50 output tokens. testcny has
# no tokenizer, so its prompt is bounded by its size (a token is at least one byte).
_HEAD = '{"model":"cny-chat","max_tokens":50,"messages":[{"role":"user","content":"'
_TAIL = '"}]}'
BODY = (_HEAD + "x" * (100 - len(_HEAD) - len(_TAIL)) + _TAIL).encode()
# Worst case: 100 x 10 / 1M + 50 x 20 / 1M = 0.001 + 0.001 = 0.002 CNY
#   = 0.002 x 0.14 = 0.00028 USD. The answer uses exactly that (100 + 50 tokens), so
#   every admitted call settles at what it reserved, whatever the order.
# A USD budget of 0.003 a day: 10 x 0.00028 = 0.0028 <= 0.003, 11 x 0.00028 = 0.00308 >
#   0.003: exactly 10 calls fit. (Read as dollars, 0.002 CNY would let 1 call in.)
EACH_USD = D("0.00028")
BUDGET_USD = "0.003"
FITS = 10


def _transcript(prompt: int, completion: int) -> dict[str, Any]:
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "cny-chat",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }
    return {
        "request": {
            "method": "POST",
            "path": "/v1/chat/completions",
            "json": {"model": "cny-chat"},
        },
        "response": {"status": 200, "headers": {"content-type": "application/json"}, "body": body},
    }


def _config(url: str) -> dict[str, Any]:
    return {
        "upstreams": {"cn": {"kind": "openai", "base_url": url, "provider": "testcny"}},
        "routes": [{"match": "*", "upstream": "cn"}],
    }


async def _burst(base: str, secret: str, n: int) -> list[httpx.Response]:
    headers = {"authorization": f"Bearer {secret}", "content-type": "application/json"}
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        return list(
            await asyncio.gather(
                *(
                    client.post("/v1/chat/completions", content=BODY, headers=headers)
                    for _ in range(n)
                )
            )
        )


def _ledger_total(store: Store, count: int) -> tuple[int, Decimal | None]:  # noqa: F811
    deadline = time.monotonic() + 20
    while store.count() < count:
        assert time.monotonic() < deadline, f"{store.count()} of {count} calls recorded"
        time.sleep(0.02)
    with store.engine.connect() as conn:
        found = conn.execute(select(func.count(), func.sum(calls.c.cost_total))).one()
    return int(found[0]), found[1]


def test_a_usd_budget_admits_exactly_the_cny_calls_that_fit_in_usd(
    store: Store,  # noqa: F811
    tmp_path: Path,
    catalog: Catalog,
) -> None:
    assert len(BODY) == 100
    keys = KeyStore(store)
    made = keys.create("cny-burst", D(BUDGET_USD), "day")
    gate = KeyGate(keys).start()
    budgets = BudgetGate(store, catalog).start()
    writer = LedgerWriter(store, tmp_path / "spool.jsonl", flush_interval=0.01)
    try:
        with ReplayUpstream({"chat": _transcript(100, 50)}) as upstream:
            config = _config(upstream.url)
            with live_gateway(config, catalog, writer, gate=gate, budgets=budgets) as (base, _):
                answers = asyncio.run(_burst(base, made.secret, 30))
            assert len(upstream.served) == FITS  # a refused call never went upstream
    finally:
        budgets.close()
        gate.close()
    refused = [a for a in answers if a.status_code == 429]
    assert [a.status_code for a in answers].count(200) == FITS and len(refused) == 30 - FITS
    assert all(a.json()["error"]["code"] == "insufficient_quota" for a in refused)
    # the refusal names the call's worst case in USD and how it was converted
    assert "this call may use $0.00028" in refused[0].text
    assert "0.002 CNY at 1 CNY = 0.14 USD" in refused[0].text
    assert writer.close(timeout=20)
    # the ledger and the budget's counter agree: 10 x 0.00028 = 0.0028 USD, nothing held
    assert _ledger_total(store, FITS) == (FITS, FITS * EACH_USD)
    [key_budget] = [b for b in budgets.book.all() if b.subject == made.key.id]
    assert budgets.counters.state([key_budget])[key_budget.id] == (D("0.0028"), D(0))


def test_a_cny_call_with_no_usable_rate_is_refused_by_a_usd_budget(
    store: Store,  # noqa: F811
    tmp_path: Path,
    home: Path,
    catalog: Catalog,
) -> None:
    # The rates file cannot be read (a row without its quote): there is no CNY->USD
    # rate, so the call's cost cannot be bounded in USD and a dollar budget refuses it
    # before it is sent (never let through at no cost).
    (home / "rates.yaml").write_text("rates:\n  - {date: 2025-03-01, base: CNY}\n")
    keys = KeyStore(store)
    made = keys.create("cny-norate", D("5"), "day")
    gate = KeyGate(keys).start()
    budgets = BudgetGate(store, catalog).start()
    writer = LedgerWriter(store, tmp_path / "spool.jsonl", flush_interval=0.01)
    try:
        with ReplayUpstream({"chat": _transcript(100, 50)}) as upstream:
            with live_gateway(
                _config(upstream.url), catalog, writer, gate=gate, budgets=budgets
            ) as (base, _):
                [answer] = asyncio.run(_burst(base, made.secret, 1))
            assert upstream.served == []
    finally:
        budgets.close()
        gate.close()
        writer.close(timeout=20)
    assert answer.status_code == 403, answer.text
    error = answer.json()["error"]
    assert error["code"] == "budget_unbounded"
    assert "not convertible to USD" in error["message"]
    assert "add a CNY->USD rate for" in error["message"]
    [key_budget] = [b for b in budgets.book.all() if b.subject == made.key.id]
    assert budgets.counters.state([key_budget])[key_budget.id] == (D(0), D(0))


def _request(max_tokens: int, at: dt.datetime) -> Request:
    body = {"model": "cny-chat", "messages": [], "max_tokens": max_tokens}
    return Request(OPENAI_CHAT, "testcny", "cny-chat", body, raw_size=100, started_at=at)


def test_the_worst_case_is_converted_at_the_call_day_and_rounded_up(catalog: Catalog) -> None:
    # 100 input x 10 / 1M + 149,950 output x 20 / 1M = 0.001 + 2.999 = 3 CNY.
    # On 2025-03-10 at CFETS: 3 x 0.1394194573794718790954465605
    #   = 0.4182583721384156372863396815 USD: rounded UP to 10 places 0.4182583722
    #   (half-even would give ...721, below what the call may cost).
    bound = worst_case(_request(149_950, MARCH), catalog, MARCH)
    assert bound.usd == D("0.4182583722")
    assert "3 CNY at 1 CNY = 0.139419 USD (2025-02-25)" in bound.why
    # the call's own day decides, not the clock's: now (today's 0.14) it would be 0.42
    assert worst_case(_request(149_950, MARCH), catalog, dt.datetime.now(dt.UTC)).usd == D(
        "0.4182583722"
    )
    # on 2014-10-23 no rate: no dollar figure, and what would give it one
    none = worst_case(_request(149_950, NO_RATE), catalog, NO_RATE)
    assert none.usd is None
    assert "priced at 3 CNY at most, not convertible to USD" in none.why
    assert none.fix.startswith("add a CNY->USD rate for 2014-10-23")


def _usd_claim(amount: str) -> Claim:
    budget = Budget("b1", "key", "k1", "usd", "day", D("10"))
    return Claim(budget, MARCH, None, D(amount))


def test_settlement_counts_the_ledger_usd_and_keeps_the_reservation_without_a_rate(
    catalog: Catalog,
) -> None:
    # 3,000 in x 7.1726 / 1M + 500 out x 14.3452 / 1M = 0.0215178 + 0.0071726
    #   = 0.0286904 CNY (= 0.004 x 7.1726). At CFETS (bc -l):
    #   0.0286904 x 0.1394194573794718790954465605 = 0.00399999999999999999999999999936..
    #   -> the ledger's 10 places (half-even): 0.0040000000 USD
    march = _call(catalog, "cny-cfets", MARCH, Usage(input_tokens=3000, output_tokens=500))
    assert march.cost is not None and march.cost.total == D("0.0286904")
    assert _actual(_usd_claim("0.01"), march) == D("0.0040000000")
    # 2014-10-23: no rate, so the call keeps its whole reservation (not 0, not CNY)
    old = _call(catalog, "cny-cfets", NO_RATE, Usage(input_tokens=3000, output_tokens=500))
    assert _actual(_usd_claim("0.01"), old) == D("0.01")
    # a USD call is counted as before: gpt-4o-mini 1,000 x 0.15/1M + 500 x 0.60/1M
    usd = _usd_call(catalog)
    assert _actual(_usd_claim("0.01"), usd) == D("0.00045")


def _usd_call(catalog: Catalog) -> Call:
    usage = Usage(input_tokens=1000, output_tokens=500)
    price = catalog.price_at("openai", "gpt-4o-mini", MARCH)
    return chat_call("openai", "gpt-4o-mini", price, MARCH, usage)


# -- /metrics ----------------------------------------------------------------------------


def test_metrics_count_the_usd_of_a_cny_call_and_one_without_a_rate_as_unpriced(
    catalog: Catalog,
) -> None:
    metrics = GatewayMetrics()
    now = dt.datetime.now(dt.UTC)
    # 100 x 10 / 1M + 50 x 20 / 1M = 0.002 CNY x 0.14 (today) = 0.00028 USD
    metrics.observe(_call(catalog, "cny-chat", now, Usage(input_tokens=100, output_tokens=50)))
    metrics.observe(_call(catalog, "cny-chat", NO_RATE, Usage(input_tokens=100, output_tokens=50)))
    labels = {"provider": "testcny", "model": "cny-chat"}
    sample = metrics.registry.get_sample_value
    assert sample("llmtally_cost_usd_total", labels) == 0.00028
    assert sample("llmtally_unpriced_calls_total", labels) == 1.0


# -- the OTLP export -----------------------------------------------------------------------


def test_an_exported_cny_call_carries_cny_and_the_ledger_usd_beside(catalog: Catalog) -> None:
    now = dt.datetime.now(dt.UTC)
    call = _call(catalog, "cny-chat", now, Usage(input_tokens=100, output_tokens=50))
    got = attributes(span_of(call).attributes)
    # PR #443: the amount llmtally computed from its CNY price, in CNY (0.002), named so
    assert got["gen_ai.usage.cost.amount"] == 0.002
    assert got["gen_ai.usage.cost.currency"] == "CNY"
    assert got["gen_ai.usage.cost.source"] == "local"
    # beside it: the exact billed amount and the ledger's USD (0.002 x 0.14) with its rate
    assert got["llmtally.cost.billed"] == "0.002"
    assert got["llmtally.cost.usd"] == "0.00028"
    assert got["llmtally.cost.fx_rate"] == "0.14"
    assert got["llmtally.cost.fx_date"] == now.date().isoformat()
    old = attributes(span_of(_call(catalog, "cny-chat", NO_RATE, call.usage)).attributes)
    assert old["gen_ai.usage.cost.currency"] == "CNY" and "llmtally.cost.usd" not in old
    assert "no CNY->USD" in old["llmtally.cost.usd_error"]
    # the llmtally.cost metric sums USD: 0.00028 for the first, nothing for the second
    window = MetricsWindow(start_ns=0)
    window.add(call)
    window.add(_call(catalog, "cny-chat", NO_RATE, call.usage))
    assert list(window.cost.values()) == [0.00028]


def test_a_usd_call_is_exported_as_before(catalog: Catalog) -> None:
    got = attributes(span_of(_usd_call(catalog)).attributes)
    # 1,000 x 0.15 / 1M + 500 x 0.60 / 1M = 0.00015 + 0.0003 = 0.00045 USD
    assert (got["gen_ai.usage.cost.amount"], got["gen_ai.usage.cost.currency"]) == (
        0.00045,
        "USD",
    )
    assert got["llmtally.cost.usd"] == "0.00045" and "llmtally.cost.billed" not in got


# -- the import summary ----------------------------------------------------------------------


def _record(ident: str, model: str, when: str, tokens: dict[str, int], **more: Any) -> Any:
    provider = "openai" if model.startswith("gpt") else "testcny"
    row = {"id": ident, "provider": provider, "model": model, "started_at": when}
    return f"line {ident}", {**row, "tokens": tokens, **more}


def test_the_import_summary_totals_usd(store: Store, catalog: Catalog) -> None:  # noqa: F811
    records = [
        # 0.0286904 CNY (as above) -> 0.0040000000 USD; the tool said 0.0041 USD
        _record(
            "c1",
            "cny-cfets",
            "2025-03-10T12:00:00Z",
            {"input": 3000, "output": 500},
            cost_usd="0.0041",
        ),
        # no CNY->USD rate on 2014-10-23: unpriced in the ledger, so here too
        _record("c2", "cny-cfets", "2014-10-23T12:00:00Z", {"input": 3000, "output": 500}),
        # USD: 1,000 x 0.15 / 1M + 500 x 0.60 / 1M = 0.00045
        _record("c3", "gpt-4o-mini", "2025-03-10T12:00:00Z", {"input": 1000, "output": 500}),
    ]
    summary = import_records("jsonl", records, store, catalog, source="test")
    assert (summary.imported, summary.unpriced) == (3, 1)
    got = summary.to_json()
    # 0.004 + 0.00045 = 0.00445 USD; compared: the CNY row's 0.004 against the tool's
    # 0.0041: a difference of -0.0001
    assert D(got["cost_usd"]) == D("0.00445")
    assert (D(got["compared_cost_usd"]), D(got["source_cost_usd"])) == (D("0.004"), D("0.0041"))
    assert D(got["difference_usd"]) == D("-0.0001")
    with store.engine.connect() as conn:
        stored = conn.execute(select(func.sum(calls.c.cost_total))).scalar_one()
    assert stored == D("0.00445")  # the summary says what the ledger holds
    assert json.dumps(got)  # plain JSON


async def _burst_as(base: str, user: str, n: int) -> list[httpx.Response]:
    headers = {"x-llmtally-user": user, "content-type": "application/json"}
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        sent = (
            client.post("/v1/chat/completions", content=BODY, headers=headers) for _ in range(n)
        )
        return list(await asyncio.gather(*sent))


def test_a_cny_budget_admits_the_cny_calls_that_fit_and_shows_them_in_cny(
    store: Store,  # noqa: F811
    tmp_path: Path,
    catalog: Catalog,
) -> None:
    # Alice's budget: 0.021 CNY a day. Its limit is divided by 1 USD in CNY, the
    # inverse of today's 1 CNY = 0.14 USD to 28 digits: 1 / 0.14 =
    # 7.142857142857142857142857143; 0.021 / that = 0.0029399999999...9999994,
    # rounded down to the ledger's 10 places (never above the CNY limit):
    # 0.0029399999 USD. Each call at worst (and in fact) 0.002 CNY = 0.00028 USD:
    # 10 x 0.00028 = 0.0028 fits, 11 x 0.00028 = 0.00308 does not: 10 of 30 are sent.
    book = BudgetBook(store, open_rates())
    alice = book.add("user", "alice", "usd", "day", D("0.021"), currency="CNY")
    assert alice.amount == D("0.0029399999")
    budgets = BudgetGate(store, catalog).start()
    writer = LedgerWriter(store, tmp_path / "spool.jsonl", flush_interval=0.01)
    try:
        with ReplayUpstream({"chat": _transcript(100, 50)}) as upstream:
            config = _config(upstream.url)
            with live_gateway(config, catalog, writer, budgets=budgets) as (base, _):
                answers = asyncio.run(_burst_as(base, "alice", 30))
            assert len(upstream.served) == FITS
    finally:
        budgets.close()
    assert [a.status_code for a in answers].count(200) == FITS
    assert writer.close(timeout=20)
    assert _ledger_total(store, FITS) == (FITS, FITS * EACH_USD)
    # spent 0.0028 USD, shown in the budget's currency at the same rate: 0.0028 / 0.14
    # = 0.02 CNY, the ten calls' 10 x 0.002 CNY as billed
    listed = CliRunner().invoke(
        app, ["budgets", "list", "--json", "--database", store.engine.url.render_as_string(False)]
    )
    assert listed.exit_code == 0, listed.output
    [row] = [r for r in json.loads(listed.output) if r["id"] == alice.id]
    assert D(row["spent"]) == D("0.0028")
    assert row["shown"]["limit"] == {"amount": "0.021", "currency": "CNY"}
    assert D(row["shown"]["spent"]["amount"]) == D("0.02")
