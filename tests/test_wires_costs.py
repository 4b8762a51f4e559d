"""The new wires through the gateway to the money (issue 17): a replayed response
of DashScope (mainland), Kimi (mainland), Zhipu GLM, Doubao on Volcengine Ark,
Azure OpenAI deployments and Bedrock Converse goes through the gateway, is priced
from the shipped price file, and lands in a real SQLite ledger row whose
``billed_currency``, ``billed_total``, ``fx_rate``, ``fx_date`` and ``cost_total``
are checked against figures worked out by hand below (the code under test never
computes an expected value). Models the mainland files do not price (the wire
tests' glm-4.6 and Doubao-Seed-1.6 transcripts) and an Azure embedding are kept
unpriced with the reason; test_wires_azure's own transcripts are priced too.

The replay servers, transcript shapes and SDK clients are the wire tests' own
(tests/test_wires_china.py, test_wires_azure.py, test_wires_bedrock.py; each
transcript's API reference is cited there and beside the cases here).

The CNY -> USD rate is pinned with the user's rates override file: 1 CNY = 0.14 USD
on the test's UTC day (the call's day; the latest rate on or before it, so a run
crossing midnight still finds it), as tests/test_currency_ledger.py does. The
ledger keeps ``cost_total`` = billed total x 0.14 (10 places, here exact).

Rates read off the price files (CNY or USD per 1M tokens; page and date in each
file's ``source``/``checked``):

- alibaba_cn.yaml (https://help.aliyun.com/zh/model-studio/model-pricing, checked
  2026-12-07): qwen3-max 0<Token<=32K input 2.5, cache hit 0.5, output 10;
  32K<Token<=128K 4 / 0.8 / 16 (cliff above 32,768 tokens, K = 1,024, every token of
  the request at the tier). qwen-plus 0<Token<=128K input 0.8, output 2 non-thinking /
  8 thinking (思维链+回答, every output token of a thinking request); no cache_read
  (cached tokens billed as input).
- moonshot_cn.yaml (https://platform.moonshot.cn/docs/pricing/chat, page version
  2026-02-09): kimi-k2.5 cache miss 4.00, cache hit 0.70, output 21.00.
- zhipu.yaml (https://open.bigmodel.cn/pricing, page of 2026-09-24): glm-5.1 [0,32K)
  input 6, cache hit 1.3, output 24; [32K+) 8 / 2 / 28 (cliff above 31,999: K = 1,000).
  glm-4.6 has no mainland entry.
- volcengine.yaml (https://www.volcengine.com/docs/82379/1544106): doubao-seed-1.8
  (version 251215) input [0, 32] 0.80, cache hit 0.16, output 2.00 for output (0, 200]
  tokens and 8.00 for a longer one (reasoning included).
- openai_azure.yaml / openai_azure_datazone.yaml / openai_azure_regional.yaml (Azure
  Retail Prices API capture of 2026-10-02, meters named there): gpt-4.1-2025-04-14
  global input 2.00, cached 0.50, output 8.00; data zone and regional 2.20 / 0.55 / 8.80
  (1.1 x global), USD.
- bedrock.yaml (AWS Price List, AmazonBedrockFoundationModels us-east-1, version
  20260930001912): Claude Sonnet 5 regional (anthropic.claude-sonnet-5 and its us./eu.
  profiles) input 2.20, 5-minute cache write 2.75, cache read 0.22, output 11.00;
  global (global.anthropic.claude-sonnet-5) 2.00 / 2.50 / 0.20 / 10.00 (regional 1.1 x
  global), USD.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

import test_wires_azure as azure_wire
import test_wires_bedrock as bedrock_wire
import test_wires_china as china_wire
from gateway_support import live_gateway
from llmtally.catalog import Catalog
from llmtally.ledger import LedgerWriter, open_store
from llmtally.ledger.schema import calls
from llmtally.providers import ProviderUsageError, parse_bedrock
from llmtally.usage import Call
from replay_upstream import ReplayUpstream
from test_wires_azure import recorded  # noqa: F401 (its ledger of the Azure transcripts)

RATE = "0.14"  # 1 CNY in USD, the override file's rate for today
RATE_SOURCE = "test: a round rate"
DASHSCOPE = {"preset": "dashscope", "base_url": "/compatible-mode/v1"}
DASHSCOPE_PATH = "/compatible-mode/v1/chat/completions"
ZHIPU = {"preset": "zhipu", "base_url": "/api/paas/v4"}
ZHIPU_PATH = "/api/paas/v4/chat/completions"
ARK = {"preset": "volcengine", "base_url": "/api/v3"}
ARK_PATH = "/api/v3/chat/completions"
SEED = "doubao-seed-1-8-251215"


@dataclass(frozen=True)
class Priced:
    """One call and the ledger row it must make. ``billed`` is the CNY total
    (None: a USD price, nothing converted); ``cost_total`` is USD."""

    name: str
    wire: str  # "china", "azure" or "bedrock"
    model: str  # what the client asks for
    provider: str
    price_id: str  # the entry that must price it: provider/model@effective ("launch": none)
    billed: str | None
    cost_total: str
    above: int | None = None  # the long-context cliff crossed, if any
    stream: bool = False
    transcript: dict[str, Any] = field(default_factory=dict)  # china / azure
    upstream: dict[str, Any] = field(default_factory=dict)  # china: the upstream's config
    reply: dict[str, Any] | None = None  # bedrock: the Converse answer (None: CONVERSE)


def _usage(prompt: int, cached: int, completion: int, reasoning: int = 0) -> dict[str, Any]:
    """An OpenAI-shaped usage with the cache hits and reasoning in their details."""
    usage: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
    }
    if reasoning:
        usage["completion_tokens_details"] = {"reasoning_tokens": reasoning}
    return usage


def _china(source: str, path: str, model: str, usage: dict[str, Any]) -> dict[str, Any]:
    """A whole chat.completion answer of an OpenAI-compatible China API (``source``:
    its API reference), in test_wires_china's transcript shape."""
    body = china_wire._answer(model, usage)
    return china_wire._transcript(source, path, model, False, body=body)


