"""``GET /metrics``: a real gateway's calls, scraped and parsed as Prometheus does,
add up to the calls it recorded; counting never costs a call."""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
from collections import Counter
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway_support import ListRecorder, live_gateway
from llmtally.gateway.app import Gateway
from llmtally.gateway.metrics import GatewayMetrics
from llmtally.ledger import LedgerWriter, open_store
from llmtally.usage import Call, Usage
from replay_upstream import ReplayUpstream

HELLO = [{"role": "user", "content": "Say hello."}]
Labels = tuple[tuple[str, str], ...]
KINDS = {
    "input": "input_tokens",
    "cache_read": "cache_read_tokens",
    "cache_write": "cache_write_tokens",
    "output": "output_tokens",
    "reasoning": "reasoning_tokens",
}


def _config(upstream: str) -> dict[str, Any]:
    return {
        "upstreams": {
            "openai": {"kind": "openai", "base_url": upstream},
            "anthropic": {"kind": "anthropic", "base_url": upstream},
            "dead": {"kind": "openai", "base_url": "http://127.0.0.1:9"},
        },
        "routes": [
            {"match": "claude-*", "upstream": "anthropic"},
            {"match": "dead-*", "upstream": "dead"},
            {"match": "*", "upstream": "openai"},
        ],
    }


