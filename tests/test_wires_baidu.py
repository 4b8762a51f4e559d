"""Baidu ERNIE on Qianfan's OpenAI-compatible v2 API through the gateway (issue 17):
the ``qianfan`` preset, the official ``openai`` SDK as the client, a replayed
upstream, a real SQLite ledger, and the call priced from baidu.yaml in CNY: the row's
``billed_currency``/``billed_total``/``fx_rate`` and its USD ``cost_total`` at a pinned
rate (1 CNY = 0.14 USD, the user's rates override file, as tests/test_wires_costs.py does).

The transcripts are composed in the shape Baidu's own pages describe, not copied
from them: the v2 endpoint ``POST https://qianfan.baidubce.com/v2/chat/completions``
with a bearer API key, OpenAI's chat.completion body, and prompt-cache hits reported
as ``usage.cached_tokens`` ("API返回的usage字段中的cached_tokens字段 ... 代表命中缓存的
token数量": https://cloud.baidu.com/doc/qianfan-docs/s/7m8r1wke3, 更新时间 2025-04-11,
and the announcement https://ai.baidu.com/ai-doc/WENXINWORKSHOP/Rm6uq7jy9, both read
2026-12-07). No page read shows a streamed usage chunk; the stream case is OpenAI's
``include_usage`` chunk, which the gateway asks every OpenAI-kind upstream for.

Every token count is read off the transcript by hand, and every cost worked out by
hand from baidu.yaml's ERNIE-4.0-Turbo-8K rates (0.003 / 0.0012 / 0.009 元/千tokens
= input ¥3, cache hit ¥1.2, output ¥9 per 1M tokens).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import openai
import pytest
from sqlalchemy import select

from gateway_support import live_gateway
from llmtally.catalog import Catalog
from llmtally.gateway.config import Upstream
from llmtally.ledger import LedgerWriter, open_store
from llmtally.ledger.schema import calls
from llmtally.providers import parse_usage
from replay_upstream import ReplayUpstream

QIANFAN = "https://cloud.baidu.com/doc/qianfan-docs/s/7m8r1wke3"
MODEL = "ernie-4.0-turbo-8k"
PATH = "/v2/chat/completions"
HELLO: Any = [{"role": "user", "content": "你好"}]

# prompt 1,520 (1,024 of them cache hits), completion 210
ANSWER_USAGE = {
    "prompt_tokens": 1520,
    "completion_tokens": 210,
    "total_tokens": 1730,
    "cached_tokens": 1024,
}
ANSWER: dict[str, Any] = {
    "source": QIANFAN,
    "request": {"method": "POST", "path": PATH, "json": {"model": MODEL, "stream": False}},
    "response": {
        "status": 200,
        "headers": {"content-type": "application/json"},
        "body": {
            "id": "as-replay0001",
            "object": "chat.completion",
            "created": 1765000000,
            "model": MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "你好！有什么可以帮你？"},
                    "finish_reason": "stop",
                }
            ],
            "usage": ANSWER_USAGE,
        },
    },
}


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return {"data": {"id": "as-replay0002", "object": "chat.completion.chunk",
                     "created": 1765000000, "model": MODEL, "choices": [choice]}}  # fmt: skip


# prompt 64 (no cache hit), completion 12, in the include_usage chunk
STREAM: dict[str, Any] = {
    "source": QIANFAN,
    "request": {"method": "POST", "path": PATH, "json": {"model": MODEL, "stream": True}},
    "response": {"status": 200, "headers": {"content-type": "text/event-stream"}},
    "events": [
        _chunk({"role": "assistant", "content": "你好"}),
        _chunk({"content": "！"}, "stop"),
        {"data": {"id": "as-replay0002", "object": "chat.completion.chunk",
                  "created": 1765000000, "model": MODEL, "choices": [],
                  "usage": {"prompt_tokens": 64, "completion_tokens": 12,
                            "total_tokens": 76}}},
        "data: [DONE]",
    ],
}  # fmt: skip


RATE = "0.14"  # 1 CNY in USD, the rates override file's figure for today
RATE_SOURCE = "test: a round rate"
BILLED = ("billed_currency", "billed_total", "fx_rate", "fx_date", "fx_source")


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


@pytest.fixture
def today(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dt.date:
    """A data folder whose rates override file says 1 CNY = 0.14 USD today (the ledger
    keeps USD: cost_total = the CNY billed total x 0.14)."""
    day = dt.datetime.now(dt.UTC).date()
    home = tmp_path / "home"
    home.mkdir()
    (home / "rates.yaml").write_text(
        f"rates:\n  - {{date: {day.isoformat()}, base: CNY, quote: USD, rate: '{RATE}', "
        f"source: '{RATE_SOURCE}'}}\n"
    )
    monkeypatch.setenv("LLMTALLY_HOME", str(home))
    monkeypatch.delenv("LLMTALLY_RATES", raising=False)
    return day


def _through_gateway(
    transcript: dict[str, Any], stream: bool, tmp: Path, catalog: Catalog, model: str = MODEL
) -> tuple[dict[str, Any], ReplayUpstream]:
    """One call with the openai SDK through a live gateway; the ledger row it made."""
    database = f"sqlite:///{tmp / 'ledger.sqlite3'}"
    with ReplayUpstream({"qianfan": transcript}) as replay, open_store(database) as store:
        config = {
            "upstreams": {"ernie": {"preset": "qianfan", "base_url": replay.url + "/v2"}},
            "routes": [{"match": "ernie-*", "upstream": "ernie"}],
        }
        writer = LedgerWriter(store, tmp / "spool.jsonl", flush_interval=0.02)
        with live_gateway(config, catalog, recorder=writer) as (url, _):
            sdk = openai.OpenAI(base_url=f"{url}/v1", api_key="bce-v3/ALTAK-test", max_retries=0)
            if stream:
                chunks = list(sdk.chat.completions.create(model=model, messages=HELLO, stream=True))
                assert chunks, "the stream reached the client"
            else:
                answer = sdk.chat.completions.create(model=model, messages=HELLO)
                assert answer.choices[0].message.content
            sdk.close()
        assert writer.close(timeout=20)
        with store.engine.connect() as conn:
            rows = conn.execute(select(calls)).mappings().all()
    assert len(rows) == 1, rows
    return dict(rows[0]), replay


def _tokens(row: dict[str, Any]) -> tuple[int, int, int]:
    return (row["input_tokens"], row["cache_read_tokens"], row["output_tokens"])


def test_an_answer_is_recorded_with_its_cache_hits_and_priced_in_cny(
    tmp_path: Path, catalog: Catalog, today: dt.date
) -> None:
    row, replay = _through_gateway(ANSWER, False, tmp_path, catalog)
    assert [(s.path, s.json["model"]) for s in replay.served] == [(PATH, MODEL)]
    assert (row["status"], row["cost_error"]) == (200, None), row["cost_error"]
    assert (row["provider"], row["price_id"]) == ("baidu", f"baidu/{MODEL}@launch")
    assert _tokens(row) == (1520, 1024, 210)
    # misses (1,520 - 1,024) x 3 = 1,488; hits 1,024 x 1.2 = 1,228.8; output 210 x 9 = 1,890;
    # sum 4,606.8 per 1M = ¥0.0046068; x 0.14 = $0.000644952
    assert [row[name] for name in BILLED] == [
        "CNY", Decimal("0.0046068"), RATE, today, RATE_SOURCE,
    ]  # fmt: skip
    assert row["cost_total"] == Decimal("0.000644952")


def test_a_stream_is_recorded_from_its_usage_chunk_and_priced_in_cny(
    tmp_path: Path, catalog: Catalog, today: dt.date
) -> None:
    row, replay = _through_gateway(STREAM, True, tmp_path, catalog)
    assert replay.served[0].json["stream_options"] == {"include_usage": True}
    assert (row["status"], row["cost_error"]) == (200, None), row["cost_error"]
    assert (row["provider"], row["price_id"]) == ("baidu", f"baidu/{MODEL}@launch")
    assert _tokens(row) == (64, 0, 12)
    # 64 x 3 = 192; 12 x 9 = 108; sum 300 per 1M = ¥0.0003; x 0.14 = $0.000042
    assert [row[name] for name in BILLED] == ["CNY", Decimal("0.0003"), RATE, today, RATE_SOURCE]
    assert row["cost_total"] == Decimal("0.000042")


def test_an_ernie_model_baidu_yaml_does_not_price_is_kept_unpriced_with_the_reason(
    tmp_path: Path, catalog: Catalog, today: dt.date
) -> None:
    other = "ernie-4.5-turbo-128k"
    body = {**ANSWER["response"]["body"], "model": other}
    transcript = {
        **ANSWER,
        "request": {"method": "POST", "path": PATH, "json": {"model": other, "stream": False}},
        "response": {**ANSWER["response"], "body": body},
    }
    row, _ = _through_gateway(transcript, False, tmp_path, catalog, model=other)
    assert (row["status"], row["provider"], _tokens(row)) == (200, "baidu", (1520, 1024, 210))
    assert (row["cost_total"], row["price_id"]) == (None, None)
    assert [row[name] for name in BILLED] == [None] * len(BILLED)
    unknown = f"unknown model '{other}' for provider 'baidu'"
    assert row["cost_error"].startswith(unknown), row["cost_error"]


@pytest.mark.parametrize(
    "usage",
    [
        # the field Baidu's page names: usage.cached_tokens
        {"prompt_tokens": 900, "completion_tokens": 30, "total_tokens": 930, "cached_tokens": 512},
        # OpenAI's place for it, should Qianfan's v2 answer in OpenAI's shape
        {"prompt_tokens": 900, "completion_tokens": 30, "total_tokens": 930,
         "prompt_tokens_details": {"cached_tokens": 512}},
    ],
    ids=["usage.cached_tokens", "prompt_tokens_details.cached_tokens"],
)  # fmt: skip
def test_both_places_for_the_cache_hits_are_read(usage: dict[str, Any]) -> None:
    for provider in ("baidu", "qianfan"):
        parsed = parse_usage(provider, usage)
        assert (parsed.input_tokens, parsed.cache_read_tokens, parsed.output_tokens) == (
            900,
            512,
            30,
        )


def test_the_preset_names_the_v2_base_url_and_the_baidu_prices() -> None:
    base = "https://qianfan.baidubce.com/v2"
    upstream = Upstream.model_validate({"preset": "qianfan"})
    assert (upstream.kind, upstream.base_url, upstream.price_provider) == ("openai", base, "baidu")
    # spelled out instead of named, the host alone picks the same provider
    spelled = Upstream.model_validate({"kind": "openai", "base_url": base})
    assert spelled.price_provider == "baidu"
    # a versioned base URL is the API's root, as in the OpenAI SDK
    assert upstream.url("/v1/chat/completions") == f"{base}/chat/completions"