def _of(case_name: str) -> china_wire.Case:
    return next(case for case in china_wire.CASES if case.name == case_name)


_THINKING = _of("dashscope-stream")  # qwen-plus, streamed, thinking mode
_KIMI = _of("kimi")  # kimi-k2.5 with Kimi's top-level cached_tokens
# Kimi streams its usage in the last chunk's choices[0].usage on both platforms (KIMI and
# KIMI_INTL, streaming): test_wires_china's international stream, sent to the mainland
_KIMI_STREAM = {**_of("kimi-intl-stream").transcript, "source": china_wire.KIMI}


def _stream(source: str, path: str, model: str, last: dict[str, Any]) -> dict[str, Any]:
    """A streamed answer (test_wires_china's chunk shapes) ending with ``last`` and [DONE]."""
    events = [china_wire._chunk(model, {"role": "assistant", "reasoning_content": "想"}),
              china_wire._chunk(model, {"content": "你好"}), last, "data: [DONE]"]  # fmt: skip
    return china_wire._transcript(source, path, model, True, events=events)


# GLM streams its usage on the last chunk, beside the finishing choice (GLM, streaming)
_GLM_LAST = {"data": {"id": "chatcmpl-3", "created": 1765000000, "model": "glm-5.1",
                      "choices": [{"index": 0, "finish_reason": "stop", "delta": {}}],
                      "usage": _usage(1200, 1024, 300)}}  # fmt: skip
# Ark's include_usage chunk: no choices, the usage (ARK, streaming)
_ARK_LAST = china_wire._usage_chunk(SEED, _usage(4000, 3072, 700, 650))

