"""The cost a call's producer reported, kept beside llmtally's (``calls.source_cost``).

- The ledger: migration m0011 on a database left at m0010 keeps its rows and adds
  the column and its index (SQLite and PostgreSQL); the spool's JSON carries the
  amount exactly.
- OTel ingest: OpenLIT's ``gen_ai.usage.cost`` (a double, USD) and the open
  semantic-conventions proposal's ``gen_ai.usage.cost.amount`` / ``.currency``
  / ``.source`` (open-telemetry/semantic-conventions-genai pull request 443);
  another currency, a negative, NaN or absurd amount: not kept, flagged, the
  span still recorded.
- Imports: LiteLLM's spend per row stored beside llmtally's price; the report
  and the call page show the difference of LiteLLM's known cache-write double
  count (tests/fixtures/history/README.md, row ``msg_01B2``).

Prices (USD per 1M tokens, the catalog's): gpt-4o-mini $0.15 in / $0.60 out;
claude-haiku-4-5 $1 in / $5 out; claude-sonnet-4 $3 in / $3.75 cache write /
$15 out; text-embedding-3-small $0.02 in. Every figure is worked out by hand.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import MetaData, Table, inspect
from typer.testing import CliRunner

from browser_support import dashboard, fetch
from currency_support import use_rates
from gateway_support import live_gateway
from llmtally.analytics.source_costs import (
    SourceCostRow,
    source_cost_report,
    source_cost_total,
)
from llmtally.catalog import Catalog
from llmtally.cli import app
from llmtally.history import import_history
from llmtally.ledger import LedgerWriter, Store, open_store
from llmtally.ledger.migrations import MIGRATIONS, migrate
from llmtally.ledger.rows import call_to_row, row_to_call
from llmtally.ledger.schema import (
    calls_v1_columns,
    calls_v4_columns,
    calls_v7_columns,
    calls_v9_columns,
)
from llmtally.ledger.spool import Spool
from llmtally.ledger.store import _engine
from llmtally.otel.spans import call_from_span
from llmtally.usage import Call
from test_ledger_support import db_url, full_call, pg_base_url, simple_call, store  # noqa: F401

FIXTURES = Path(__file__).parent / "fixtures" / "history"
LITELLM_CSV = FIXTURES / "litellm_spend_logs.csv"
T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
T0_NS = int(T0.timestamp()) * 1_000_000_000
SECOND = 1_000_000_000
GATEWAY = {  # nothing is forwarded: the upstream is never asked
    "upstreams": {"openai": {"kind": "openai", "base_url": "http://127.0.0.1:9"}},
    "routes": [{"match": "*", "upstream": "openai"}],
}
# gpt-4o-mini, 1,000 in and 500 out: 1,000 x $0.15 + 500 x $0.60 per 1M
# = $0.00015 + $0.0003 = $0.00045
MINI_CHAT = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.usage.input_tokens": 1000,
    "gen_ai.usage.output_tokens": 500,
}


# -- the ledger ------------------------------------------------------------------


def test_m0011_on_a_ledger_left_at_m0010_keeps_its_rows_and_adds_the_column(
    db_url: str,  # noqa: F811
) -> None:
    engine = _engine(db_url)
    assert migrate(engine, [m for m in MIGRATIONS if m[0] < "m0011"])[-1] == "m0010_alerts"
    old = Table(
        "calls",
        MetaData(),
        *calls_v1_columns(),
        *calls_v4_columns(),
        *calls_v7_columns(),
        *calls_v9_columns(),
    )
    before = [full_call(flags=("client_disconnected",)), simple_call(7)]
    with engine.connect() as conn, conn.begin():
        rows = [call_to_row(c) for c in before]
        conn.execute(old.insert(), [{k: r[k] for k in old.c.keys()} for r in rows])
    found = inspect(engine)
    assert "source_cost" not in {c["name"] for c in found.get_columns("calls")}
    assert migrate(engine) == [name for name, _ in MIGRATIONS if name >= "m0011"]
    found = inspect(engine)
    assert "source_cost" in {c["name"] for c in found.get_columns("calls")}
    assert "ix_calls_source_cost" in {i["name"] for i in found.get_indexes("calls")}
    ledger = Store(engine)
    try:
        assert ledger.count() == 2
        for call in before:  # every field as it was, and no source cost
            back = ledger.get(call.id)
            assert back is not None and back.source_cost is None
            assert dataclasses.replace(back, cost=None) == dataclasses.replace(call, cost=None)
        reported = simple_call(9, source_cost=Decimal("0.0123"))
        ledger.insert_many([reported])
        back = ledger.get(reported.id)
        assert back is not None and back.source_cost == Decimal("0.0123")
    finally:
        ledger.close()


@pytest.mark.parametrize("amount", ["0.0123", "0.0000000001", "999999.9999999999", "0"])
def test_source_cost_round_trips_through_the_database_and_the_spool(
    store: Store,  # noqa: F811
    tmp_path: Path,
    amount: str,
) -> None:
    call = full_call(source_cost=Decimal(amount))
    spool = Spool(tmp_path / "spool.jsonl")
    spool.append([(call_to_row(call), None)])
    written = json.loads((tmp_path / "spool.jsonl").read_text())["call"]["source_cost"]
    assert isinstance(written, str) and Decimal(written) == Decimal(amount)  # never a float
    [(_, (row, bodies))] = list(spool.read(spool.path))
    assert row == call_to_row(call) and bodies is None
    assert row_to_call(row).source_cost == Decimal(amount)
    store.insert_rows([row], [])
    back = store.get(call.id)
    assert back is not None and back.source_cost == Decimal(amount)
    assert isinstance(back.source_cost, Decimal)


def test_a_spool_line_written_before_m0011_replays_with_no_source_cost(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.jsonl")
    spool.append([(call_to_row(simple_call()), None)])
    line = json.loads(spool.path.read_text())
    del line["call"]["source_cost"]  # as an older llmtally wrote it
    spool.path.write_text(json.dumps(line) + "\n")
    [(_, (row, _))] = list(spool.read(spool.path))
    assert row["source_cost"] is None and row_to_call(row).source_cost is None


def test_an_absurd_source_cost_is_refused_before_any_insert() -> None:
    with pytest.raises(ValueError, match="outside what the ledger stores"):
        call_to_row(simple_call(source_cost=Decimal("922337203.6854775808")))


# -- OTel ingest -------------------------------------------------------------------


def _span(index: int = 1) -> Span:
    return Span(
        trace_id=bytes.fromhex("5b8efff798038103d269b633813fc60c"),
        span_id=index.to_bytes(8, "big"),
        start_time_unix_nano=T0_NS,
        end_time_unix_nano=T0_NS + 2 * SECOND,
    )


def _from_span(**cost: Any) -> Call:
    attrs = {**MINI_CHAT, **{k.replace("__", "."): v for k, v in cost.items()}}
    return call_from_span(_span(), attrs, Catalog.load())


def test_openlit_cost_is_kept_beside_llmtallys_price() -> None:
    call = _from_span(gen_ai__usage__cost=0.0123)
    assert call.source_cost == Decimal("0.0123")  # the digits the double prints
    assert call.cost is not None and call.cost.total == Decimal("0.00045")  # see MINI_CHAT
    assert call.flags == ()


@pytest.mark.parametrize(
    ("attrs", "kept", "flag"),
    [
        # the proposal: amount, currency, source (provider | local)
        (
            {
                "gen_ai__usage__cost__amount": 0.002,
                "gen_ai__usage__cost__currency": "USD",
                "gen_ai__usage__cost__source": "provider",
            },
            Decimal("0.002"),
            None,
        ),
        ({"gen_ai__usage__cost__amount": 2, "gen_ai__usage__cost__currency": "usd"}, 2, None),
        (  # not a currency code: nothing to convert it with
            {"gen_ai__usage__cost__amount": 0.002, "gen_ai__usage__cost__currency": "XYZ"},
            None,
            "otel_cost_not_usd",
        ),
        ({"gen_ai__usage__cost__amount": 0.002}, None, "otel_cost_no_currency"),
        # the proposal's figure wins over OpenLIT's when both are there
        (
            {
                "gen_ai__usage__cost": 0.5,
                "gen_ai__usage__cost__amount": 0.002,
                "gen_ai__usage__cost__currency": "USD",
            },
            Decimal("0.002"),
            None,
        ),
        ({"gen_ai__usage__cost": "0.0123"}, Decimal("0.0123"), None),  # a number as text
        ({"gen_ai__usage__cost": -0.01}, None, "otel_cost_ignored"),
        ({"gen_ai__usage__cost": float("nan")}, None, "otel_cost_ignored"),
        ({"gen_ai__usage__cost": float("inf")}, None, "otel_cost_ignored"),
        ({"gen_ai__usage__cost": 1e12}, None, "otel_cost_ignored"),  # above $1,000,000
        ({"gen_ai__usage__cost": "cheap"}, None, "otel_cost_ignored"),
        ({"gen_ai__usage__cost": True}, None, "otel_cost_ignored"),
        ({}, None, None),
    ],
)
def test_span_cost_shapes(attrs: dict[str, Any], kept: Decimal | None, flag: str | None) -> None:
    call = _from_span(**attrs)  # never rejected: the row is recorded whatever the cost
    assert call.source_cost == kept
    assert call.flags == ((flag,) if flag else ())
    assert call.cost is not None and call.cost.total == Decimal("0.00045")


def test_a_cny_span_cost_is_converted_at_the_span_day_rate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A span priced in CNY by another llmtally (its export's gen_ai.usage.cost.*):
    kept in USD at the span's UTC day's rate, flagged as converted. The test's
    rate for the span's day, 1 CNY = 0.14 USD, replaces the shipped one."""
    day = dt.datetime.fromtimestamp(T0_NS / 1e9, dt.UTC).date()
    rates = f"rates:\n  - {{date: {day}, base: CNY, quote: USD, rate: '0.14', source: t}}\n"
    use_rates(tmp_path, rates, monkeypatch)
    cny = {"gen_ai__usage__cost__currency": "cny", "gen_ai__usage__cost__amount": 3.25}
    call = _from_span(**cny)
    assert call.source_cost == Decimal("0.455")  # 3.25 x 0.14
    assert call.flags == ("otel_cost_converted",)
    assert call.cost is not None and call.cost.total == Decimal("0.00045")  # llmtally's own


