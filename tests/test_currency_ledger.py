"""A call priced in CNY lands in the ledger in USD, with what was billed beside it
(issue 17; ``llmtally.currency.pivot``, migration m0016).

The price file is a fixture of this test (``PRICES``: a provider ``testcny`` that
bills in CNY, given through the user override file as a user would), its rates
chosen as multiples of the CFETS USD/CNY central parity of 2025-02-25, 7.1726
(src/llmtally/currency/data/rates.yaml, from
http://china.org.cn/china/Off_the_Wire/2025-02/25/content_117731713.htm), so that
the USD figures at that rate come out exact and can be checked by hand:
``cny-chat`` input 7.1726, cache hit 1.43452 (0.2 x 7.1726), output 14.3452
(2 x 7.1726) CNY per 1M tokens; ``cny-one`` 1 CNY per 1M input tokens (a rate that
needs rounding). Not real prices.

Paths: the gateway (a replay upstream), OTLP/HTTP trace ingest, ``llmtally import``,
forwarded SDK rows; SQLite and PostgreSQL where rows are stored.

The wire: the OpenAI Chat Completions object
(https://platform.openai.com/docs/api-reference/chat/object), which DashScope's,
Kimi's and GLM's OpenAI-compatible modes answer with
(https://www.alibabacloud.com/help/en/model-studio/compatibility-of-openai-with-dashscope).

CNY -> USD at the CFETS rate is 1 / 7.1726, which the conversion keeps to 28
significant digits: by long division (bc -l, scale=40) 1/7.1726 =
0.1394194573794718790954465605|2198..., so fx_rate = 0.1394194573794718790954465605.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import MetaData, Table, inspect, select
from typer.testing import CliRunner

from currency_support import bank_rate_today, chat_call
from gateway_support import live_gateway
from llmtally.catalog.price import Price, Rates
from llmtally.cli import app
from llmtally.config import open_catalog
from llmtally.costing import cost_json
from llmtally.currency.pivot import usd_amount
from llmtally.gateway.call_rows import CallLimits, Refused, read_batch
from llmtally.ledger import LedgerWriter, Store, open_store
from llmtally.ledger.migrations import MIGRATIONS, migrate
from llmtally.ledger.rows import call_to_row, row_from_json, row_to_json
from llmtally.ledger.schema import (
    calls,
    calls_v1_columns,
    calls_v4_columns,
    calls_v7_columns,
    calls_v9_columns,
    calls_v11_columns,
    calls_v13_columns,
)
from llmtally.ledger.spool import Spool
from llmtally.ledger.store import _engine
from llmtally.meter import cost
from llmtally.usage import Call, Usage
from replay_upstream import ReplayUpstream
from test_ledger_support import db_url, full_call, pg_base_url, simple_call  # noqa: F401

BILLED = ("billed_currency", "billed_total", "fx_rate", "fx_date", "fx_source")
MONEY = ("cost_input", "cost_cache_read", "cost_output", "cost_total", "saved_cache")
CFETS = "http://china.org.cn/china/Off_the_Wire/2025-02/25/content_117731713.htm"
CFETS_RATE = "0.1394194573794718790954465605"  # 1 / 7.1726 to 28 digits (see above)
OJ_2017 = "https://eur-lex.europa.eu/legal-content/RO/TXT/HTML/?uri=CELEX%3AC2017%2F214%2F03"
PRICES = """\
providers:
  - provider: testcny
    name: A provider billed in CNY (a test fixture, not a real price list)
    pricing_url: https://example.invalid/testcny/pricing
    currency: CNY
    models:
      - id: cny-chat
        prices:
          - source: tests/test_currency_ledger.py (fixture)
            input: "7.1726"
            cache_read: "1.43452"
            output: "14.3452"
      - id: cny-one
        prices:
          - source: tests/test_currency_ledger.py (fixture)
            input: "1"
            output: "1"
"""
MARCH = dt.datetime(2025, 3, 10, 12, tzinfo=dt.UTC)
CHAT_USAGE = {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data folder whose override file has the CNY provider, and no rates file
    of its own (the shipped table alone) until a test writes one."""
    folder = tmp_path / "home"
    folder.mkdir()
    (folder / "prices.yaml").write_text(PRICES)
    monkeypatch.setenv("LLMTALLY_HOME", str(folder))
    monkeypatch.delenv("LLMTALLY_RATES", raising=False)
    return folder