CNY_CASES = [
    # DashScope mainland, qwen3-max at the 32K tier's edge: 32,768 prompt tokens is
    # "0<Token<=32K" (DASHSCOPE chat completion usage; 16,384 of them cached, 500 out):
    # (32768 - 16384) x 2.5 + 16384 x 0.5 + 500 x 10 = 40960 + 8192 + 5000 = 54152 per 1M
    # = 0.054152 CNY; x 0.14 = 0.00758128 USD
    Priced("qwen3-max-32k", "china", "qwen3-max", "alibaba-cn",
           "alibaba-cn/qwen3-max@2026-04-02", "0.054152", "0.00758128",
           upstream=DASHSCOPE,
           transcript=_china(china_wire.DASHSCOPE, DASHSCOPE_PATH, "qwen3-max",
                             _usage(32768, 16384, 500))),
    # one token more: 32,769 > 32K, every token at 32K<Token<=128K:
    # (32769 - 16384) x 4 + 16384 x 0.8 + 500 x 16 = 65540 + 13107.2 + 8000 = 86647.2
    # per 1M = 0.0866472 CNY; x 0.14 = 0.012130608 USD
    Priced("qwen3-max-32k+1", "china", "qwen3-max", "alibaba-cn",
           "alibaba-cn/qwen3-max@2026-04-02", "0.0866472", "0.012130608",
           above=32768, upstream=DASHSCOPE,
           transcript=_china(china_wire.DASHSCOPE, DASHSCOPE_PATH, "qwen3-max",
                             _usage(32769, 16384, 500))),
    # qwen-plus in thinking mode, streamed (test_wires_china's "dashscope-stream": 1300
    # prompt, 1024 cached, 420 completion of which 400 reasoning). No cache price: cached
    # tokens at input; every output token at the thinking price 8:
    # 276 x 0.8 + 1024 x 0.8 + 420 x 8 = 220.8 + 819.2 + 3360 = 4400 per 1M = 0.0044 CNY;
    # x 0.14 = 0.000616 USD
    Priced("qwen-plus-thinking", "china", "qwen-plus", "alibaba-cn",
           "alibaba-cn/qwen-plus@2026-04-02", "0.0044", "0.000616",
           stream=True, upstream=_THINKING.upstream, transcript=_THINKING.transcript),
    # the same tokens without reasoning: output at the non-thinking 2:
    # 1300 x 0.8 + 420 x 2 = 1040 + 840 = 1880 per 1M = 0.00188 CNY; x 0.14 = 0.0002632
    Priced("qwen-plus-plain", "china", "qwen-plus", "alibaba-cn",
           "alibaba-cn/qwen-plus@2026-04-02", "0.00188", "0.0002632",
           upstream=DASHSCOPE,
           transcript=_china(china_wire.DASHSCOPE, DASHSCOPE_PATH, "qwen-plus",
                             _usage(1300, 1024, 420))),
    # qwen-plus thinking over 128K (131,072 tokens): 140,000 prompt tokens, 1000 out of which
    # 900 reasoning, at 128K<Token<=256K input 2.4, thinking output 24:
    # 140000 x 2.4 + 1000 x 24 = 336000 + 24000 = 360000 per 1M = 0.36 CNY; x 0.14 = 0.0504
    Priced("qwen-plus-thinking-128k+", "china", "qwen-plus", "alibaba-cn",
           "alibaba-cn/qwen-plus@2026-04-02", "0.36", "0.0504",
           above=131072, upstream=DASHSCOPE,
           transcript=_china(china_wire.DASHSCOPE, DASHSCOPE_PATH, "qwen-plus",
                             _usage(140000, 0, 1000, 900))),
    # Kimi mainland (test_wires_china's "kimi": 2200 prompt, 2048 cached at usage's top
    # level, 57 out): (2200 - 2048) x 4.00 + 2048 x 0.70 + 57 x 21.00
    # = 608 + 1433.6 + 1197 = 3238.6 per 1M = 0.0032386 CNY; x 0.14 = 0.000453404 USD
    Priced("kimi-k2.5", "china", "kimi-k2.5", "moonshot-cn",
           "moonshot-cn/kimi-k2.5@launch", "0.0032386", "0.000453404",
           upstream=_KIMI.upstream, transcript=_KIMI.transcript),
    # the same on a stream (1536 prompt, 1024 cached, 86 out):
    # (1536 - 1024) x 4.00 + 1024 x 0.70 + 86 x 21.00 = 2048 + 716.8 + 1806 = 4570.8 per 1M
    # = 0.0045708 CNY; x 0.14 = 0.000639912 USD
    Priced("kimi-k2.5-stream", "china", "kimi-k2.5", "moonshot-cn",
           "moonshot-cn/kimi-k2.5@launch", "0.0045708", "0.000639912",
           stream=True, upstream=_KIMI.upstream, transcript=_KIMI_STREAM),
    # Zhipu glm-5.1 (GLM chat completion usage: 900 prompt, 512 cached, 33 out), [0,32K):
    # (900 - 512) x 6 + 512 x 1.3 + 33 x 24 = 2328 + 665.6 + 792 = 3785.6 per 1M
    # = 0.0037856 CNY; x 0.14 = 0.000529984 USD
    Priced("glm-5.1", "china", "glm-5.1", "zhipu",
           "zhipu/glm-5.1@launch", "0.0037856", "0.000529984",
           upstream=ZHIPU,
           transcript=_china(china_wire.GLM, ZHIPU_PATH, "glm-5.1",
                             _usage(900, 512, 33))),
    # glm-5.1 at 32,000 prompt tokens, [32K+) (K = 1,000), nothing cached, 100 out:
    # 32000 x 8 + 100 x 28 = 256000 + 2800 = 258800 per 1M = 0.2588 CNY; x 0.14 = 0.036232
    Priced("glm-5.1-32k", "china", "glm-5.1", "zhipu",
           "zhipu/glm-5.1@launch", "0.2588", "0.036232",
           above=31999, upstream=ZHIPU,
           transcript=_china(china_wire.GLM, ZHIPU_PATH, "glm-5.1",
                             _usage(32000, 0, 100))),
    # glm-5.1 streamed (1200 prompt, 1024 cached, 300 out), [0,32K):
    # (1200 - 1024) x 6 + 1024 x 1.3 + 300 x 24 = 1056 + 1331.2 + 7200 = 9587.2 per 1M
    # = 0.0095872 CNY; x 0.14 = 0.001342208 USD
    Priced("glm-5.1-stream", "china", "glm-5.1", "zhipu",
           "zhipu/glm-5.1@launch", "0.0095872", "0.001342208",
           stream=True, upstream=ZHIPU,
           transcript=_stream(china_wire.GLM, ZHIPU_PATH, "glm-5.1", _GLM_LAST)),
    # Doubao-Seed-1.8 on Ark (ARK chat usage: 4000 prompt, 3072 cached, 700 completion of
    # which 650 reasoning): output over 200 tokens, so 8.00 for every output token:
    # (4000 - 3072) x 0.80 + 3072 x 0.16 + 700 x 8.00 = 742.4 + 491.52 + 5600 = 6833.92
    # per 1M = 0.00683392 CNY; x 0.14 = 0.0009567488 USD
    Priced("doubao-seed-1.8-long", "china", SEED, "volcengine",
           "volcengine/doubao-seed-1-8@2025-12-15", "0.00683392", "0.0009567488",
           above=0, upstream=ARK,
           transcript=_china(china_wire.ARK, ARK_PATH, SEED,
                             _usage(4000, 3072, 700, 650))),
    # the same usage on a stream: 0.00683392 CNY, 0.0009567488 USD
    Priced("doubao-seed-1.8-stream", "china", SEED, "volcengine",
           "volcengine/doubao-seed-1-8@2025-12-15", "0.00683392", "0.0009567488",
           above=0, stream=True, upstream=ARK,
           transcript=_stream(china_wire.ARK, ARK_PATH, SEED, _ARK_LAST)),
    # the same prompt with exactly 200 output tokens: (0, 200], output 2.00:
    # 742.4 + 491.52 + 200 x 2.00 = 1633.92 per 1M = 0.00163392 CNY; x 0.14 = 0.0002287488
    Priced("doubao-seed-1.8-short", "china", SEED, "volcengine",
           "volcengine/doubao-seed-1-8@2025-12-15", "0.00163392", "0.0002287488",
           upstream=ARK,
           transcript=_china(china_wire.ARK, ARK_PATH, SEED, _usage(4000, 3072, 200))),
]  # fmt: skip