def _json_span(span_id: str, **attrs: Any) -> dict[str, Any]:
    def value(v: Any) -> dict[str, Any]:
        if isinstance(v, str):
            return {"stringValue": v}
        if isinstance(v, float):
            return {"doubleValue": v}
        return {"intValue": str(v)}

    return {
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": span_id,
        "name": "chat",
        "kind": 3,
        "startTimeUnixNano": str(T0_NS + 3 * SECOND),
        "endTimeUnixNano": str(T0_NS + 4 * SECOND),
        "attributes": [{"key": k, "value": value(v)} for k, v in attrs.items()],
    }


def test_spans_with_a_cost_sent_to_the_gateway_record_both_costs(tmp_path: Path) -> None:
    # OpenLIT's shape from the real SDK (protobuf), the proposal's in OTLP JSON
    provider = TracerProvider()
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    span = provider.get_tracer("openlit-like").start_span(
        "chat gpt-4o-mini", start_time=T0_NS, attributes={**MINI_CHAT, "gen_ai.usage.cost": 0.0123}
    )
    span.end(end_time=T0_NS + SECOND)
    # claude-haiku-4-5, 2,000 in and 100 out: 2,000 x $1 + 100 x $5 per 1M = $0.0025
    proposal = _json_span(
        "eee19b7ec3c1b175",
        **{
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": "claude-haiku-4-5",
            "gen_ai.usage.input_tokens": 2000,
            "gen_ai.usage.output_tokens": 100,
            "gen_ai.usage.cost.amount": 0.0031,
            "gen_ai.usage.cost.currency": "USD",
            "gen_ai.usage.cost.source": "local",
        },
    )
    body = {"resourceSpans": [{"resource": {}, "scopeSpans": [{"spans": [proposal]}]}]}
    with open_store(f"sqlite:///{tmp_path / 'ledger.sqlite3'}") as ledger:
        writer = LedgerWriter(ledger, tmp_path / "spool.jsonl", flush_interval=0.01)
        try:
            with live_gateway(GATEWAY, None, writer) as (url, _):
                exporter = OTLPSpanExporter(endpoint=f"{url}/v1/traces")
                assert exporter.export(memory.get_finished_spans()) == SpanExportResult.SUCCESS
                answer = httpx.post(f"{url}/v1/traces", json=body)
                assert (answer.status_code, answer.json()) == (200, {})
                assert writer.flush(10)
            rows = {c.model_requested: c for c in ledger.list(limit=10)}
        finally:
            writer.close()
    provider.shutdown()
    mini, haiku = rows["gpt-4o-mini"], rows["claude-haiku-4-5"]
    assert mini.source_cost == Decimal("0.0123")
    assert mini.cost is not None and mini.cost.total == Decimal("0.00045")
    assert haiku.source_cost == Decimal("0.0031")
    assert haiku.cost is not None and haiku.cost.total == Decimal("0.0025")