def parse(page: str) -> dict[str, dict[Labels, float]]:
    """Every sample on the page: {sample name: {sorted labels: value}}."""
    samples: dict[str, dict[Labels, float]] = {}
    for family in text_string_to_metric_families(page):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def scrape(url: str) -> dict[str, dict[Labels, float]]:
    response = httpx.get(f"{url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


def by_model(call: Call, **extra: str) -> Labels:
    return tuple(sorted({"provider": call.provider, "model": call.model, **extra}.items()))


def assert_same(got: dict[Labels, float], want: dict[Labels, float]) -> None:
    for key in got.keys() | want.keys():
        assert got.get(key, 0) == pytest.approx(want.get(key, 0), rel=1e-9), key


def _traffic(url: str) -> int:
    """Priced, cached, reasoning, streamed and failed calls; how many were made."""
    oa = openai.OpenAI(base_url=f"{url}/v1", api_key="sk-test", max_retries=0)
    an = anthropic.Anthropic(base_url=url, api_key="sk-ant-test", max_retries=0)
    try:
        oa.chat.completions.create(model="gpt-4o", messages=HELLO)
        list(oa.chat.completions.create(model="o4-mini", messages=HELLO, stream=True))
        list(oa.chat.completions.create(model="gpt-4o-mini", messages=HELLO, stream=True))
        oa.responses.create(model="gpt-4.1", input="Say hello.")
        oa.embeddings.create(model="text-embedding-3-small", input="hello", encoding_format="float")
        an.messages.create(model="claude-sonnet-4-20250514", max_tokens=256, messages=HELLO)
        with an.messages.stream(
            model="claude-opus-4-1-20250805",
            max_tokens=2048,
            messages=HELLO,
        ) as stream:
            stream.get_final_message()
        with pytest.raises(openai.RateLimitError):
            oa.chat.completions.create(model="gpt-4.1-mini", messages=HELLO)
        with pytest.raises(anthropic.APIStatusError):
            an.messages.create(model="claude-3-5-haiku-20241022", max_tokens=1024, messages=HELLO)
        with pytest.raises(openai.InternalServerError):  # the gateway's 502: unreachable
            oa.chat.completions.create(model="dead-1", messages=HELLO)
    finally:
        oa.close()
        an.close()
    return 10


def _all_recorded(recorder: ListRecorder, n: int) -> list[Call]:
    recorder.next_call(n - 1)
    assert len(recorder.calls) == n
    return list(recorder.calls)


def _sums(calls: Iterable[Call], value: Any, **labels: Any) -> dict[Labels, float]:
    out: dict[Labels, float] = {}
    for call in calls:
        extra = {name: pick(call) for name, pick in labels.items()}
        key = by_model(call, **extra)
        out[key] = out.get(key, 0) + float(value(call))
    return out


def test_counters_and_histograms_add_up_to_the_recorded_calls(
    replay_upstream: ReplayUpstream,
) -> None:
    with live_gateway(_config(replay_upstream.url)) as (url, recorder):
        calls = _all_recorded(recorder, _traffic(url))
        page = scrape(url)
    priced = [c for c in calls if c.cost is not None]
    assert_same(page["llmtally_cost_usd_total"], _sums(priced, lambda c: c.cost.total))
    assert sum(page["llmtally_cost_usd_total"].values()) == pytest.approx(
        float(sum((c.cost.total for c in priced), Decimal(0))), rel=1e-9
    )
    assert sum(page["llmtally_cost_usd_total"].values()) > 0
    unpriced = [c for c in calls if c.cost is None]
    assert_same(page["llmtally_unpriced_calls_total"], _sums(unpriced, lambda c: 1))
    for kind, field in KINDS.items():
        want = _sums(calls, lambda c, f=field: getattr(c.usage, f), kind=lambda c, k=kind: k)
        got = {k: v for k, v in page["llmtally_tokens_total"].items() if ("kind", kind) in k}
        assert_same(got, want)
        assert sum(want.values()) > 0, kind  # the traffic has every kind of token
    assert_same(page["llmtally_calls_total"], _sums(calls, lambda c: 1, status_class=_class))
    assert Counter(_class(c) for c in calls) == {"2xx": 7, "4xx": 1, "5xx": 2}
    assert_same(page["llmtally_latency_seconds_count"], _sums(calls, lambda c: 1))
    assert_same(page["llmtally_latency_seconds_sum"], _sums(calls, lambda c: c.latency_ms / 1000))
    streamed = [c for c in calls if c.ttft_ms is not None]
    assert len(streamed) == 3
    assert_same(page["llmtally_time_to_first_token_seconds_count"], _sums(streamed, lambda c: 1))
    # every call lands in the +Inf bucket; labels are provider and model only
    inf = {k: v for k, v in page["llmtally_latency_seconds_bucket"].items() if ("le", "+Inf") in k}
    assert sum(inf.values()) == len(calls)
    assert {name for key in page["llmtally_cost_usd_total"] for name, _ in key} == {
        "model",
        "provider",
    }


def _class(call: Call) -> str:
    return f"{call.status // 100}xx"


def test_a_cut_stream_counts_as_error(replay_upstream: ReplayUpstream) -> None:
    replay_upstream.cut_after = 3
    with live_gateway(_config(replay_upstream.url)) as (url, recorder):
        with httpx.Client() as http, pytest.raises(httpx.HTTPError):
            http.post(
                f"{url}/v1/chat/completions",
                json={"model": "gpt-4o-mini", "stream": True, "messages": HELLO},
            )
        call = recorder.next_call(0)
        page = scrape(url)
    assert call.status == 502 and call.error is not None  # the same error in the ledger
    assert page["llmtally_calls_total"] == {by_model(call, status_class="5xx"): 1.0}


def test_a_failure_to_count_never_loses_the_call(
    replay_upstream: ReplayUpstream,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(self: GatewayMetrics, call: Call) -> None:
        raise RuntimeError("counting broke")

    monkeypatch.setattr(GatewayMetrics, "observe", broken)
    with live_gateway(_config(replay_upstream.url)) as (url, recorder):
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="sk-test", max_retries=0)
        with caplog.at_level(logging.ERROR, logger="llmtally.gateway"):
            reply = client.chat.completions.create(model="gpt-4o", messages=HELLO)
            call = recorder.next_call(0)
        client.close()
        page = scrape(url)
    assert call.usage.input_tokens == reply.usage.prompt_tokens
    assert call.cost is not None
    assert page["llmtally_metrics_observe_failures_total"] == {(): 1.0}
    assert "llmtally_calls_total" not in page
    assert any("counting broke" in r.exc_text for r in caplog.records if r.exc_text)


def test_ledger_writer_health_follows_the_database(
    replay_upstream: ReplayUpstream, tmp_path: Path
) -> None:
    path = tmp_path / "ledger.sqlite3"
    with open_store(f"sqlite:///{path}") as store:
        # the first insert compiles the rollup statements: give it time on a busy machine
        writer = LedgerWriter(
            store, tmp_path / "spool.jsonl", db_timeout=2.0, retry_interval=0.1, flush_interval=0.02
        )
        holder = sqlite3.connect(path, isolation_level=None)
        try:
            with live_gateway(_config(replay_upstream.url), recorder=writer) as (url, _):
                _chat(url, 3)
                assert writer.flush(10)
                up = scrape(url)
                holder.execute("BEGIN EXCLUSIVE")  # the database stops taking writes
                _chat(url, 2)
                assert writer.flush(10)
                down, stats = scrape(url), writer.stats()
                holder.execute("COMMIT")
        finally:
            holder.close()
        assert writer.close(timeout=20)
    assert up["llmtally_ledger_written_calls_total"] == {(): 3.0}
    assert up["llmtally_ledger_database_up"] == {(): 1.0}
    assert up["llmtally_ledger_queued_calls"] == {(): 0.0}
    assert stats.spooled > 0 and not stats.database_up
    assert down["llmtally_ledger_database_up"] == {(): 0.0}
    assert down["llmtally_ledger_spooled_calls_total"] == {(): float(stats.spooled)}
    assert down["llmtally_ledger_lost_calls_total"] == {(): 0.0}
    assert down["llmtally_ledger_spool_pending"] == {(): 1.0}


def _chat(url: str, n: int) -> None:
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="sk-test", max_retries=0)
    for _ in range(n):
        client.chat.completions.create(model="gpt-4o", messages=HELLO)
    client.close()