def _azure(deployment: str, stream: bool = False) -> dict[str, Any]:
    """An Azure chat completion of gpt-4.1-2025-04-14 (azure_wire.REFERENCE, 200 response):
    1460 prompt tokens, 1280 of them cached, 45 completion tokens."""
    path = f"/openai/deployments/{deployment}/chat/completions"
    usage = _usage(1460, 1280, 45)
    head = {"id": "chatcmpl-Az41", "created": 1765000000, "model": "gpt-4.1-2025-04-14"}
    request = azure_wire._request(path, deployment, stream=stream)
    if not stream:
        message = {"role": "assistant", "content": "Hello!"}
        choice = {"index": 0, "finish_reason": "stop", "message": message}
        body = {**head, "object": "chat.completion", "choices": [choice], "usage": usage}
        return {"source": azure_wire.REFERENCE, "request": request,
                "response": {"status": 200, "headers": azure_wire.JSON, "body": body}}  # fmt: skip
    chunk = {**head, "object": "chat.completion.chunk"}
    delta = {"index": 0, "finish_reason": "stop", "delta": {"role": "assistant", "content": "Hi"}}
    return {"source": azure_wire.REFERENCE, "request": request,
            "response": {"status": 200, "headers": {"content-type": "text/event-stream"}},
            "events": [{"data": {**chunk, "choices": [delta]}},
                       {"data": {**chunk, "choices": [], "usage": usage}},
                       "data: [DONE]"]}  # fmt: skip


