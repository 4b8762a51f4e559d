"""China's OpenAI-compatible model APIs through the gateway (issue 17): DashScope
(Qwen) compatible mode, Moonshot (Kimi), Zhipu / Z.ai (GLM) and Doubao on
Volcengine Ark, each mainland or international, with the official ``openai``
SDK as the client, into a real SQLite ledger.

Each case's upstream replays a response in the shape its API reference documents
(the URL is beside each transcript; the counts are composed in that shape, not
copied from the page). Every expected token count is read off the transcript by
hand; a cost is asserted here for the USD international price files
(alibaba.yaml, moonshot.yaml, zai.yaml), worked out by hand from their rates
beside it. The mainland CNY costs, in CNY and in the ledger's USD, are in
tests/test_wires_costs.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import openai
import pytest

from gateway_support import live_gateway
from llmtally.catalog import Catalog
from llmtally.gateway.config import GatewayConfig, Upstream
from llmtally.ledger import LedgerWriter, open_store
from llmtally.usage import Call
from replay_upstream import ReplayUpstream

HELLO: Any = [{"role": "user", "content": "你好"}]
JSON = {"content-type": "application/json"}
SSE = {"content-type": "text/event-stream"}

DASHSCOPE = "https://help.aliyun.com/zh/model-studio/compatibility-of-openai-with-dashscope"
DASHSCOPE_INTL = (
    "https://www.alibabacloud.com/help/en/model-studio/compatibility-of-openai-with-dashscope"
)
KIMI = "https://platform.moonshot.cn/docs/api/chat"
KIMI_INTL = "https://platform.moonshot.ai/docs/api/chat"
GLM = "https://docs.bigmodel.cn/api-reference/模型-api/对话补全"
ZAI = "https://docs.z.ai/api-reference/llm/chat-completion"
ARK = "https://www.volcengine.com/docs/82379/1494384"


def _answer(model: str, usage: dict[str, Any], text: str = "你好!") -> dict[str, Any]:
    """A whole chat.completion body in OpenAI's documented shape."""
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1765000000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": usage,
    }


def _chunk(model: str, delta: dict[str, Any], finish: str | None = None, **more: Any) -> Any:
    choice = {"index": 0, "delta": delta, "finish_reason": finish, **more}
    return {"data": {"id": "chatcmpl-2", "object": "chat.completion.chunk",
                     "created": 1765000000, "model": model, "choices": [choice]}}  # fmt: skip


def _usage_chunk(model: str, usage: dict[str, Any]) -> Any:
    """OpenAI's include_usage chunk: no choices, the usage."""
    chunk = {"id": "chatcmpl-2", "object": "chat.completion.chunk", "created": 1765000000}
    return {"data": {**chunk, "model": model, "choices": [], "usage": usage}}


@dataclass(frozen=True)
class Case:
    name: str
    upstream: dict[str, Any]  # the upstream's config, base_url given as a path on the replay
    path: str  # where the upstream must be asked
    model: str
    stream: bool
    transcript: dict[str, Any]
    provider: str
    input_tokens: int
    cache_read: int
    output_tokens: int
    reasoning: int = 0
    cost: Decimal | None = None  # only where a USD price file existed


def _transcript(source: str, path: str, model: str, stream: bool, **reply: Any) -> dict[str, Any]:
    request = {"method": "POST", "path": path, "json": {"model": model, "stream": stream}}
    if stream:
        return {"source": source, "request": request,
                "response": {"status": 200, "headers": SSE}, "events": reply["events"]}  # fmt: skip
    body = reply["body"]
    return {"source": source, "request": request,
            "response": {"status": 200, "headers": JSON, "body": body}}  # fmt: skip