def _rows(store: Store) -> dict[str, dict[str, Any]]:
    with store.engine.connect() as conn:
        found = conn.execute(select(calls)).mappings().all()
    return {row["model_requested"]: dict(row) for row in found}


def _posted_row(
    ledger_url: str,
    tmp_path: Path,
    config: dict[str, Any],
    path: str,
    body: dict[str, Any],
    headers: dict[str, str],
) -> dict[str, Any]:
    """POST ``body`` to ``path`` of a live gateway recording into ``ledger_url`` (it must
    answer 200); the row it stored for cny-chat."""
    with open_store(ledger_url) as store:
        writer = LedgerWriter(store, tmp_path / "spool.jsonl", flush_interval=0.02)
        with live_gateway(config, open_catalog(), recorder=writer) as (url, _):
            answer = httpx.post(f"{url}{path}", json=body, headers=headers)
            assert answer.status_code == 200, answer.text
        assert writer.close(timeout=20)
        return _rows(store)["cny-chat"]


def _money(row: dict[str, Any]) -> dict[str, Decimal | None]:
    return {name: row[name] for name in MONEY}


def _d(*amounts: str) -> tuple[Decimal, ...]:
    return tuple(Decimal(a) for a in amounts)


# -- through the gateway --------------------------------------------------------------


def _chat_transcript(model: str) -> dict[str, Any]:
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hi"},
                "finish_reason": "stop",
            }
        ],
        "usage": CHAT_USAGE,
    }
    return {
        "request": {"method": "POST", "path": "/v1/chat/completions", "json": {"model": model}},
        "response": {"status": 200, "headers": {"content-type": "application/json"}, "body": body},
    }


def test_a_cny_call_through_the_gateway_is_stored_in_usd_beside_what_was_billed(
    db_url: str,  # noqa: F811
    tmp_path: Path,
    home: Path,
) -> None:
    # The call is made now, so the rate is one the user's rates file gives for
    # today (a row for today replaces any shipped row for today, and no row after
    # today is ever used): 1 CNY = 0.14 USD.
    today = bank_rate_today(home)
    with ReplayUpstream({"chat": _chat_transcript("cny-chat")}) as upstream:
        config = {
            "upstreams": {
                "cn": {"kind": "openai", "base_url": upstream.url, "provider": "testcny"}
            },
            "routes": [{"match": "*", "upstream": "cn"}],
        }
        chat = {"model": "cny-chat", "messages": [{"role": "user", "content": "Hi"}]}
        row = _posted_row(
            db_url, tmp_path, config, "/v1/chat/completions", chat, {"authorization": "Bearer k"}
        )
    # billed: 1,000 in x 7.1726 / 1M = 0.0071726; 500 out x 14.3452 / 1M = 0.0071726;
    # total 0.0143452 CNY. In USD x 0.14: 0.0071726 x 0.14 = 0.001004164 (each part),
    # 0.0143452 x 0.14 = 0.002008328 (the total)
    assert (row["cost_input"], row["cost_output"], row["cost_total"]) == _d(
        "0.001004164", "0.001004164", "0.002008328"
    )
    assert row["cost_error"] is None and row["price_id"] == "testcny/cny-chat@launch"
    assert (row["billed_currency"], row["billed_total"]) == ("CNY", Decimal("0.0143452"))
    assert (row["fx_rate"], row["fx_date"], row["fx_source"]) == ("0.14", today, "test: our bank")


# -- through the import ---------------------------------------------------------------


def _record(ident: str, model: str, when: str, tokens: dict[str, int]) -> dict[str, Any]:
    provider = "openai" if model.startswith("gpt") else "testcny"
    return {"id": ident, "provider": provider, "model": model, "started_at": when, "tokens": tokens}