AZURE_DEPLOYMENTS = {
    "gpt41-global": {"model": "gpt-4.1", "type": "global"},
    "gpt41-eu": {"model": "gpt-4.1", "type": "datazone"},
    "gpt41-east": {"model": "gpt-4.1", "type": "regional"},
}

AZURE_CASES = [
    # Global: (1460 - 1280) x 2.00 + 1280 x 0.50 + 45 x 8.00 = 360 + 640 + 360 = 1360 per
    # 1M = 0.00136 USD
    Priced("azure-global", "azure", "gpt41-global", "azure",
           "azure/gpt-4.1-2025-04-14@launch", None, "0.00136",
           transcript=_azure("gpt41-global")),
    # Data zone, the same tokens: 180 x 2.20 + 1280 x 0.55 + 45 x 8.80 = 396 + 704 + 396
    # = 1496 per 1M = 0.001496 USD (= 1.1 x 0.00136)
    Priced("azure-datazone", "azure", "gpt41-eu", "azure-datazone",
           "azure-datazone/gpt-4.1-2025-04-14@launch", None, "0.001496",
           transcript=_azure("gpt41-eu")),
    Priced("azure-datazone-stream", "azure", "gpt41-eu", "azure-datazone",
           "azure-datazone/gpt-4.1-2025-04-14@launch", None, "0.001496",
           stream=True, transcript=_azure("gpt41-eu", stream=True)),
    # Regional: the same rates as the data zone, 0.001496 USD
    Priced("azure-regional", "azure", "gpt41-east", "azure-regional",
           "azure-regional/gpt-4.1-2025-04-14@launch", None, "0.001496",
           transcript=_azure("gpt41-east")),
]  # fmt: skip

# bedrock_wire.CONVERSE (the API reference), "Response Syntax": 25 uncached input tokens,
# 1500 read from the cache, 500 written to it, 180 output tokens (totalTokens 2205).
CONVERSE = {
    "output": {"message": {"role": "assistant", "content": [{"text": "Hello!"}]}},
    "stopReason": "end_turn",
    "usage": {"inputTokens": 25, "outputTokens": 180, "totalTokens": 2205,
              "cacheReadInputTokens": 1500, "cacheWriteInputTokens": 500},
    "metrics": {"latencyMs": 812},
}  # fmt: skip
# The same with TokenUsage's cacheDetails, the writes by TTL ("Sorted by TTL duration (1h
# before 5m)": https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_TokenUsage.html,
# CacheDetail {ttl: 5m | 1h, inputTokens}, read 2026-12-07): 300 of the 500 for 1 hour.
CONVERSE_1H = {
    **CONVERSE,
    "usage": {**CONVERSE["usage"], "cacheDetails": [{"ttl": "1h", "inputTokens": 300},
                                                    {"ttl": "5m", "inputTokens": 200}]},
}  # fmt: skip
SONNET_5 = "bedrock/anthropic.claude-sonnet-5@launch"
SONNET_5_GLOBAL = "bedrock/global.anthropic.claude-sonnet-5@launch"

