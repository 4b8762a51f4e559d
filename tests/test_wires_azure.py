"""Azure OpenAI through the gateway (issue 17): deployment URLs
(``/openai/deployments/{deployment}/chat/completions?api-version=...`` and
``/embeddings``) and the v1 API (``/openai/v1/chat/completions``), with the
official ``openai`` SDK's ``AzureOpenAI`` client (and ``OpenAI`` for v1), into a
real SQLite ledger.

The gateway's config lists each deployment's model and type; the type picks the
provider id that prices it (global ``azure``, data zone ``azure-datazone``,
regional ``azure-regional``). The upstream replays responses in the shape of
the Azure OpenAI REST reference (URL beside each transcript; the counts are
composed in that shape). Tokens, provider and model are asserted here; the
costs at the Azure price files' rates are in tests/test_wires_costs.py.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from gateway_support import ListRecorder, live_gateway
from llmtally.catalog import Catalog
from llmtally.gateway.config import GatewayConfig
from llmtally.ledger import LedgerWriter, open_store
from llmtally.usage import Call
from replay_upstream import ReplayUpstream

REFERENCE = "https://learn.microsoft.com/en-us/azure/ai-foundry/openai/reference"
V1_REFERENCE = "https://learn.microsoft.com/en-us/azure/ai-foundry/openai/api-version-lifecycle"
API_VERSION = "2024-10-21"
HELLO: Any = [{"role": "user", "content": "Say hello."}]
JSON = {"content-type": "application/json"}
GATEWAY_KEY = "azure-gateway-key-5f0c2a9e"  # the upstream's key, from the environment
FILTERS = {"hate": {"filtered": False, "severity": "safe"}}


def _request(path: str, model: str | None, stream: bool = False) -> dict[str, Any]:
    return {"method": "POST", "path": path, "json": {"model": model, "stream": stream}}


TRANSCRIPTS: dict[str, dict[str, Any]] = {
    # REFERENCE, Chat completions - Create, 200 response (with prompt caching).
    # Read by hand: 1460 prompt tokens, 1280 of them cached, 45 completion tokens.
    "deployment-chat": {
        "source": REFERENCE,
        "request": _request("/openai/deployments/gpt4o-prod/chat/completions", "gpt4o-prod"),
        "response": {"status": 200, "headers": JSON, "body": {
            "id": "chatcmpl-AzA1", "object": "chat.completion", "created": 1765000000,
            "model": "gpt-4o-2024-11-20", "system_fingerprint": "fp_b705f0c291",
            "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": FILTERS}],
            "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                         "message": {"role": "assistant", "content": "Hello!"},
                         "content_filter_results": FILTERS}],
            "usage": {"prompt_tokens": 1460, "completion_tokens": 45, "total_tokens": 1505,
                      "prompt_tokens_details": {"cached_tokens": 1280, "audio_tokens": 0},
                      "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                                    "accepted_prediction_tokens": 0,
                                                    "rejected_prediction_tokens": 0}},
        }},
    },
    # REFERENCE, streamed: Azure's first chunk carries the prompt filter results with no
    # choices and an empty model; the include_usage chunk (no choices) ends it.
    # Read by hand: 10 prompt tokens, 6 completion tokens.
    "deployment-chat-stream": {
        "source": REFERENCE,
        "request": _request("/openai/deployments/mini-global/chat/completions", "mini-global",
                            stream=True),
        "response": {"status": 200, "headers": {"content-type": "text/event-stream"}},
        "events": [
            {"data": {"id": "", "object": "", "created": 0, "model": "", "choices": [],
                      "prompt_filter_results": [{"prompt_index": 0,
                                                 "content_filter_results": FILTERS}]}},
            {"data": {"id": "chatcmpl-AzS", "object": "chat.completion.chunk",
                      "created": 1765000000, "model": "gpt-4o-mini-2024-07-18",
                      "choices": [{"index": 0, "finish_reason": None,
                                   "delta": {"role": "assistant", "content": "Hello"}}]}},
            {"data": {"id": "chatcmpl-AzS", "object": "chat.completion.chunk",
                      "created": 1765000000, "model": "gpt-4o-mini-2024-07-18",
                      "choices": [{"index": 0, "finish_reason": "stop", "delta": {}}]}},
            {"data": {"id": "chatcmpl-AzS", "object": "chat.completion.chunk",
                      "created": 1765000000, "model": "gpt-4o-mini-2024-07-18",
                      "choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": 6,
                                               "total_tokens": 16}}},
            "data: [DONE]",
        ],
    },
    # REFERENCE, Embeddings - Create. Read by hand: 9 prompt tokens.
    "deployment-embeddings": {
        "source": REFERENCE,
        "request": _request("/openai/deployments/embed-eu/embeddings", "embed-eu"),
        "response": {"status": 200, "headers": JSON, "body": {
            "object": "list", "model": "text-embedding-3-small",
            "data": [{"object": "embedding", "index": 0, "embedding": [0.0023, -0.0091]}],
            "usage": {"prompt_tokens": 9, "total_tokens": 9},
        }},
    },
    # V1_REFERENCE: the v1 API takes the deployment in the body's "model".
    # Read by hand: 25 prompt tokens, 7 completion tokens.
    "v1-chat": {
        "source": V1_REFERENCE,
        "request": _request("/openai/v1/chat/completions", "gpt4o-prod"),
        "response": {"status": 200, "headers": JSON, "body": {
            "id": "chatcmpl-AzV1", "object": "chat.completion", "created": 1765000000,
            "model": "gpt-4o-2024-11-20",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "Hi."}}],
            "usage": {"prompt_tokens": 25, "completion_tokens": 7, "total_tokens": 32},
        }},
    },
}  # fmt: skip


def _config(url: str, key_env: str | None = "LLMTALLY_TEST_AZURE_KEY") -> dict[str, Any]:
    upstream: dict[str, Any] = {
        "kind": "azure",
        "base_url": url,
        "deployments": {
            "gpt4o-prod": {"model": "gpt-4o", "type": "datazone"},
            "mini-global": {"model": "gpt-4o-mini", "type": "global"},
            "embed-eu": {"model": "text-embedding-3-small", "type": "regional"},
        },
    }
    if key_env:
        upstream["api_key_env"] = key_env
    return {
        "upstreams": {"azure-eu": upstream},
        "routes": [{"match": "gpt4o-*", "upstream": "azure-eu"}],
    }


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, Call], Any]]:
    """Each transcript sent once through the gateway with the official SDKs,
    into one SQLite ledger: the calls by feature, and what the upstream was sent."""
    tmp = tmp_path_factory.mktemp("azure")
    patch = pytest.MonkeyPatch()
    patch.setenv("LLMTALLY_TEST_AZURE_KEY", GATEWAY_KEY)
    database = f"sqlite:///{tmp / 'ledger.sqlite3'}"
    with ReplayUpstream(TRANSCRIPTS) as replay, open_store(database) as store:
        writer = LedgerWriter(store, tmp / "spool.jsonl", flush_interval=0.02)
        with live_gateway(_config(replay.url), Catalog.load(), recorder=writer) as (url, _):
            _send_all(url)
        assert writer.close(timeout=20)
        calls = {str(call.feature): call for call in store.list(limit=20)}
    patch.undo()
    yield calls, replay


def _azure(url: str, feature: str) -> openai.AzureOpenAI:
    return openai.AzureOpenAI(
        azure_endpoint=url,
        api_key="client-azure-key-0000",
        api_version=API_VERSION,
        max_retries=0,
        default_headers={"x-llmtally-feature": feature},
    )


def _send_all(url: str) -> None:
    with _azure(url, "deployment-chat") as sdk:
        assert sdk.chat.completions.create(model="gpt4o-prod", messages=HELLO).usage
    with _azure(url, "deployment-chat-stream") as sdk:
        chunks = list(sdk.chat.completions.create(model="mini-global", messages=HELLO, stream=True))
        assert any(c.choices and c.choices[0].delta.content == "Hello" for c in chunks)
    with _azure(url, "deployment-embeddings") as sdk:
        assert len(sdk.embeddings.create(model="embed-eu", input="Hello").data) == 1
    v1 = openai.OpenAI(
        base_url=f"{url}/openai/v1/",
        api_key="client-azure-key-0000",
        max_retries=0,
        default_headers={"x-llmtally-feature": "v1-chat"},
    )
    with v1:
        assert v1.chat.completions.create(model="gpt4o-prod", messages=HELLO).usage


# name, provider, model requested, model served, prompt, cached, completion: read by
# hand off each transcript above
EXPECTED = [
    ("deployment-chat", "azure-datazone", "gpt-4o", "gpt-4o-2024-11-20", 1460, 1280, 45),
    ("deployment-chat-stream", "azure", "gpt-4o-mini", "gpt-4o-mini-2024-07-18", 10, 0, 6),
    ("deployment-embeddings", "azure-regional", "text-embedding-3-small",
     "text-embedding-3-small", 9, 0, 0),
    ("v1-chat", "azure-datazone", "gpt-4o", "gpt-4o-2024-11-20", 25, 0, 7),
]  # fmt: skip


@pytest.mark.parametrize("expected", EXPECTED, ids=[e[0] for e in EXPECTED])
def test_each_azure_call_is_recorded_with_its_deployment_s_provider_and_tokens(
    recorded: tuple[dict[str, Call], Any], expected: tuple[Any, ...]
) -> None:
    name, provider, requested, served, prompt, cached, completion = expected
    call = recorded[0][name]
    assert call.status == 200 and call.error is None, call.error
    assert (call.provider, call.model_requested, call.model_served) == (
        provider,
        requested,
        served,
    )
    usage = call.usage
    assert usage.source == "reported"
    assert (usage.input_tokens, usage.cache_read_tokens, usage.output_tokens) == (
        prompt,
        cached,
        completion,
    )


def test_the_deployment_paths_went_upstream_as_the_sdk_sent_them(
    recorded: tuple[dict[str, Call], Any],
) -> None:
    paths = [served.path for served in recorded[1].served]
    assert f"/openai/deployments/gpt4o-prod/chat/completions?api-version={API_VERSION}" in paths
    assert f"/openai/deployments/embed-eu/embeddings?api-version={API_VERSION}" in paths
    assert "/openai/v1/chat/completions" in paths
    assert recorded[0]["deployment-chat"].endpoint == (
        "/openai/deployments/gpt4o-prod/chat/completions"
    )


# --- keys: the gateway's api-key goes upstream; Entra tokens pass; none is stored ----


@pytest.fixture()
def echoing() -> Iterator[ReplayUpstream]:
    """An upstream that answers 401 repeating every key it was sent."""
    with ReplayUpstream(TRANSCRIPTS) as replay:
        replay.echo_key_status = 401
        yield replay


def test_the_gateway_s_own_key_goes_upstream_in_api_key_and_is_never_stored(
    echoing: ReplayUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMTALLY_TEST_AZURE_KEY", GATEWAY_KEY)
    with live_gateway(_config(echoing.url)) as (url, recorder):
        with _azure(url, "echo") as sdk, pytest.raises(openai.AuthenticationError) as caught:
            sdk.chat.completions.create(model="gpt4o-prod", messages=HELLO)
        call = recorder.next_call(0)
    # the upstream saw the gateway's key, not the client's
    assert GATEWAY_KEY in str(caught.value) and "client-azure-key" not in str(caught.value)
    _nothing_stored_holds(recorder, GATEWAY_KEY)
    assert call.provider == "azure-datazone" and call.status == 401


def test_an_entra_bearer_token_is_passed_on_and_never_stored(echoing: ReplayUpstream) -> None:
    token = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.entra-test-token"
    with live_gateway(_config(echoing.url, key_env=None)) as (url, recorder):
        sdk = openai.AzureOpenAI(
            azure_endpoint=url, azure_ad_token=token, api_version=API_VERSION, max_retries=0
        )
        with sdk, pytest.raises(openai.AuthenticationError) as caught:
            sdk.chat.completions.create(model="gpt4o-prod", messages=HELLO)
        recorder.next_call(0)
    assert token in str(caught.value)  # the upstream was sent it
    _nothing_stored_holds(recorder, token)


def _nothing_stored_holds(recorder: ListRecorder, secret: str) -> None:
    call = recorder.calls[0]
    bodies = [dataclasses.asdict(b) if b else None for b in recorder.bodies]
    stored = [call.error or "", json.dumps(bodies, default=str)]
    assert all(secret not in text for text in stored), stored
    assert "[redacted]" in (call.error or "")


# --- bad input: OpenAI's error shape -------------------------------------------------


@pytest.fixture(scope="module")
def plain_gateway() -> Iterator[str]:
    with ReplayUpstream(TRANSCRIPTS) as replay, live_gateway(_config(replay.url)) as (url, _):
        yield url


def test_an_unknown_deployment_is_a_404_in_openai_s_shape(plain_gateway: str) -> None:
    with _azure(plain_gateway, "x") as sdk, pytest.raises(openai.NotFoundError) as caught:
        sdk.chat.completions.create(model="nobody-deployed-this", messages=HELLO)
    assert "no route for deployment 'nobody-deployed-this'" in caught.value.message


@pytest.mark.parametrize(
    ("path", "body", "status", "words"),
    [
        ("/openai/v1/chat/completions", {"messages": HELLO}, 400, "has no 'model'"),
        ("/openai/deployments/gpt4o-prod/chat/completions", "{not json", 400, "malformed JSON"),
        ("/openai/deployments/gpt4o-prod/images/generations", {}, 404, "no such endpoint"),
        ("/openai/deployments/gpt4o-prod/chat/completions", [1, 2], 400, "a JSON object"),
    ],
)
def test_bad_requests_get_clear_errors_in_openai_s_shape(
    plain_gateway: str, path: str, body: Any, status: int, words: str
) -> None:
    content = body if isinstance(body, str) else json.dumps(body)
    reply = httpx.post(
        plain_gateway + path, content=content, headers={"content-type": "application/json"}
    )
    assert reply.status_code == status
    error = reply.json()["error"]
    assert words in error["message"] and set(error) == {"message", "type", "param", "code"}


def test_a_body_over_the_limit_is_refused() -> None:
    config = {**_config("http://127.0.0.1:9"), "max_body_bytes": 1024}
    with live_gateway(config) as (url, _):
        reply = httpx.post(
            f"{url}/openai/deployments/gpt4o-prod/chat/completions",
            content=b"{" + b" " * 2048 + b"}",
            headers={"content-type": "application/json"},
        )
    assert reply.status_code == 413
    assert "over the limit of 1024 bytes" in reply.json()["error"]["message"]


def test_deployments_belong_to_azure_upstreams_and_route_one_way() -> None:
    with pytest.raises(ValueError, match="only an azure upstream has them"):
        GatewayConfig.model_validate(
            {
                "upstreams": {
                    "o": {
                        "kind": "openai",
                        "base_url": "https://x",
                        "deployments": {"d": {"model": "gpt-4o"}},
                    }
                }
            }  # fmt: skip
        )
    twice = {"kind": "azure", "base_url": "https://x", "deployments": {"d": {"model": "m"}}}
    with pytest.raises(ValueError, match="'d' is named by upstreams.a too"):
        GatewayConfig.model_validate({"upstreams": {"a": twice, "b": twice}})