IMPORTED = [
    # on 2025-03-10 the latest CNY/USD rate on or before is CFETS 2025-02-25 (7.1726)
    _record(
        "c1", "cny-chat", "2025-03-10T12:00:00Z", {"input": 3000, "cache_read": 1000, "output": 500}
    ),
    _record("c2", "cny-one", "2025-03-10T23:59:59Z", {"input": 1_000_000, "output": 0}),
    # on 2018-01-15 there is no direct USD/CNY row yet (the first is 2020-06-26):
    # through EUR, ECB 2017-07-03 (OJ C 214): EUR/CNY 7.7253, EUR/USD 1.1369
    _record("c3", "cny-one", "2018-01-15T08:00:00+08:00", {"input": 1_000_000, "output": 0}),
    # before the first rate of any way from CNY to USD (2014-10-24, ECB via EUR)
    _record("c4", "cny-chat", "2014-10-23T23:00:00Z", {"input": 1000, "output": 0}),
    # USD: nothing converted
    _record("c5", "gpt-4o-mini", "2025-03-10T12:00:00Z", {"input": 1000, "output": 500}),
]


def _import(db: str, tmp_path: Path, home: Path) -> dict[str, dict[str, Any]]:
    source = tmp_path / "history.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in IMPORTED))
    result = CliRunner().invoke(
        app, ["import", "jsonl", str(source), "--database", db, "--home", str(home), "--json"]
    )
    assert result.exit_code == 0, result.output
    with open_store(db) as store, store.engine.connect() as conn:
        found = conn.execute(select(calls).order_by(calls.c.started_at)).mappings().all()
    by_day = {
        str(row["started_at"])[:10] + "/" + row["model_requested"]: dict(row) for row in found
    }
    assert len(by_day) == len(IMPORTED)
    return by_day


def test_imported_cny_calls_are_converted_at_the_shipped_rate_of_their_day(
    db_url: str,  # noqa: F811
    tmp_path: Path,
    home: Path,
) -> None:
    rows = _import(db_url, tmp_path, home)
    c1 = rows["2025-03-10/cny-chat"]
    # billed: 2,000 uncached x 7.1726 / 1M = 0.0143452; 1,000 cached x 1.43452 / 1M =
    # 0.00143452; 500 out x 14.3452 / 1M = 0.0071726; total 0.02295232 CNY.
    # / 7.1726: 0.002, 0.0002, 0.001, total 0.0032 USD. The cache saved
    # 1,000 x (7.1726 - 1.43452) / 1M = 0.00573808 CNY = 0.0008 USD.
    assert _money(c1) == dict(
        zip(MONEY, _d("0.002", "0.0002", "0.001", "0.0032", "0.0008"), strict=True)
    )
    assert (c1["billed_currency"], c1["billed_total"]) == ("CNY", Decimal("0.02295232"))
    assert (c1["fx_rate"], c1["fx_date"], c1["fx_source"]) == (
        CFETS_RATE,
        dt.date(2025, 2, 25),
        CFETS,
    )
    # 1,000,000 x 1 CNY / 1M = 1 CNY = 0.1394194573|79... USD: 10 places, half-even, up
    c2 = rows["2025-03-10/cny-one"]
    assert (c2["cost_total"], c2["cost_input"], c2["billed_total"]) == _d(
        "0.1394194574", "0.1394194574", "1"
    )
    # 08:00 in UTC+8 is 00:00 UTC the same day. Through EUR: 1 CNY = 1.1369 / 7.7253
    # USD = 0.1471658058586721551266617477|638... (bc -l): 28 digits ...7478; 10 places
    # 0.1471658059
    c3 = rows["2018-01-15/cny-one"]
    assert (c3["cost_total"], c3["fx_rate"], c3["fx_date"], c3["fx_source"]) == (
        Decimal("0.1471658059"),
        "0.1471658058586721551266617478",
        dt.date(2017, 7, 3),
        OJ_2017,
    )
    # no rate: kept, unpriced, with the reason; what was billed is still known
    # (1,000 x 7.1726 / 1M = 0.0071726 CNY)
    c4 = rows["2014-10-23/cny-chat"]
    assert all(c4[name] is None for name in (*MONEY, "price_id", "fx_rate", "fx_date"))
    assert (c4["billed_currency"], c4["billed_total"]) == ("CNY", Decimal("0.0071726"))
    assert c4["cost_error"] == (
        "priced at 0.0071726 CNY (testcny/cny-chat@launch) but not converted to USD: "
        "no CNY->USD exchange rate on or before 2014-10-23 (directly or through one "
        "other currency); the first is on 2014-10-24"
    )
    # USD: 1,000 x 0.15 / 1M + 500 x 0.60 / 1M = 0.00015 + 0.0003 = 0.00045, nothing billed apart
    c5 = rows["2025-03-10/gpt-4o-mini"]
    assert c5["cost_total"] == Decimal("0.00045")
    assert all(c5[name] is None for name in BILLED)