BEDROCK_CASES = [
    # regional: 25 x 2.20 + 1500 x 0.22 + 500 x 2.75 + 180 x 11.00
    # = 55 + 330 + 1375 + 1980 = 3740 per 1M = 0.00374 USD
    Priced("bedrock-regional", "bedrock", "anthropic.claude-sonnet-5", "bedrock",
           SONNET_5, None, "0.00374"),
    # a geographic cross-Region profile costs the in-Region price: 0.00374 USD
    Priced("bedrock-us-profile", "bedrock", "us.anthropic.claude-sonnet-5", "bedrock",
           SONNET_5, None, "0.00374"),
    # global: 25 x 2.00 + 1500 x 0.20 + 500 x 2.50 + 180 x 10.00
    # = 50 + 300 + 1250 + 1800 = 3400 per 1M = 0.0034 USD (0.00374 = 1.1 x 0.0034)
    Priced("bedrock-global", "bedrock", "global.anthropic.claude-sonnet-5", "bedrock",
           SONNET_5_GLOBAL, None, "0.0034"),
    # 300 of the writes for 1 hour (CONVERSE_1H), regional 1-hour write 4.40, through the eu.
    # profile: 25 x 2.20 + 1500 x 0.22 + 200 x 2.75 + 300 x 4.40 + 180 x 11.00
    # = 55 + 330 + 550 + 1320 + 1980 = 4235 per 1M = 0.004235 USD
    Priced("bedrock-regional-1h", "bedrock", "eu.anthropic.claude-sonnet-5", "bedrock",
           SONNET_5, None, "0.004235", reply=CONVERSE_1H),
    # global 1-hour write 4.00, the model id with its version suffix:
    # 25 x 2.00 + 1500 x 0.20 + 200 x 2.50 + 300 x 4.00 + 180 x 10.00
    # = 50 + 300 + 500 + 1200 + 1800 = 3850 per 1M = 0.00385 USD (x 1.1 = 0.004235)
    Priced("bedrock-global-1h", "bedrock", "global.anthropic.claude-sonnet-5-v1:0", "bedrock",
           SONNET_5_GLOBAL, None, "0.00385", reply=CONVERSE_1H),
    # ConverseStream (bedrock_wire.STREAM's metadata: 30 uncached, 2048 read, 95 out), global:
    # 30 x 2.00 + 2048 x 0.20 + 95 x 10.00 = 60 + 409.6 + 950 = 1419.6 per 1M = 0.0014196
    Priced("bedrock-global-stream", "bedrock", "global.anthropic.claude-sonnet-5", "bedrock",
           SONNET_5_GLOBAL, None, "0.0014196", stream=True),
]  # fmt: skip

CASES = CNY_CASES + AZURE_CASES + BEDROCK_CASES


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


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
    monkeypatch.setenv("LLMTALLY_TEST_AZURE_KEY", azure_wire.GATEWAY_KEY)
    monkeypatch.setenv("LLMTALLY_TEST_AWS_KEY_ID", bedrock_wire.GATEWAY_KEY_ID)
    monkeypatch.setenv("LLMTALLY_TEST_AWS_SECRET", bedrock_wire.GATEWAY_SECRET)
    return day


BILLED = ("billed_currency", "billed_total", "fx_rate", "fx_date", "fx_source")


def _only_row(database: str) -> dict[str, Any]:
    with open_store(database) as store, store.engine.connect() as conn:
        rows = conn.execute(select(calls)).mappings().all()
    assert len(rows) == 1, rows
    return dict(rows[0])


@contextlib.contextmanager
def _ledger_gateway(config: dict[str, Any], tmp: Path, catalog: Catalog) -> Iterator[str]:
    """A live gateway writing to a SQLite ledger in ``tmp``; closed (and flushed) on exit."""
    with open_store(f"sqlite:///{tmp / 'ledger.sqlite3'}") as store:
        writer = LedgerWriter(store, tmp / "spool.jsonl", flush_interval=0.02)
        with live_gateway(config, catalog, recorder=writer) as (url, _):
            yield url
        assert writer.close(timeout=20)


def _azure_call(case: Priced, tmp: Path, catalog: Catalog) -> None:
    """With the AzureOpenAI client (test_wires_azure's), to a deployment URL."""
    with ReplayUpstream({case.name: case.transcript}) as replay:
        upstream = {"kind": "azure", "base_url": replay.url, "deployments": AZURE_DEPLOYMENTS,
                    "api_key_env": "LLMTALLY_TEST_AZURE_KEY"}  # fmt: skip
        config = {"upstreams": {"azure": upstream}}
        with _ledger_gateway(config, tmp, catalog) as url, azure_wire._azure(url, "x") as sdk:
            if case.stream:
                # read to the end: stopping at the first content chunk would close the
                # stream early, and the gateway records a client gone (499) if it had
                # not yet read the upstream's last event (a race seen once in CI)
                chunks = list(
                    sdk.chat.completions.create(
                        model=case.model, messages=azure_wire.HELLO, stream=True
                    )
                )
                assert any(chunk.choices and chunk.choices[0].delta.content for chunk in chunks)
            else:
                assert sdk.chat.completions.create(model=case.model, messages=azure_wire.HELLO)
    assert len(replay.served) == 1


