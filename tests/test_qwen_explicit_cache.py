"""Qwen's explicit context cache on DashScope / Model Studio (issue 17): the usage
fields, the prices and the gateway, with every expected amount worked by hand.

Sources (read 2026-12-07, through stored copies of the pages):
- "上下文缓存 (Context Cache)", https://help.aliyun.com/zh/model-studio/context-cache, and
  "Context cache", https://www.alibabacloud.com/help/en/model-studio/context-cache
  ("Last Updated" Mar 31, 2026 and Oct 11, 2026): explicit cache ("cache_control":
  {"type": "ephemeral"} in messages) creation at 125% of the input price, hits at 10%,
  valid 5 minutes (reset on a hit); implicit-cache hits at 20%; the two modes are
  mutually exclusive per request; the creation count is
  ``usage.prompt_tokens_details.cache_creation_input_tokens`` and the hits
  ``usage.prompt_tokens_details.cached_tokens``, both part of ``prompt_tokens`` (the
  page's example prints "First request cache creation tokens: 1605 ... tokens not hit
  and not cached: 13"; "Second request ... cached hit tokens: 1605 ... not hit and not
  cached: 15"); the Responses API (session cache, billed as explicit) reports writes in
  ``usage.x_details[].prompt_tokens_details`` beside ``cache_type: "ephemeral"``.
- Prices: alibaba_cn.yaml (https://help.aliyun.com/zh/model-studio/model-pricing, CNY
  per 1M, K = 1,024) and alibaba.yaml (USD per 1M, qwen-plus $0.4 in / $0.16 cached /
  $1.2 out); cache_write = 1.25 x the tier's input.

Explicit hits come back in ``cached_tokens`` like implicit ones and are billed at the
model's one ``cache_read`` rate, the implicit 20% (docs/decisions.md): over-charged by
10% of the input price per hit token; the cases below say by how much.

Exactness: no page states a per-call rounding, so a charge is its exact amount
(tokens x price / 1M), asserted to the last digit.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import openai
import pytest
from sqlalchemy import select

import test_wires_china as china_wire
from catalog_cases import NOW, distinct_cases, each_case, priced
from gateway_support import live_gateway
from llmtally.catalog import Catalog
from llmtally.ledger import LedgerWriter, open_store
from llmtally.ledger.schema import calls
from llmtally.meter import cost, savings
from llmtally.providers import InconsistentUsageError, ProviderUsageError, parse_usage
from llmtally.usage import Usage
from replay_upstream import ReplayUpstream

# The page's explicit-cache example: 1,605 tokens cached, 13 (then 15) neither hit nor cached.
CREATED = {
    "prompt_tokens": 1618,
    "completion_tokens": 104,
    "total_tokens": 1722,
    "prompt_tokens_details": {
        "cached_tokens": 0,
        "cache_creation_input_tokens": 1605,
        "cache_creation": {"ephemeral_5m_input_tokens": 1605},
        "cache_type": "ephemeral",
    },
}
HIT = {
    "prompt_tokens": 1620,
    "completion_tokens": 104,
    "total_tokens": 1724,
    "prompt_tokens_details": {
        "cached_tokens": 1605,
        "cache_creation_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 0},
        "cache_type": "ephemeral",
    },
}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


# --- the usage object -----------------------------------------------------------


def test_cache_creation_is_a_cache_write_inside_the_prompt() -> None:
    usage = parse_usage("alibaba-cn", CREATED)
    # read off CREATED: 1618 prompt, of which 1605 written, none read; 104 out
    assert (usage.input_tokens, usage.cache_write_tokens, usage.cache_read_tokens) == (
        1618,
        1605,
        0,
    )
    assert (usage.output_tokens, usage.uncached_input_tokens) == (104, 13)


def test_an_explicit_hit_is_a_cache_read() -> None:
    usage = parse_usage("dashscope", HIT)
    assert (usage.input_tokens, usage.cache_read_tokens, usage.cache_write_tokens) == (
        1620,
        1605,
        0,
    )


def test_an_implicit_hit_reads_as_before() -> None:
    # the page's implicit-cache example: 3019 prompt, 2048 cached, 104 out
    implicit = {
        "prompt_tokens": 3019,
        "completion_tokens": 104,
        "total_tokens": 3123,
        "prompt_tokens_details": {"cached_tokens": 2048},
    }
    assert parse_usage("alibaba", implicit) == Usage(
        input_tokens=3019, cache_read_tokens=2048, output_tokens=104
    )


def test_the_responses_api_writes_are_read_from_x_details() -> None:
    # the session-cache example's second turn: 1524 in (1305 hit), 1534 out (1187
    # reasoning); x_details[0] also wrote 213
    responses = {
        "input_tokens": 1524,
        "input_tokens_details": {"cached_tokens": 1305},
        "output_tokens": 1534,
        "output_tokens_details": {"reasoning_tokens": 1187},
        "total_tokens": 3058,
        "x_details": [
            {
                "input_tokens": 1524,
                "output_tokens": 1534,
                "prompt_tokens_details": {
                    "cache_creation": {"ephemeral_5m_input_tokens": 213},
                    "cache_creation_input_tokens": 213,
                    "cache_type": "ephemeral",
                    "cached_tokens": 1305,
                },
                "total_tokens": 3058,
                "x_billing_type": "response_api",
            }
        ],
    }
    usage = parse_usage("alibaba", responses)
    assert (usage.input_tokens, usage.cache_read_tokens, usage.cache_write_tokens) == (
        1524,
        1305,
        213,
    )
    assert (usage.output_tokens, usage.reasoning_tokens) == (1534, 1187)


def test_writes_and_reads_above_the_prompt_are_refused() -> None:
    # 60 read + 60 written = 120 > 100 prompt tokens
    usage = {
        "prompt_tokens": 100,
        "completion_tokens": 1,
        "prompt_tokens_details": {"cached_tokens": 60, "cache_creation_input_tokens": 60},
    }
    with pytest.raises(InconsistentUsageError, match="exceeds input_tokens = 100"):
        parse_usage("alibaba-cn", usage)


def test_a_bad_creation_count_names_its_field() -> None:
    usage = {
        "prompt_tokens": 100,
        "completion_tokens": 1,
        "prompt_tokens_details": {"cache_creation_input_tokens": "many"},
    }
    with pytest.raises(ProviderUsageError, match=r"prompt_tokens_details\.cache_creation_in"):
        parse_usage("alibaba-cn", usage)


# --- hand-computed costs ----------------------------------------------------------

# (id, provider, model, usage, total, parts, long_context_above)
Case = tuple[str, str, str, dict[str, Any], str, dict[str, str], int | None]

CASES: list[Case] = [
    # qwen3-max (CNY): 0<Token<=32K in 2.5 / hit 0.5 / write 3.125 / out 10;
    # 32K<Token<=128K 4 / 0.8 / 5 / 16; 128K<Token<=252K 7 / 1.4 / 8.75 / 28.
    # Exactly 32K = 32,768 prompt tokens, 30,000 written: (32768 - 30000) x 2.5 = 6920;
    # 30000 x 3.125 = 93750; 500 x 10 = 5000; 105670 per 1M = ¥0.10567
    (
        "qwen3-max-write-at-32k",
        "alibaba-cn",
        "qwen3-max",
        {"input_tokens": 32_768, "cache_write_tokens": 30_000, "output_tokens": 500},
        "0.10567",
        {"input": "0.00692", "cache_write": "0.09375", "output": "0.005"},
        None,
    ),
    # one token more, every token at 32K<Token<=128K: 2769 x 4 = 11076;
    # 30000 x 5 = 150000; 500 x 16 = 8000; 169076 per 1M = ¥0.169076
    (
        "qwen3-max-write-above-32k",
        "alibaba-cn",
        "qwen3-max",
        {"input_tokens": 32_769, "cache_write_tokens": 30_000, "output_tokens": 500},
        "0.169076",
        {"input": "0.011076", "cache_write": "0.15", "output": "0.008"},
        32_768,
    ),
    # above 128K = 131,072: 140,000 prompt, 100,000 written: 40000 x 7 = 280000;
    # 100000 x 8.75 = 875000; 1000 x 28 = 28000; 1183000 per 1M = ¥1.183
    (
        "qwen3-max-write-above-128k",
        "alibaba-cn",
        "qwen3-max",
        {"input_tokens": 140_000, "cache_write_tokens": 100_000, "output_tokens": 1_000},
        "1.183",
        {"input": "0.28", "cache_write": "0.875", "output": "0.028"},
        131_072,
    ),
    # an explicit hit of the same 30,000 tokens, billed at the implicit 0.5 (20%):
    # 2768 x 2.5 = 6920; 30000 x 0.5 = 15000; 5000; 26920 per 1M = ¥0.02692
    # (at the page's explicit 10%, 30000 x 0.25 = 7500: ¥0.01942, ¥0.0075 less)
    (
        "qwen3-max-explicit-hit",
        "alibaba-cn",
        "qwen3-max",
        {"input_tokens": 32_768, "cache_read_tokens": 30_000, "output_tokens": 500},
        "0.02692",
        {"input": "0.00692", "cache_read": "0.015", "output": "0.005"},
        None,
    ),
    # the page's billing example: cache A (1,200) hit and AB created (300 more), 10
    # internal tokens: 10 x 2.5 = 25; 1200 x 0.5 = 600; 300 x 3.125 = 937.5;
    # 100 x 10 = 1000; 2562.5 per 1M = ¥0.0025625
    (
        "qwen3-max-hit-and-write",
        "alibaba-cn",
        "qwen3-max",
        {
            "input_tokens": 1_510,
            "cache_read_tokens": 1_200,
            "cache_write_tokens": 300,
            "output_tokens": 100,
        },
        "0.0025625",
        {"input": "0.000025", "cache_read": "0.0006", "cache_write": "0.0009375"},
        None,
    ),
    # batch is never cached: a batch call's writes at the batch input 1.25:
    # 1000 x 1.25 + 1000 x 1.25 + 100 x 5 = 3000 per 1M = ¥0.003
    (
        "qwen3-max-batch-write-is-batch-input",
        "alibaba-cn",
        "qwen3-max",
        {
            "input_tokens": 2_000,
            "cache_write_tokens": 1_000,
            "output_tokens": 100,
            "service_tier": "batch",
        },
        "0.003",
        {"input": "0.00125", "cache_write": "0.00125", "output": "0.0005"},
        None,
    ),
    # qwen-flash: 0<Token<=128K in 0.15 / write 0.1875 / out 1.5; 128K<Token<=256K
    # 0.6 / 0.75 / 6. Exactly 131,072 prompt, 131,000 written: 72 x 0.15 = 10.8;
    # 131000 x 0.1875 = 24562.5; 1000 x 1.5 = 1500; 26073.3 per 1M = ¥0.0260733
    (
        "qwen-flash-write-at-128k",
        "alibaba-cn",
        "qwen-flash",
        {"input_tokens": 131_072, "cache_write_tokens": 131_000, "output_tokens": 1_000},
        "0.0260733",
        {"input": "0.0000108", "cache_write": "0.0245625", "output": "0.0015"},
        None,
    ),
    # one more: 73 x 0.6 = 43.8; 131000 x 0.75 = 98250; 1000 x 6 = 6000;
    # 104293.8 per 1M = ¥0.1042938
    (
        "qwen-flash-write-above-128k",
        "alibaba-cn",
        "qwen-flash",
        {"input_tokens": 131_073, "cache_write_tokens": 131_000, "output_tokens": 1_000},
        "0.1042938",
        {"input": "0.0000438", "cache_write": "0.09825", "output": "0.006"},
        131_072,
    ),
    # qwen3.5-plus: 128K<Token<=256K in 2 / write 2.5 / out 12; 256K<Token<=1M 4 / 5 / 24.
    # Exactly 256K = 262,144, 200,000 written: 62144 x 2 = 124288; 200000 x 2.5 = 500000;
    # 1000 x 12 = 12000; 636288 per 1M = ¥0.636288
    (
        "qwen3.5-plus-write-at-256k",
        "alibaba-cn",
        "qwen3.5-plus",
        {"input_tokens": 262_144, "cache_write_tokens": 200_000, "output_tokens": 1_000},
        "0.636288",
        {"input": "0.124288", "cache_write": "0.5", "output": "0.012"},
        131_072,
    ),
    # one more: 62145 x 4 = 248580; 200000 x 5 = 1000000; 1000 x 24 = 24000;
    # 1272580 per 1M = ¥1.27258
    (
        "qwen3.5-plus-write-above-256k",
        "alibaba-cn",
        "qwen3.5-plus",
        {"input_tokens": 262_145, "cache_write_tokens": 200_000, "output_tokens": 1_000},
        "1.27258",
        {"input": "0.24858", "cache_write": "1", "output": "0.024"},
        262_144,
    ),
    # qwen-plus (no cache_read: hits billed as input 0.8), in 0.8 / write 1 / out 2:
    # 2000 x 0.8 = 1600; 10000 x 1 = 10000; 500 x 2 = 1000; 12600 per 1M = ¥0.0126
    (
        "qwen-plus-write",
        "alibaba-cn",
        "qwen-plus",
        {"input_tokens": 12_000, "cache_write_tokens": 10_000, "output_tokens": 500},
        "0.0126",
        {"input": "0.0016", "cache_write": "0.01", "output": "0.001"},
        None,
    ),
    # its explicit hit at the input price: 2000 x 0.8 + 10000 x 0.8 + 1000 = 10600 per 1M
    # = ¥0.0106 (the page's 10%, 10000 x 0.08 = 800, would make it ¥0.0034)
    (
        "qwen-plus-explicit-hit-as-input",
        "alibaba-cn",
        "qwen-plus",
        {"input_tokens": 12_000, "cache_read_tokens": 10_000, "output_tokens": 500},
        "0.0106",
        {"input": "0.0016", "cache_read": "0.008", "output": "0.001"},
        None,
    ),
    # qwen3-vl-plus above 32K: in 1.5 / write 1.875 / out 15: 12769 x 1.5 = 19153.5;
    # 20000 x 1.875 = 37500; 100 x 15 = 1500; 58153.5 per 1M = ¥0.0581535
    (
        "qwen3-vl-plus-write-above-32k",
        "alibaba-cn",
        "qwen3-vl-plus",
        {"input_tokens": 32_769, "cache_write_tokens": 20_000, "output_tokens": 100},
        "0.0581535",
        {"input": "0.0191535", "cache_write": "0.0375", "output": "0.0015"},
        32_768,
    ),
    # qwen3.5-flash first tier, in 0.2 / write 0.25 / out 2: 904 x 0.2 = 180.8;
    # 4096 x 0.25 = 1024; 200 x 2 = 400; 1604.8 per 1M = ¥0.0016048
    (
        "qwen3.5-flash-write",
        "alibaba-cn",
        "qwen3.5-flash",
        {"input_tokens": 5_000, "cache_write_tokens": 4_096, "output_tokens": 200},
        "0.0016048",
        {"input": "0.0001808", "cache_write": "0.001024", "output": "0.0004"},
        None,
    ),
    # USD, international qwen-plus: in 0.4 / hit 0.16 / write 0.5 / out 1.2.
    # The page's first request: 13 x 0.4 = 5.2; 1605 x 0.5 = 802.5; 104 x 1.2 = 124.8;
    # 932.5 per 1M = $0.0009325
    (
        "intl-qwen-plus-write",
        "alibaba",
        "qwen-plus",
        {"input_tokens": 1_618, "cache_write_tokens": 1_605, "output_tokens": 104},
        "0.0009325",
        {"input": "0.0000052", "cache_write": "0.0008025", "output": "0.0001248"},
        None,
    ),
    # its second request, a hit at cache_read 0.16: 15 x 0.4 = 6; 1605 x 0.16 = 256.8;
    # 124.8; 387.6 per 1M = $0.0003876 (at 10%, 1605 x 0.04 = 64.2: $0.0001950)
    (
        "intl-qwen-plus-explicit-hit",
        "alibaba",
        "qwen-plus",
        {"input_tokens": 1_620, "cache_read_tokens": 1_605, "output_tokens": 104},
        "0.0003876",
        {"input": "0.000006", "cache_read": "0.0002568", "output": "0.0001248"},
        None,
    ),
]


@each_case(CASES)
def test_hand_computed_cost(catalog: Catalog, case: Case) -> None:
    _, provider, model, usage, total, parts, above = case
    got = priced(catalog, provider, model, usage, total, parts)
    assert got.long_context_above == above
    assert got.price.currency == ("USD" if provider == "alibaba" else "CNY")


def test_at_least_fifteen_distinct_cases() -> None:
    distinct_cases([case[0] for case in CASES], 15)


def test_a_cache_write_saves_a_negative_amount(catalog: Catalog) -> None:
    # qwen3-max-write-at-32k paid ¥0.10567; as plain input: 32768 x 2.5 + 5000 = 86920
    # per 1M = ¥0.08692; saved 0.08692 - 0.10567 = -0.01875 (30000 x 0.625 per 1M)
    price = catalog.price_at("alibaba-cn", "qwen3-max", NOW)
    usage = Usage(input_tokens=32_768, cache_write_tokens=30_000, output_tokens=500)
    assert savings(usage, price, cost(usage, price)).cache == Decimal("-0.01875")


# --- through the gateway, with the openai SDK ---------------------------------------

RATE = "0.14"  # 1 CNY in USD, the rates override file's rate for today
RATE_SOURCE = "test: a round rate"
DASHSCOPE_PATH = "/compatible-mode/v1/chat/completions"


@pytest.fixture
def today(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dt.date:
    """A data folder whose rates override file says 1 CNY = 0.14 USD today."""
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


@contextlib.contextmanager
def _ledger_gateway(config: dict[str, Any], tmp: Path, catalog: Catalog) -> Iterator[str]:
    with open_store(f"sqlite:///{tmp / 'ledger.sqlite3'}") as store:
        writer = LedgerWriter(store, tmp / "spool.jsonl", flush_interval=0.02)
        with live_gateway(config, catalog, recorder=writer) as (url, _):
            yield url
        assert writer.close(timeout=20)


def _row(tmp: Path) -> dict[str, Any]:
    with open_store(f"sqlite:///{tmp / 'ledger.sqlite3'}") as store, store.engine.connect() as c:
        rows = c.execute(select(calls)).mappings().all()
    assert len(rows) == 1, rows
    return dict(rows[0])


def _send(preset: str, transcript: dict[str, Any], stream: bool, tmp: Path, cat: Catalog) -> None:
    """One chat call with the openai SDK through a gateway to a replayed DashScope."""
    with ReplayUpstream({"qwen": transcript}) as replay:
        upstream = {"preset": preset, "base_url": replay.url + "/compatible-mode/v1"}
        config = {"upstreams": {"qwen": upstream}, "routes": [{"match": "*", "upstream": "qwen"}]}
        with _ledger_gateway(config, tmp, cat) as url:
            sdk = openai.OpenAI(base_url=f"{url}/v1", api_key="sk-qwen-test-0000", max_retries=0)
            model = transcript["request"]["json"]["model"]
            if stream:
                assert list(sdk.chat.completions.create(model=model, messages=HELLO, stream=True))
            else:
                assert sdk.chat.completions.create(model=model, messages=HELLO).choices
            sdk.close()
    assert [served.path for served in replay.served] == [DASHSCOPE_PATH]


# An explicit-cache request: the system text carries the cache_control marker.
HELLO: Any = [
    {
        "role": "system",
        "content": [{"type": "text", "text": "<code>", "cache_control": {"type": "ephemeral"}}],
    },
    {"role": "user", "content": "What is the content of this code?"},
]


def _whole(source: str, model: str, usage: dict[str, Any]) -> dict[str, Any]:
    body = china_wire._answer(model, usage)
    return china_wire._transcript(source, DASHSCOPE_PATH, model, False, body=body)


def _streamed(source: str, model: str, usage: dict[str, Any]) -> dict[str, Any]:
    events = [
        china_wire._chunk(model, {"role": "assistant", "content": "这段代码"}),
        china_wire._chunk(model, {}, "stop"),
        china_wire._usage_chunk(model, usage),
        "data: [DONE]",
    ]
    return china_wire._transcript(source, DASHSCOPE_PATH, model, True, events=events)


def test_a_mainland_cache_creation_is_billed_at_the_write_rate(
    tmp_path: Path, catalog: Catalog, today: dt.date
) -> None:
    _send("dashscope", _whole(china_wire.DASHSCOPE, "qwen3-max", CREATED), False, tmp_path, catalog)
    row = _row(tmp_path)
    assert (row["provider"], row["cost_error"]) == ("alibaba-cn", None)
    kept = (row["input_tokens"], row["cache_write_tokens"], row["cache_read_tokens"])
    assert kept == (1618, 1605, 0)
    # qwen3-max first tier: 13 x 2.5 = 32.5; 1605 x 3.125 = 5015.625; 104 x 10 = 1040;
    # 6088.125 per 1M = ¥0.006088125; x 0.14 = $0.0008523375
    assert (row["billed_currency"], row["billed_total"]) == ("CNY", Decimal("0.006088125"))
    assert row["cost_total"] == Decimal("0.0008523375")


def test_a_streamed_mainland_explicit_hit_is_billed_at_cache_read(
    tmp_path: Path, catalog: Catalog, today: dt.date
) -> None:
    _send("dashscope", _streamed(china_wire.DASHSCOPE, "qwen3-max", HIT), True, tmp_path, catalog)
    row = _row(tmp_path)
    kept = (row["input_tokens"], row["cache_write_tokens"], row["cache_read_tokens"])
    assert kept == (1620, 0, 1605)
    # 15 x 2.5 = 37.5; 1605 x 0.5 = 802.5; 104 x 10 = 1040; 1880 per 1M = ¥0.00188;
    # x 0.14 = $0.0002632
    assert (row["billed_currency"], row["billed_total"]) == ("CNY", Decimal("0.00188"))
    assert row["cost_total"] == Decimal("0.0002632")


def test_an_international_cache_creation_is_billed_in_usd(tmp_path: Path, catalog: Catalog) -> None:
    transcript = _whole(china_wire.DASHSCOPE_INTL, "qwen-plus", CREATED)
    _send("dashscope-intl", transcript, False, tmp_path, catalog)
    row = _row(tmp_path)
    assert (row["provider"], row["cache_write_tokens"], row["billed_currency"]) == (
        "alibaba",
        1605,
        None,
    )
    # 13 x 0.4 = 5.2; 1605 x 0.5 = 802.5; 104 x 1.2 = 124.8; 932.5 per 1M = $0.0009325
    assert row["cost_total"] == Decimal("0.0009325")
    assert row["cost_cache_write"] == Decimal("0.0008025")