# -- imports, the report and the call page -----------------------------------------

# LiteLLM's spend and llmtally's price per row of litellm_spend_logs.csv (imported:
# A1, B2, D4, F6; C3, E5 and the row without an id are skipped):
# - chatcmpl-A1 gpt-4o-mini: 6,000 uncached x $0.15 + 4,000 cached x $0.075 + 2,000 out
#   x $0.60 = 0.0009 + 0.0003 + 0.0012 = 0.0024; LiteLLM 0.0024: difference 0
# - msg_01B2 claude-sonnet-4: 2,000 x $3 + 10,000 cache writes x $3.75 + 500 x $15
#   = 0.006 + 0.0375 + 0.0075 = 0.051; LiteLLM 0.081 (the writes also counted as
#   input: + 10,000 x $3 = 0.03): difference 0.051 - 0.081 = -0.03
# - gem-D4 gemini-2.0-flash: failed, no tokens: 0; LiteLLM 0: difference 0
# - emb-F6 text-embedding-3-small: 5,000 x $0.02 = 0.0001; LiteLLM 0.0001: difference 0
# total: llmtally 0.0535, LiteLLM 0.0835, difference -0.03
SINCE = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
UNTIL = dt.datetime(2025, 6, 3, tzinfo=dt.UTC)


def test_imported_rows_carry_the_tools_cost_and_the_report_shows_the_mistake(
    store: Store,  # noqa: F811
) -> None:
    import_history("litellm", LITELLM_CSV, store, Catalog.load())
    by_model = {c.model: c for c in store.list(limit=None)}
    claude = by_model["claude-sonnet-4-20250514"]
    assert claude.source_cost == Decimal("0.081")
    assert claude.cost is not None and claude.cost.total == Decimal("0.051")
    assert by_model["gpt-4o-mini"].source_cost == Decimal("0.0024")
    assert by_model["gemini-2.0-flash"].source_cost == Decimal(0)
    rows = source_cost_report(store, SINCE, "model", UNTIL)
    zero = Decimal(0)
    assert rows == [  # the largest difference first, then by name
        SourceCostRow("claude-sonnet-4-20250514", 1, Decimal("0.051"), Decimal("0.081")),
        SourceCostRow("gemini-2.0-flash", 1, zero, zero),
        SourceCostRow("gpt-4o-mini", 1, Decimal("0.0024"), Decimal("0.0024")),
        SourceCostRow("text-embedding-3-small", 1, Decimal("0.0001"), Decimal("0.0001")),
    ]
    total = source_cost_total(store, SINCE, UNTIL)
    assert total == SourceCostRow("total", 4, Decimal("0.0535"), Decimal("0.0835"))
    assert total.difference == Decimal("-0.03")
    # by day: 2025-03-01 holds A1 alone, 2025-06-02 the other three
    days = {r.key: r.difference for r in source_cost_report(store, SINCE, "day", UNTIL)}
    assert days == {"2025-06-02": Decimal("-0.03"), "2025-03-01": zero}
    weeks = source_cost_report(store, SINCE, "week", UNTIL)  # Mondays 2025-02-24, 2025-06-02
    assert [(r.key, r.calls) for r in weeks] == [("2025-06-02", 3), ("2025-02-24", 1)]