def _otlp_json_export(start: dt.datetime) -> dict[str, Any]:
    """One GenAI chat span in OTLP JSON (https://opentelemetry.io/docs/specs/otlp/
    #json-protobuf-encoding; attributes per https://opentelemetry.io/docs/specs/
    semconv/gen-ai/gen-ai-spans/), 1,000 input and 500 output tokens."""
    attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "testcny",
        "gen_ai.request.model": "cny-chat",
        "gen_ai.usage.input_tokens": 1000,
        "gen_ai.usage.output_tokens": 500,
    }
    start_ns = int(start.timestamp()) * 1_000_000_000
    span = {
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": "eee19b7ec3c1b175",
        "name": "chat cny-chat",
        "kind": 3,
        "startTimeUnixNano": str(start_ns),
        "endTimeUnixNano": str(start_ns + 2_000_000_000),
        "attributes": [
            {"key": k, "value": {"stringValue": v} if isinstance(v, str) else {"intValue": str(v)}}
            for k, v in attrs.items()
        ],
    }
    scope = {"scope": {"name": "hand-written"}, "spans": [span]}
    return {"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [scope]}]}


def test_an_otlp_span_of_a_cny_model_is_stored_in_usd(
    db_url: str,  # noqa: F811
    tmp_path: Path,
    home: Path,
) -> None:
    config = {  # no call is forwarded: the upstream is never asked
        "upstreams": {"openai": {"kind": "openai", "base_url": "http://127.0.0.1:9"}},
        "routes": [{"match": "*", "upstream": "openai"}],
    }
    spans, headers = _otlp_json_export(MARCH), {"content-type": "application/json"}
    row = _posted_row(db_url, tmp_path, config, "/v1/traces", spans, headers)
    # 0.0071726 + 0.0071726 = 0.0143452 CNY (as through the gateway) / 7.1726 on
    # 2025-03-10 (CFETS 2025-02-25): 0.001 + 0.001 = 0.002 USD
    assert (row["cost_input"], row["cost_output"], row["cost_total"]) == _d(
        "0.001", "0.001", "0.002"
    )
    assert (row["billed_currency"], row["billed_total"], row["fx_rate"]) == (
        "CNY",
        Decimal("0.0143452"),
        CFETS_RATE,
    )


# -- the ledger: migration, spool, forwarded rows, a bad rates file ----------------------


def test_m0016_on_a_ledger_left_at_m0015_keeps_its_rows_and_adds_the_columns(
    db_url: str,  # noqa: F811
) -> None:
    engine = _engine(db_url)
    assert migrate(engine, [m for m in MIGRATIONS if m[0] < "m0016"])[-1] == (
        "m0015_advice_rollups"
    )
    old = Table(
        "calls",
        MetaData(),
        *calls_v1_columns(),
        *calls_v4_columns(),
        *calls_v7_columns(),
        *calls_v9_columns(),
        *calls_v11_columns(),
        *calls_v13_columns(),
    )
    before = [full_call(), simple_call(7)]
    with engine.connect() as conn, conn.begin():
        rows = [call_to_row(c) for c in before]
        conn.execute(old.insert(), [{k: r[k] for k in old.c.keys()} for r in rows])
    assert not set(BILLED) & {c["name"] for c in inspect(engine).get_columns("calls")}
    assert migrate(engine) == [name for name, _ in MIGRATIONS if name >= "m0016"]
    assert set(BILLED) <= {c["name"] for c in inspect(engine).get_columns("calls")}
    ledger = Store(engine)
    try:
        assert ledger.count() == 2
        with engine.connect() as conn:
            stored = conn.execute(select(*(calls.c[name] for name in BILLED))).all()
        assert stored == [(None,) * 5] * 2  # recorded before: USD, nothing converted
        for call in before:
            back = ledger.get(call.id)
            assert back is not None
            assert dataclasses.replace(back, cost=None) == dataclasses.replace(call, cost=None)
            assert (back.cost and back.cost.total) == (call.cost and call.cost.total)
    finally:
        ledger.close()


def _cny_call(when: dt.datetime, **changes: Any) -> Call:
    price = Price(
        provider="testcny",
        model="cny-chat",
        effective=None,
        source="fixture",
        catalog_version="test",
        rates=Rates(input=Decimal("7.1726"), output=Decimal("14.3452")),
        currency="CNY",
    )
    usage = Usage(input_tokens=1000, output_tokens=500)
    return chat_call("testcny", "cny-chat", price, when, usage, latency_ms=10.0, **changes)


def test_a_usd_call_has_no_billed_columns_and_its_amounts_unchanged(home: Path) -> None:
    call = full_call()
    assert call.cost is not None and call.cost.price.currency == "USD"
    row = call_to_row(call)
    assert all(row[name] is None for name in BILLED)
    assert row["cost_total"] == call.cost.total  # not converted


def test_a_cny_row_goes_through_the_spool_and_an_older_line_still_reads(
    tmp_path: Path, home: Path
) -> None:
    row = call_to_row(_cny_call(MARCH))
    # 0.0143452 CNY / 7.1726 = 0.002 USD at CFETS 2025-02-25
    assert (row["cost_total"], row["fx_date"]) == (Decimal("0.002"), dt.date(2025, 2, 25))
    spool = Spool(tmp_path / "spool.jsonl")  # also the writer process's hand-over format
    spool.append([(row, None)])
    line = json.loads(spool.path.read_text())["call"]
    assert line["fx_date"] == "2025-02-25" and line["billed_total"] == "0.0143452000"
    [(_, (back, _))] = list(spool.read(spool.path))
    assert back == row
    for name in BILLED:  # as an llmtally from before m0016 wrote it
        del line[name]
    assert all(row_from_json(line)[name] is None for name in BILLED)


def test_a_forwarded_row_is_converted_with_the_gateways_rates_not_the_senders(
    home: Path,
) -> None:
    sent = row_to_json(call_to_row(_cny_call(MARCH)))
    sent |= {"cost_total": "99", "fx_rate": "1", "fx_source": "made up", "fx_date": "2025-03-09"}
    [call] = read_batch(
        json.dumps({"calls": [sent]}).encode(), "", open_catalog(), None, CallLimits()
    )
    row = call_to_row(call)
    assert (row["cost_total"], row["fx_rate"], row["fx_source"]) == (
        Decimal("0.002"),
        CFETS_RATE,
        CFETS,
    )
    sent["fx_date"] = "10 March"
    with pytest.raises(Refused, match="fx_date must be a day, YYYY-MM-DD"):
        read_batch(json.dumps({"calls": [sent]}).encode(), "", open_catalog(), None, CallLimits())


def test_an_unreadable_rates_file_leaves_the_call_unpriced_with_the_reason(home: Path) -> None:
    (home / "rates.yaml").write_text("rates:\n  - {date: 2025-03-01, base: CNY}\n")
    row = call_to_row(_cny_call(MARCH))
    assert row["cost_total"] is None and row["fx_rate"] is None
    assert row["billed_total"] == Decimal("0.0143452")
    assert row["cost_error"] == (
        "priced at 0.0143452 CNY (testcny/cny-chat@launch) but not converted to USD: "
        f"{home / 'rates.yaml'}:2: quote: missing"
    )
    # mended, it is read again (its time changed): 1 CNY = 0.15 USD from 2025-03-01;
    # 0.0143452 x 0.15 = 0.00215178
    (home / "rates.yaml").write_text(
        "rates:\n  - {date: 2025-03-01, base: CNY, quote: USD, rate: 0.15, source: mine}\n"
    )
    row = call_to_row(_cny_call(MARCH))
    assert (row["cost_total"], row["fx_rate"], row["fx_source"]) == (
        Decimal("0.00215178"),
        "0.15",
        "mine",
    )


# -- exports, `llmtally cost`, `llmtally calls` ------------------------------------------


def test_exports_keep_the_billed_amount_and_currency_beside_the_usd(
    tmp_path: Path, home: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    call = _cny_call(MARCH)
    with open_store(db) as store:
        store.insert_many([call])
    runner = CliRunner()
    text = runner.invoke(app, ["export", "--format", "csv", "--database", db])
    assert text.exit_code == 0, text.output
    [row] = list(csv.DictReader(io.StringIO(text.stdout)))
    assert (row["cost_total"], row["billed_total"], row["billed_currency"]) == (
        "0.002",
        "0.0143452",
        "CNY",
    )
    assert (row["fx_rate"], row["fx_date"], row["fx_source"]) == (CFETS_RATE, "2025-02-25", CFETS)
    lines = runner.invoke(app, ["export", "--format", "jsonl", "--database", db])
    data = json.loads(lines.stdout)
    assert (data["billed_total"], data["billed_currency"], data["fx_date"]) == (
        "0.0143452",
        "CNY",
        "2025-02-25",
    )
    import pyarrow.parquet as pq

    target = tmp_path / "calls.parquet"
    done = runner.invoke(
        app, ["export", "--format", "parquet", "--output", str(target), "--database", db]
    )
    assert done.exit_code == 0, done.output
    [back] = pq.read_table(target).to_pylist()
    assert (back["billed_total"], back["fx_date"]) == (Decimal("0.0143452"), dt.date(2025, 2, 25))
    billed = {
        "amount": "0.0143452",
        "currency": "CNY",
        "fx_rate": CFETS_RATE,
        "fx_date": "2025-02-25",
        "fx_source": CFETS,
    }
    shown = json.loads(runner.invoke(app, ["calls", "--json", "--database", db]).stdout)
    assert (shown[0]["cost_usd"], shown[0]["billed"]) == ("0.002", billed)
    one = runner.invoke(app, ["calls", "show", call.id[:20], "--json", "--database", db])
    assert json.loads(one.stdout)["billed"] == billed


def test_usd_amount_for_counting_a_cost_before_the_ledger_has_it(home: Path) -> None:
    # 0.0143452 = 0.002 x 7.1726, so x (1 / 7.1726 to 28 digits) it is 0.002 USD to
    # within the rate's last digit (unrounded: the ledger rounds when it stores)
    usd = usd_amount(Decimal("0.0143452"), "CNY", MARCH)
    assert usd is not None and usd.quantize(Decimal("1e-20")) == Decimal("0.002")
    assert usd_amount(Decimal("0.5"), "USD", MARCH) == Decimal("0.5")  # USD: as it is
    assert usd_amount(Decimal("1"), "CNY", dt.datetime(2014, 10, 23, 23, tzinfo=dt.UTC)) is None


def test_llmtally_cost_gives_the_billed_and_the_usd_amounts(home: Path) -> None:
    catalog, usage = open_catalog(), Usage(input_tokens=1000, output_tokens=500)
    at, early = MARCH, dt.datetime(2014, 1, 1, tzinfo=dt.UTC)
    out = cost_json(usage, cost(usage, catalog.price_at("testcny", "cny-chat", at)), at)
    # 0.0143452 CNY (as above) / 7.1726 = 0.002 USD; the breakdown stays in CNY
    assert (out["cost"], out["currency"], out["cost_usd"]) == ("0.0143452", "CNY", "0.002")
    assert out["breakdown"]["input"] == "0.0071726"
    assert out["fx"] == {"rate": CFETS_RATE, "date": "2025-02-25", "source": CFETS}
    none = cost_json(usage, cost(usage, catalog.price_at("testcny", "cny-chat", early)), early)
    assert none["cost_usd"] is None and none["fx"] is None
    assert "on or before 2014-01-01" in none["fx_error"]
    usd = cost_json(usage, cost(usage, catalog.price_at("openai", "gpt-4o-mini", at)), at)
    assert "currency" not in usd and usd["cost_usd"] == "0.00045"  # 0.00015 + 0.0003, as c5