CASES = [
    # DashScope mainland (preset "dashscope", priced as alibaba-cn), qwen3 thinking mode
    # streamed: usage in the include_usage chunk with prompt_tokens_details.cached_tokens
    # and completion_tokens_details.reasoning_tokens (DASHSCOPE, "usage" of a chunk).
    # Read by hand: prompt 1300 (1024 cached), completion 420 (400 of it reasoning).
    Case(
        "dashscope-stream",
        {"preset": "dashscope", "base_url": "/compatible-mode/v1"},
        "/compatible-mode/v1/chat/completions",
        "qwen-plus",
        True,
        _transcript(DASHSCOPE, "/compatible-mode/v1/chat/completions", "qwen-plus", True, events=[
            _chunk("qwen-plus", {"role": "assistant", "reasoning_content": "想一想"}),
            _chunk("qwen-plus", {"content": "你好!"}),
            _chunk("qwen-plus", {}, "stop"),
            _usage_chunk("qwen-plus", {
                "prompt_tokens": 1300, "completion_tokens": 420, "total_tokens": 1720,
                "prompt_tokens_details": {"cached_tokens": 1024},
                "completion_tokens_details": {"reasoning_tokens": 400},
            }),
            "data: [DONE]",
        ]),
        "alibaba-cn", 1300, 1024, 420, 400,
    ),
    # DashScope international (priced as alibaba, USD), a whole answer.
    # qwen-max: $1.6 input, $0.64 cached, $6.4 output per 1M (alibaba.yaml):
    # (3019 - 2048) x 1.6 + 2048 x 0.64 + 104 x 6.4 = 1553.6 + 1310.72 + 665.6 = 3529.92 per 1M
    Case(
        "dashscope-intl",
        {"preset": "dashscope-intl", "base_url": "/compatible-mode/v1"},
        "/compatible-mode/v1/chat/completions",
        "qwen-max",
        False,
        _transcript(DASHSCOPE_INTL, "/compatible-mode/v1/chat/completions", "qwen-max", False,
                    body=_answer("qwen-max", {
                        "prompt_tokens": 3019, "completion_tokens": 104, "total_tokens": 3123,
                        "prompt_tokens_details": {"cached_tokens": 2048},
                    })),
        "alibaba", 3019, 2048, 104, 0, Decimal("0.00352992"),
    ),
    # Kimi mainland (api.moonshot.cn, priced as moonshot-cn): cache hits in the top-level
    # usage.cached_tokens (KIMI, the usage object). Read by hand: 2200 in, 2048 cached, 57 out.
    Case(
        "kimi",
        {"kind": "openai", "base_url": "/v1", "provider": "moonshot-cn"},
        "/v1/chat/completions",
        "kimi-k2.5",
        False,
        _transcript(KIMI, "/v1/chat/completions", "kimi-k2.5", False, body=_answer("kimi-k2.5", {
            "prompt_tokens": 2200, "completion_tokens": 57, "total_tokens": 2257,
            "cached_tokens": 2048,
        })),
        "moonshot-cn", 2200, 2048, 57,
    ),
    # Kimi international (priced as moonshot, USD), streamed: Kimi puts the usage in the
    # last chunk's choices[0].usage (KIMI_INTL, streaming), cached_tokens at its top level.
    # kimi-k2.5: $0.60 miss, $0.10 hit, $3.00 output per 1M (moonshot.yaml):
    # (1536 - 1024) x 0.60 + 1024 x 0.10 + 86 x 3.00 = 307.2 + 102.4 + 258 = 667.6 per 1M
    Case(
        "kimi-intl-stream",
        {"preset": "moonshot-intl", "base_url": "/v1"},
        "/v1/chat/completions",
        "kimi-k2.5",
        True,
        _transcript(KIMI_INTL, "/v1/chat/completions", "kimi-k2.5", True, events=[
            _chunk("kimi-k2.5", {"role": "assistant", "content": ""}),
            _chunk("kimi-k2.5", {"content": "Hello!"}),
            _chunk("kimi-k2.5", {}, "stop", usage={
                "prompt_tokens": 1536, "completion_tokens": 86, "total_tokens": 1622,
                "cached_tokens": 1024,
            }),
            "data: [DONE]",
        ]),
        "moonshot", 1536, 1024, 86, 0, Decimal("0.0006676"),
    ),
    # Zhipu GLM mainland (open.bigmodel.cn/api/paas/v4, priced as zhipu):
    # usage.prompt_tokens_details.cached_tokens (GLM, the response's usage).
    # Read by hand: 900 in, 512 cached, 33 out.
    Case(
        "glm",
        {"preset": "zhipu", "base_url": "/api/paas/v4"},
        "/api/paas/v4/chat/completions",
        "glm-4.6",
        False,
        _transcript(GLM, "/api/paas/v4/chat/completions", "glm-4.6", False,
                    body=_answer("glm-4.6", {
            "prompt_tokens": 900, "completion_tokens": 33, "total_tokens": 933,
            "prompt_tokens_details": {"cached_tokens": 512},
        })),
        "zhipu", 900, 512, 33,
    ),
    # Z.ai international (priced as zai, USD), streamed: GLM sends the usage on its last
    # chunk beside the finishing choice (ZAI, streaming).
    # glm-4.7: $0.6 input, $0.11 cached, $2.2 output per 1M (zai.yaml):
    # (1200 - 1024) x 0.6 + 1024 x 0.11 + 300 x 2.2 = 105.6 + 112.64 + 660 = 878.24 per 1M
    Case(
        "zai-stream",
        {"preset": "zai", "base_url": "/api/paas/v4"},
        "/api/paas/v4/chat/completions",
        "glm-4.7",
        True,
        _transcript(ZAI, "/api/paas/v4/chat/completions", "glm-4.7", True, events=[
            _chunk("glm-4.7", {"role": "assistant", "reasoning_content": "Thinking"}),
            _chunk("glm-4.7", {"content": "Hi!"}),
            {"data": {"id": "chatcmpl-3", "created": 1765000000, "model": "glm-4.7",
                      "choices": [{"index": 0, "finish_reason": "stop",
                                   "delta": {"role": "assistant", "content": ""}}],
                      "usage": {"prompt_tokens": 1200, "completion_tokens": 300,
                                "total_tokens": 1500,
                                "prompt_tokens_details": {"cached_tokens": 1024}}}},
            "data: [DONE]",
        ]),
        "zai", 1200, 1024, 300, 0, Decimal("0.00087824"),
    ),
    # Doubao on Volcengine Ark (ark.cn-beijing.volces.com/api/v3, priced as volcengine):
    # prompt_tokens_details.cached_tokens and completion_tokens_details.reasoning_tokens
    # (ARK, the response's usage). Read by hand: 4000 in, 3072 cached, 700 out (650 reasoning).
    Case(
        "doubao",
        {"preset": "volcengine", "base_url": "/api/v3"},
        "/api/v3/chat/completions",
        "doubao-seed-1-6-250615",
        False,
        _transcript(ARK, "/api/v3/chat/completions", "doubao-seed-1-6-250615", False,
                    body=_answer("doubao-seed-1-6-250615", {
                        "prompt_tokens": 4000, "completion_tokens": 700, "total_tokens": 4700,
                        "prompt_tokens_details": {"cached_tokens": 3072},
                        "completion_tokens_details": {"reasoning_tokens": 650},
                    })),
        "volcengine", 4000, 3072, 700, 650,
    ),
    # Doubao streamed with stream_options.include_usage (ARK, streaming: the last chunk
    # has empty choices and the usage). Read by hand: 64 in, 0 cached, 12 out.
    Case(
        "doubao-stream",
        {"preset": "volcengine", "base_url": "/api/v3"},
        "/api/v3/chat/completions",
        "doubao-seed-1-6-flash-250615",
        True,
        _transcript(ARK, "/api/v3/chat/completions", "doubao-seed-1-6-flash-250615", True, events=[
            _chunk("doubao-seed-1-6-flash-250615", {"role": "assistant", "content": "你好"}),
            _chunk("doubao-seed-1-6-flash-250615", {"content": "!"}, "stop"),
            _usage_chunk("doubao-seed-1-6-flash-250615", {
                "prompt_tokens": 64, "completion_tokens": 12, "total_tokens": 76,
                "prompt_tokens_details": {"cached_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0},
            }),
            "data: [DONE]",
        ]),
        "volcengine", 64, 0, 12,
    ),
]  # fmt: skip


def _config(case: Case, replay: str) -> dict[str, Any]:
    upstream = {**case.upstream, "base_url": replay + case.upstream["base_url"]}
    return {
        "upstreams": {"china": upstream},
        "routes": [{"match": "*", "upstream": "china"}],
    }


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


def _through_gateway(case: Case, tmp: Path, catalog: Catalog) -> tuple[Call, ReplayUpstream]:
    database = f"sqlite:///{tmp / 'ledger.sqlite3'}"
    with ReplayUpstream({case.name: case.transcript}) as replay, open_store(database) as store:
        writer = LedgerWriter(store, tmp / "spool.jsonl", flush_interval=0.02)
        with live_gateway(_config(case, replay.url), catalog, recorder=writer) as (url, _):
            sdk = openai.OpenAI(base_url=f"{url}/v1", api_key="sk-china-test-0000", max_retries=0)
            if case.stream:
                chunks = list(
                    sdk.chat.completions.create(model=case.model, messages=HELLO, stream=True)
                )
                assert chunks, "the stream reached the client"
            else:
                answer = sdk.chat.completions.create(model=case.model, messages=HELLO)
                assert answer.choices[0].message.content
            sdk.close()
        assert writer.close(timeout=20)
        calls = store.list(limit=10)
    assert len(calls) == 1
    return calls[0], replay


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_china_wire_is_recorded_with_its_tokens_and_provider(
    case: Case, tmp_path: Path, catalog: Catalog
) -> None:
    call, replay = _through_gateway(case, tmp_path, catalog)
    assert [(s.path, s.json["model"]) for s in replay.served] == [(case.path, case.model)]
    assert call.status == 200 and call.error is None, call.error
    assert call.provider == case.provider
    assert (call.model_requested, call.model_served) == (case.model, case.model)
    usage = call.usage
    assert usage.source == "reported"
    assert (usage.input_tokens, usage.cache_read_tokens) == (case.input_tokens, case.cache_read)
    assert (usage.output_tokens, usage.reasoning_tokens) == (case.output_tokens, case.reasoning)
    if case.cost is not None:
        assert call.cost is not None, call.cost_error
        assert call.cost.total == case.cost


def test_a_stream_asks_for_usage_where_the_host_documents_include_usage(
    tmp_path: Path, catalog: Catalog
) -> None:
    case = next(c for c in CASES if c.name == "doubao-stream")
    _, replay = _through_gateway(case, tmp_path, catalog)
    assert replay.served[0].json["stream_options"] == {"include_usage": True}


# --- the known hosts in the config --------------------------------------------------


@pytest.mark.parametrize(
    ("preset", "url", "provider"),
    [
        ("dashscope", "https://dashscope.aliyuncs.com/compatible-mode/v1", "alibaba-cn"),
        ("dashscope-intl", "https://dashscope-intl.aliyuncs.com/compatible-mode/v1", "alibaba"),
        ("moonshot", "https://api.moonshot.cn/v1", "moonshot-cn"),
        ("moonshot-intl", "https://api.moonshot.ai/v1", "moonshot"),
        ("zhipu", "https://open.bigmodel.cn/api/paas/v4", "zhipu"),
        ("zai", "https://api.z.ai/api/paas/v4", "zai"),
        ("volcengine", "https://ark.cn-beijing.volces.com/api/v3", "volcengine"),
    ],
)
def test_a_preset_names_the_documented_base_url_and_the_pricing_provider(
    preset: str, url: str, provider: str
) -> None:
    upstream = Upstream.model_validate({"preset": preset})
    assert (upstream.kind, upstream.base_url, upstream.price_provider) == ("openai", url, provider)
    # spelled out instead of named, the host alone picks the same provider
    spelled = Upstream.model_validate({"kind": "openai", "base_url": url})
    assert spelled.price_provider == provider


def test_a_versioned_base_url_is_the_api_root_as_in_the_openai_sdk() -> None:
    def url(base: str) -> str:
        return Upstream(kind="openai", base_url=base).url("/v1/chat/completions")

    assert url("https://open.bigmodel.cn/api/paas/v4") == (
        "https://open.bigmodel.cn/api/paas/v4/chat/completions"
    )
    assert url("https://ark.cn-beijing.volces.com/api/v3/") == (
        "https://ark.cn-beijing.volces.com/api/v3/chat/completions"
    )
    assert url("https://api.moonshot.cn/v1") == "https://api.moonshot.cn/v1/chat/completions"
    # unversioned, as before: the wire's /v1 is appended
    assert url("https://api.openai.com") == "https://api.openai.com/v1/chat/completions"
    assert url("http://127.0.0.1:8081/") == "http://127.0.0.1:8081/v1/chat/completions"


def test_an_unknown_preset_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"'qwen' is not a known upstream \(known: dashscope,"):
        GatewayConfig.model_validate({"upstreams": {"q": {"preset": "qwen"}}})


def test_an_explicit_provider_wins_over_the_host() -> None:
    upstream = Upstream.model_validate(
        {"preset": "moonshot", "provider": "moonshot", "api_key_env": "MOONSHOT_API_KEY"}
    )
    assert upstream.price_provider == "moonshot"