def _bedrock_call(case: Priced, tmp: Path, catalog: Catalog) -> None:
    """With boto3's bedrock-runtime client (test_wires_bedrock's), re-signed upstream."""
    with bedrock_wire.BedrockReplay() as replay:
        config = bedrock_wire._config(replay.url)
        for prefix in ("global", "eu"):
            config["routes"].append({"match": f"{prefix}.anthropic.*", "upstream": "bedrock"})
        with _ledger_gateway(config, tmp, catalog) as url:
            client = bedrock_wire._client(url)
            messages = bedrock_wire.MESSAGES
            if case.stream:
                response = client.converse_stream(modelId=case.model, messages=messages)
                assert "metadata" in list(response["stream"])[-1]
            else:
                assert client.converse(modelId=case.model, messages=messages)["usage"]
    assert [seen.signature_ok for seen in replay.seen] == [True]


def _china_call(case: Priced, tmp: Path, catalog: Catalog) -> None:
    """Through test_wires_china's own path (the openai SDK, a replay upstream); the
    token fields of its Case are not read there (they are asserted in that file)."""
    wire = china_wire.Case(case.name, case.upstream, "", case.model, case.stream,
                           case.transcript, case.provider, 0, 0, 0)  # fmt: skip
    china_wire._through_gateway(wire, tmp, catalog)


SEND: dict[str, Callable[[Priced, Path, Catalog], None]] = {
    "china": _china_call,
    "azure": _azure_call,
    "bedrock": _bedrock_call,
}