def test_no_source_cost_no_comparison(store: Store) -> None:  # noqa: F811
    store.insert_many([simple_call()])
    since = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
    assert source_cost_report(store, since, "model") == []
    assert source_cost_total(store, since) is None


def test_a_call_with_a_source_cost_but_no_price_is_counted_apart(store: Store) -> None:  # noqa: F811
    store.insert_many(
        [
            simple_call(0, source_cost=Decimal("0.5")),  # simple_call is unpriced
            full_call(source_cost=Decimal("0.25")),
        ]
    )
    since = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
    total = source_cost_total(store, since)
    priced = full_call().cost
    assert total is not None and priced is not None
    assert (total.calls, total.source_cost, total.cost_total) == (1, Decimal("0.25"), priced.total)
    assert (total.unpriced, total.unpriced_source_cost) == (1, Decimal("0.5"))


@pytest.fixture
def imported(store: Store, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Store:  # noqa: F811
    import_history("litellm", LITELLM_CSV, store, Catalog.load())
    monkeypatch.setenv("LLMTALLY_DATABASE_URL", db_url)
    monkeypatch.setenv("COLUMNS", "80")
    return store


def _report(*args: str) -> Any:
    result = CliRunner().invoke(
        app, ["report", "--since", "2025-03-01", "--until", "2025-06-03", *args]
    )
    assert result.exit_code == 0, result.output
    return result


def test_report_shows_the_sources_cost_beside_llmtallys_in_80_columns(imported: Store) -> None:
    out = _report("--by", "model").stdout
    assert all(len(line) <= 80 for line in out.splitlines()), out
    part = out[out.index("cost reported by the source, by model") :]
    lines = {line.split()[0]: line.split() for line in part.splitlines() if line.strip()}
    assert lines["claude-sonnet-4-20250514"] == [
        "claude-sonnet-4-20250514",
        "1",
        "$0.05",  # 0.051 to the cent
        "$0.08",  # 0.081 to the cent
        "-$0.03",
    ]
    assert lines["gpt-4o-mini"] == ["gpt-4o-mini", "1", "$0.0024", "$0.0024", "$0"]
    assert lines["total"] == ["total", "4", "$0.05", "$0.08", "-$0.03"]  # 0.0535, 0.0835
    assert "llmtally's cost minus the cost the source reported" in " ".join(part.split())


def test_report_json_carries_the_exact_comparison(imported: Store) -> None:
    out = json.loads(_report("--by", "provider", "--format", "json").stdout)
    compared = out["source_costs"]
    assert compared["total"] == {
        "key": "total",
        "calls": 4,
        "cost_total": "0.0535",
        "source_cost": "0.0835",
        "difference": "-0.03",
        "unpriced": 0,
        "unpriced_source_cost": "0",
    }
    anthropic = compared["rows"][0]
    assert (anthropic["key"], anthropic["difference"]) == ("anthropic", "-0.03")
    # openai: A1 and F6, 0.0024 + 0.0001 = 0.0025 by both
    openai = next(r for r in compared["rows"] if r["key"] == "openai")
    assert (openai["cost_total"], openai["source_cost"], openai["difference"]) == (
        "0.0025",
        "0.0025",
        "0",
    )
    empty = CliRunner().invoke(app, ["report", "--since", "2026-01-01", "--format", "json"])
    assert json.loads(empty.stdout)["source_costs"] is None


def test_the_call_page_shows_the_sources_cost_and_the_difference(imported: Store) -> None:
    by_model = {c.model: c for c in imported.list(limit=None)}
    claude, plain = by_model["claude-sonnet-4-20250514"], simple_call()
    imported.insert_many([plain])
    web = dashboard(imported)
    try:
        page = fetch(web, f"/calls/{claude.id}").text
        quiet = fetch(web, f"/calls/{plain.id}").text
    finally:
        web.close()
    shown = " ".join(page[page.index('<p id="source-cost">') :].split("</p>")[0].split())
    assert shown == (
        '<p id="source-cost">cost reported with the call (by the tool that sent it): '
        '<span class="money" title="$0.081">$0.08</span> '
        '(llmtally: <span class="money" title="$0.051">$0.05</span>, '
        "<span title=\"llmtally's cost minus the source's\">difference</span> "
        '<span class="money" title="-$0.03">-$0.03</span>)'
    )
    assert 'id="source-cost"' not in quiet  # no source cost: nothing said


def test_an_absurd_imported_cost_is_not_kept_and_the_row_is(
    store: Store,  # noqa: F811
    tmp_path: Path,
) -> None:
    source = tmp_path / "history.jsonl"
    row = {
        "id": "x1",
        "provider": "openai",
        "model": "gpt-4o-mini",
        "started_at": "2025-03-01T09:00:00Z",
        "tokens": {"input": 1000, "output": 500},
        "cost_usd": "5000000",  # five million dollars for one call: a unit mix-up
    }
    source.write_text(json.dumps(row) + "\n")
    summary = import_history("jsonl", source, store, Catalog.load())
    [call] = store.list(limit=None)
    assert (call.source_cost, call.flags) == (None, ("source_cost_ignored",))
    assert call.cost is not None and call.cost.total == Decimal("0.00045")  # as MINI_CHAT
    assert (summary.imported, summary.source_cost, summary.source_cost_rows) == (1, 0, 0)
