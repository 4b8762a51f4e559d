"""Every wire x provider pair that can occur, through the gateway into the real
ledger (SQLite and PostgreSQL), with the official SDKs: exact tokens and cost.

The pairs: OpenAI Chat, Responses and embeddings to OpenAI; OpenAI Chat to
Anthropic's OpenAI-compatible endpoint; OpenAI Chat and embeddings to Google's
(``/v1beta/openai``); OpenAI Chat, Responses and embeddings to OpenAI-compatible
hosts (Groq, xAI, Mistral); Anthropic Messages; Gemini ``generateContent``;
each that streams, streamed and not. Upstreams replay the transcripts in
tests/fixtures/transcripts (each cites its API reference).

Every expected cost is worked out by hand below from the transcript's usage and
the provider's published price per 1M tokens, never by llmtally's meter.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from google import genai
from google.genai import types as genai_types

from gateway_support import live_gateway
from llmtally.catalog import Catalog
from llmtally.ledger import LedgerWriter, Store, open_store
from llmtally.usage import Call
from replay_upstream import ReplayUpstream
from test_ledger_support import BACKENDS, pg_base_url, pg_schema  # noqa: F401

HELLO: Any = [{"role": "user", "content": "Say hello."}]
Send = Callable[[str, dict[str, str]], None]


@dataclass(frozen=True)
class Pair:
    name: str
    provider: str
    endpoint: str
    input_tokens: int
    output_tokens: int
    cost: Decimal  # worked out by hand in the comment beside it
    cache_read: int = 0
    reasoning: int = 0


PAIRS = [
    # gpt-4o $2.50 in / $10 out: 19 x 2.50 + 10 x 10 = 147.5 micro-dollars
    Pair("openai-chat", "openai", "/v1/chat/completions", 19, 10, Decimal("0.0001475")),
    # gpt-4o-mini $0.15 / $0.60: 10 x 0.15 + 6 x 0.60 = 5.1
    Pair("openai-chat-stream", "openai", "/v1/chat/completions", 10, 6, Decimal("0.0000051")),
    # gpt-4.1 $2 / $8: 36 x 2 + 87 x 8 = 768
    Pair("openai-responses", "openai", "/v1/responses", 36, 87, Decimal("0.000768")),
    # gpt-4.1, 1536 of 2048 cached at $0.50: 512 x 2 + 1536 x 0.5 + 20 x 8 = 1952
    Pair("openai-responses-stream", "openai", "/v1/responses", 2048, 20, Decimal("0.001952"), 1536),
    # text-embedding-3-small $0.02: 8 x 0.02 = 0.16
    Pair("openai-embeddings", "openai", "/v1/embeddings", 8, 0, Decimal("0.00000016")),
    # claude-sonnet-4-5 $3 / $15 through /v1/chat/completions: 23 x 3 + 12 x 15 = 249
    Pair("anthropic-chat", "anthropic", "/v1/chat/completions", 23, 12, Decimal("0.000249")),
    Pair("anthropic-chat-stream", "anthropic", "/v1/chat/completions", 23, 12, Decimal("0.000249")),
    # gemini-2.5-flash $0.30 / $2.50; output = total 662 - prompt 8 = 654 (645 of it
    # thoughts): 8 x 0.30 + 654 x 2.50 = 1637.4
    Pair("google-chat", "google", "/v1/chat/completions", 8, 654, Decimal("0.0016374"), 0, 645),
    Pair("google-chat-stream", "google", "/v1/chat/completions", 8, 654, Decimal("0.0016374"),
         0, 645),
    # gemini-embedding-001 $0.15: 8 x 0.15 = 1.2
    Pair("google-embeddings", "google", "/v1/embeddings", 8, 0, Decimal("0.0000012")),
    # Groq llama-3.3-70b-versatile $0.59 / $0.79: 18 x 0.59 + 556 x 0.79 = 449.86
    Pair("groq-chat", "groq", "/v1/chat/completions", 18, 556, Decimal("0.00044986")),
    Pair("groq-chat-stream", "groq", "/v1/chat/completions", 18, 556, Decimal("0.00044986")),
    # xAI grok-4 (served as grok-4-0709, retired 2026-05-15 and billed since at grok-4.3's
    # $1.25 / cached $0.20 / $2.50): 27 x 1.25 + 98 x 0.20 + 48 x 2.50 = 173.35
    Pair("xai-responses", "xai", "/v1/responses", 125, 48, Decimal("0.00017335"), 98),
    # mistral-embed $0.10: 15 x 0.10 = 1.5
    Pair("mistral-embeddings", "mistral", "/v1/embeddings", 15, 0, Decimal("0.0000015")),
    # claude-sonnet-4 $3, 5-minute cache write $3.75, $15: 2095 uncached + 2051 written;
    # 2095 x 3 + 2051 x 3.75 + 503 x 15 = 21521.25
    Pair("anthropic-messages", "anthropic", "/v1/messages", 4146, 503, Decimal("0.02152125")),
    # 25 uncached + 1800 read at $0.30: 25 x 3 + 1800 x 0.30 + 15 x 15 = 840
    Pair("anthropic-messages-stream", "anthropic", "/v1/messages", 1825, 15, Decimal("0.00084"),
         1800),
    # gemini-2.5-flash: 8 x 0.30 + (9 + 645) x 2.50 = 1637.4
    Pair("gemini-native", "google", ":generateContent", 8, 654, Decimal("0.0016374"), 0, 645),
    # 4120 prompt, 4096 cached at $0.03, 24 + 310 out: 24 x 0.3 + 4096 x 0.03 + 334 x 2.5 = 965.08
    Pair("gemini-native-stream", "google", ":streamGenerateContent", 4120, 334,
         Decimal("0.00096508"), 4096, 310),
]  # fmt: skip


def _config(url: str) -> dict[str, Any]:
    def host(kind: str, provider: str | None = None) -> dict[str, Any]:
        return {"kind": kind, "base_url": url, **({"provider": provider} if provider else {})}

    return {
        "upstreams": {
            "openai": host("openai"),
            "anthropic": host("anthropic"),
            "google": host("gemini"),
            "groq": host("openai", "groq"),
            "xai": host("openai", "xai"),
            "mistral": host("openai", "mistral"),
        },
        "routes": [
            {"match": "claude-*", "upstream": "anthropic"},
            {"match": "gemini-*", "upstream": "google"},
            {"match": "llama-*", "upstream": "groq"},
            {"match": "grok-*", "upstream": "xai"},
            {"match": "mistral-*", "upstream": "mistral"},
            {"match": "*", "upstream": "openai"},
        ],
    }


def _openai_calls(url: str) -> dict[str, Callable[[openai.OpenAI], object]]:
    def chat(model: str, stream: bool = False) -> Callable[[openai.OpenAI], object]:
        def send(sdk: openai.OpenAI) -> object:
            if stream:
                return list(sdk.chat.completions.create(model=model, messages=HELLO, stream=True))
            return sdk.chat.completions.create(model=model, messages=HELLO)

        return send

    return {
        "openai-chat": chat("gpt-4o"),
        "openai-chat-stream": chat("gpt-4o-mini", stream=True),
        "openai-responses": lambda sdk: sdk.responses.create(model="gpt-4.1", input="Hi"),
        "openai-responses-stream": lambda sdk: list(
            sdk.responses.create(model="gpt-4.1", input="Hi", stream=True)
        ),
        "openai-embeddings": lambda sdk: sdk.embeddings.create(
            model="text-embedding-3-small", input="The food was delicious."
        ),
        "anthropic-chat": chat("claude-sonnet-4-5"),
        "anthropic-chat-stream": chat("claude-sonnet-4-5", stream=True),
        "google-chat": chat("gemini-2.5-flash"),
        "google-chat-stream": chat("gemini-2.5-flash", stream=True),
        "google-embeddings": lambda sdk: sdk.embeddings.create(
            model="gemini-embedding-001", input="The food was delicious."
        ),
        "groq-chat": chat("llama-3.3-70b-versatile"),
        "groq-chat-stream": chat("llama-3.3-70b-versatile", stream=True),
        "xai-responses": lambda sdk: sdk.responses.create(
            model="grok-4", instructions="You are terse.", input="Capital of France?"
        ),
        "mistral-embeddings": lambda sdk: sdk.embeddings.create(
            model="mistral-embed", input=["Embed this sentence."]
        ),
    }


def _headers(name: str) -> dict[str, str]:
    return {
        "x-llmtally-feature": name,
        "x-llmtally-user": f"user-{name}",
        "x-llmtally-trace-id": "trace-pairs",
        "x-llmtally-parent-id": f"parent-{name}",
    }


def _send_all(url: str) -> None:
    sdk = openai.OpenAI(base_url=f"{url}/v1", api_key="sk-test", max_retries=0)
    for name, send in _openai_calls(url).items():
        send(sdk.with_options(default_headers=_headers(name)))
    sdk.close()
    claude = anthropic.Anthropic(base_url=url, api_key="sk-ant-test", max_retries=0)
    claude.with_options(default_headers=_headers("anthropic-messages")).messages.create(
        model="claude-sonnet-4-20250514", max_tokens=1024, messages=HELLO
    )
    with claude.with_options(default_headers=_headers("anthropic-messages-stream")).messages.stream(
        model="claude-sonnet-4-20250514", max_tokens=256, messages=HELLO
    ) as stream:
        stream.get_final_message()
    claude.close()
    for name, streaming in (("gemini-native", False), ("gemini-native-stream", True)):
        options = genai_types.HttpOptions(
            base_url=url, api_version="v1beta", headers=_headers(name)
        )
        client = genai.Client(api_key="g-test", http_options=options)
        if streaming:
            list(client.models.generate_content_stream(model="gemini-2.5-flash", contents="Hi"))
        else:
            client.models.generate_content(model="gemini-2.5-flash", contents="Hi")
        client.close()


@contextlib.contextmanager
def _ledger(backend: str, tmp: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp / 'ledger.sqlite3'}"
        return
    with pg_schema(request.getfixturevalue("pg_base_url")) as url:
        yield url


@pytest.fixture(scope="module", params=BACKENDS)
def recorded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[dict[str, Call], ReplayUpstream]]:
    """Every pair sent once through one gateway into one ledger: calls by feature."""
    tmp = tmp_path_factory.mktemp(request.param)
    with ReplayUpstream() as upstream, _ledger(request.param, tmp, request) as url:
        with open_store(url) as store:
            # db_timeout 30: a shared machine's PostgreSQL can stall past the default 2 s on
            # an fsync (seen in CI), which sends the batch to the spool; these tests check
            # what is recorded, the spool path has tests of its own
            writer = LedgerWriter(store, tmp / "spool.jsonl", flush_interval=0.02, db_timeout=30)
            with live_gateway(_config(upstream.url), Catalog.load(), recorder=writer) as (gw, _):
                _send_all(gw)
            assert writer.close(timeout=20)
            yield _by_feature(store), upstream


def _by_feature(store: Store) -> dict[str, Call]:
    calls = store.list(limit=100)
    assert len(calls) == len(PAIRS), sorted(str(c.feature) for c in calls)
    return {str(call.feature): call for call in calls}


@pytest.mark.parametrize("pair", PAIRS, ids=[p.name for p in PAIRS])
def test_each_pair_is_recorded_with_exact_tokens_and_cost(
    recorded: tuple[dict[str, Call], ReplayUpstream], pair: Pair
) -> None:
    call = recorded[0][pair.name]
    assert call.status == 200 and call.error is None, call.error
    assert call.provider == pair.provider
    assert call.endpoint.endswith(pair.endpoint)
    usage = call.usage
    assert (usage.input_tokens, usage.output_tokens) == (pair.input_tokens, pair.output_tokens)
    assert (usage.cache_read_tokens, usage.reasoning_tokens) == (pair.cache_read, pair.reasoning)
    assert usage.source == "reported"
    assert call.cost is not None, call.cost_error
    assert call.cost.total == pair.cost
    assert call.user == f"user-{pair.name}"
    assert (call.trace_id, call.parent_id) == ("trace-pairs", f"parent-{pair.name}")


def test_compatible_endpoints_were_reached_at_their_own_paths(
    recorded: tuple[dict[str, Call], ReplayUpstream],
) -> None:
    paths = {(s.path, (s.json or {}).get("model")) for s in recorded[1].served}
    assert ("/v1beta/openai/chat/completions", "gemini-2.5-flash") in paths
    assert ("/v1beta/openai/embeddings", "gemini-embedding-001") in paths
    assert ("/v1/chat/completions", "claude-sonnet-4-5") in paths