def _call(model: str, status: int = 200) -> Call:
    return Call(
        id=model,
        started_at=dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
        provider="openai",
        model_requested=model,
        model_served=None,
        endpoint="/v1/chat/completions",
        status=status,
        latency_ms=250.0,
        usage=Usage(input_tokens=10, output_tokens=2),
        cost_error="no price in this test",
    )


def _parsed(metrics: GatewayMetrics) -> dict[str, dict[Labels, float]]:
    page, content_type = metrics.render()
    assert content_type.startswith("text/plain")
    return parse(page.decode())


def test_models_past_the_cap_count_as_other() -> None:
    metrics = GatewayMetrics(max_models=2)
    for model in ("m-1", "m-2", "m-3", "m-4", "m-1"):
        metrics.observe(_call(model))
    assert _parsed(metrics)["llmtally_unpriced_calls_total"] == {
        (("model", "m-1"), ("provider", "openai")): 2.0,
        (("model", "m-2"), ("provider", "openai")): 1.0,
        (("model", "_other"), ("provider", "openai")): 2.0,
    }


def test_a_recorder_whose_stats_fail_still_gets_a_page(caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        def stats(self) -> None:
            raise OSError("disk gone")

    metrics = GatewayMetrics(ledger=Broken())
    metrics.observe(_call("m-1", status=0))
    with caplog.at_level(logging.ERROR, logger="llmtally.gateway"):
        page = _parsed(metrics)
    assert "llmtally_ledger_database_up" not in page
    assert page["llmtally_calls_total"] == {
        (("model", "m-1"), ("provider", "openai"), ("status_class", "error")): 1.0
    }
    assert "disk gone" in caplog.text
    assert "llmtally_ledger_database_up" not in _parsed(GatewayMetrics(ledger=ListRecorder()))


def test_metrics_asks_for_the_admin_token_when_one_is_set() -> None:
    from browser_support import GATEWAY_CONFIG, fetch
    from llmtally.catalog import Catalog
    from llmtally.gateway.config import GatewayConfig

    config = GatewayConfig.model_validate(GATEWAY_CONFIG)
    token = "a-long-admin-token-0123"
    app = Gateway(config, ListRecorder(), Catalog.load(), metrics_token=token)
    assert fetch(app, "/metrics").status_code == 401
    wrong = fetch(app, "/metrics", headers={"authorization": "Bearer not-the-token-at-all"})
    assert wrong.status_code == 401 and "admin token" in wrong.text
    right = fetch(app, "/metrics", headers={"authorization": f"Bearer {token}"})
    assert right.status_code == 200 and "llmtally_calls_total" in right.text
    open_app = Gateway(config, ListRecorder(), Catalog.load())
    assert fetch(open_app, "/metrics").status_code == 200