@pytest.fixture
def bedrock_replies(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Bedrock replay answers each case's model id with its reply (a stream: always
    bedrock_wire.STREAM)."""
    for case in BEDROCK_CASES:
        monkeypatch.setitem(bedrock_wire.REPLIES, case.model, case.reply or CONVERSE)


@pytest.mark.usefixtures("bedrock_replies")
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_each_new_wire_is_priced_to_the_money(
    case: Priced, tmp_path: Path, catalog: Catalog, today: dt.date
) -> None:
    SEND[case.wire](case, tmp_path, catalog)
    row = _only_row(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    assert (row["status"], row["cost_error"]) == (200, None), row["cost_error"]
    assert (row["provider"], row["price_id"]) == (case.provider, case.price_id)
    assert row["long_context_above"] == case.above
    assert row["cost_total"] == Decimal(case.cost_total)
    billed = [row[name] for name in BILLED]
    if case.billed is None:  # a USD price: nothing converted
        assert billed == [None] * len(BILLED)
    else:
        assert billed == ["CNY", Decimal(case.billed), RATE, today, RATE_SOURCE]


# test_wires_china's case whose model has no mainland price: glm-4.6 (zhipu.yaml, the page
# of 2026-09-24, lists none; zai.yaml's USD price is Z.ai's, not Zhipu's). Tokens 900 / 512
# / 33 (input, cached, output), read off the transcript there.
UNPRICED = [("glm", (900, 512, 33))]

# test_wires_china's Doubao transcripts, priced since volcengine.yaml has Doubao-Seed-1.6
# (effective 2025-10-15) and -1.6-flash (2025-08-28), first input tier (<= 32K), CNY per 1M:
# - doubao: doubao-seed-1-6-250615, 4000 prompt / 3072 cached / 700 output; output over 200
#   tokens, so 8.00 for all of it: (4000 - 3072) x 0.80 + 3072 x 0.16 + 700 x 8.00 = 742.4 +
#   491.52 + 5600 = 6833.92 per 1M = 0.00683392 CNY; x 0.14 = 0.0009567488 USD
# - doubao-stream: doubao-seed-1-6-flash-250615, 64 / 0 / 12: 64 x 0.15 + 12 x 1.50 = 9.6 +
#   18 = 27.6 per 1M = 0.0000276 CNY; x 0.14 = 0.000003864 USD
CHINA_DOUBAO = [
    ("doubao", "volcengine/doubao-seed-1-6@2025-10-15", "0.00683392", "0.0009567488"),
    ("doubao-stream", "volcengine/doubao-seed-1-6-flash@2025-08-28", "0.0000276", "0.000003864"),
]


@pytest.mark.parametrize(("name", "price_id", "cny", "usd"), CHINA_DOUBAO)
def test_the_china_doubao_transcripts_are_priced_in_cny(
    name: str, price_id: str, cny: str, usd: str, tmp_path: Path, catalog: Catalog, today: dt.date
) -> None:
    case = _of(name)
    china_wire._through_gateway(case, tmp_path, catalog)
    row = _only_row(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    assert (row["status"], row["cost_error"], row["price_id"]) == (200, None, price_id)
    assert row["cost_total"] == Decimal(usd)
    assert [row[name] for name in BILLED] == ["CNY", Decimal(cny), RATE, today, RATE_SOURCE]


@pytest.mark.parametrize(("name", "tokens"), UNPRICED, ids=[name for name, _ in UNPRICED])
def test_a_mainland_model_without_a_mainland_price_is_kept_unpriced_and_says_so(
    name: str, tokens: tuple[int, int, int], tmp_path: Path, catalog: Catalog, today: dt.date
) -> None:
    case = _of(name)
    china_wire._through_gateway(case, tmp_path, catalog)
    row = _only_row(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    kept = (row["input_tokens"], row["cache_read_tokens"], row["output_tokens"])
    assert (row["status"], row["provider"], kept) == (200, case.provider, tokens)
    assert (row["cost_total"], row["price_id"]) == (None, None)
    assert [row[name] for name in BILLED] == [None] * len(BILLED)
    unknown = f"unknown model '{case.model}' for provider '{case.provider}'; nearest known: "
    assert row["cost_error"].startswith(unknown), row["cost_error"]


# test_wires_azure's own transcripts, priced by the dated model each response names
# (openai_azure*.yaml, meters of the capture of 2026-10-02), USD:
# - deployment-chat, data zone gpt-4o-2024-11-20 (2.75 in, 1.375 cached, 11.00 out):
#   (1460 - 1280) x 2.75 + 1280 x 1.375 + 45 x 11.00 = 495 + 1760 + 495 = 2750 per 1M
# - deployment-chat-stream, global gpt-4o-mini-2024-07-18 (0.15 in, 0.60 out):
#   10 x 0.15 + 6 x 0.60 = 1.5 + 3.6 = 5.1 per 1M
# - v1-chat, data zone gpt-4o-2024-11-20: 25 x 2.75 + 7 x 11.00 = 68.75 + 77 = 145.75 per 1M
AZURE_WIRE_COSTS = [
    ("deployment-chat", "azure-datazone/gpt-4o-2024-11-20@launch", "0.00275"),
    ("deployment-chat-stream", "azure/gpt-4o-mini-2024-07-18@launch", "0.0000051"),
    ("v1-chat", "azure-datazone/gpt-4o-2024-11-20@launch", "0.00014575"),
]


@pytest.mark.parametrize(("name", "price_id", "total"), AZURE_WIRE_COSTS)
def test_the_azure_wire_s_own_calls_are_priced_by_their_deployment_type(
    recorded: tuple[dict[str, Call], Any],  # noqa: F811
    name: str,
    price_id: str,
    total: str,
) -> None:
    call = recorded[0][name]
    assert call.cost is not None, call.cost_error
    assert (call.cost.price.entry_id, call.cost.total) == (price_id, Decimal(total))


def test_an_azure_embedding_is_priced_at_its_regional_meter(
    recorded: tuple[dict[str, Call], Any],  # noqa: F811
) -> None:
    # openai_azure_regional.yaml prices text-embedding-3-small at its Regional meter
    # ('text-embedding-3-small-regional Tokens', $0.000022 per 1K = $0.022/1M); the 9 prompt
    # tokens (test_wires_azure asserts them): 9 x 0.022 / 1M = 0.000000198
    call = recorded[0]["deployment-embeddings"]
    assert call.cost is not None, call.cost_error
    assert (call.provider, call.cost.price.entry_id, call.cost.total) == (
        "azure-regional",
        "azure-regional/text-embedding-3-small-azure@launch",
        Decimal("0.000000198"),
    )


def test_bedrock_cache_details_alone_give_the_writes_and_a_bad_ttl_is_named() -> None:
    # TokenUsage without cacheWriteInputTokens (it is optional): the details are summed
    # (100 for 1h + 50 for 5m = 150 written); inputTokens 10 + 150 = 160 prompt tokens
    usage = parse_bedrock(
        {"inputTokens": 10, "outputTokens": 5, "cacheDetails": [
            {"ttl": "1h", "inputTokens": 100}, {"ttl": "5m", "inputTokens": 50}]}
    )  # fmt: skip
    assert (usage.input_tokens, usage.cache_write_tokens, usage.cache_write_1h_tokens) == (
        160,
        150,
        100,
    )
    # CacheDetail's ttl is "5m" or "1h" (the API reference): anything else is not guessed
    with pytest.raises(ProviderUsageError, match=r"usage\.cacheDetails\[0\]\.ttl: must be one of"):
        parse_bedrock(
            {"inputTokens": 1, "outputTokens": 1, "cacheDetails": [{"ttl": "1d", "inputTokens": 1}]}
        )
