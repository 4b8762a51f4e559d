"""Four facts of each call, recorded with it (``calls.request_sha256``,
``finish_reason``, ``max_output_tokens``, ``reasoning_effort``; migration m0013).

Each provider's request goes through the real gateway to a replay upstream that
answers in the provider's documented wire format, plain and streamed, and the
row the ledger stored is read back column by column (SQLite and PostgreSQL).
The expected SHA-256 is hashlib's over the exact bytes the test sent: that is
the definition of the column. The transcripts are built here, in the shapes of:

- OpenAI Chat Completions: https://platform.openai.com/docs/api-reference/chat/object
  and https://platform.openai.com/docs/api-reference/chat-streaming/streaming
  (``choices[0].finish_reason``: stop, length, tool_calls, content_filter,
  function_call);
- OpenAI Responses: https://platform.openai.com/docs/api-reference/responses/object
  and https://platform.openai.com/docs/api-reference/responses-streaming
  (``status``, ``incomplete_details.reason``);
- Anthropic Messages: https://docs.anthropic.com/en/api/messages and
  https://docs.anthropic.com/en/api/messages-streaming (``stop_reason``,
  ``message_delta.delta.stop_reason``);
- Gemini: https://ai.google.dev/api/generate-content#FinishReason
  (``candidates[0].finishReason``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import httpx
import httpx2
import openai
import pytest
from sqlalchemy import MetaData, Table, inspect, select

from gateway_support import ListRecorder, live_gateway
from instrument_support import catalog, recorded, recorded_calls  # noqa: F401
from llmtally.catalog import Catalog
from llmtally.ledger import LedgerWriter, Store, open_store
from llmtally.ledger.migrations import MIGRATIONS, migrate
from llmtally.ledger.rows import call_to_row, row_to_call
from llmtally.ledger.schema import (
    calls,
    calls_v1_columns,
    calls_v4_columns,
    calls_v7_columns,
    calls_v9_columns,
    calls_v11_columns,
)
from llmtally.ledger.spool import Spool
from llmtally.ledger.store import _engine
from llmtally.providers.request_facts import (
    finish_reason,
    max_output_tokens,
    reasoning_effort,
    request_sha256,
)
from llmtally.providers.streams import accumulator_for
from replay_upstream import ReplayUpstream
from test_ledger_support import db_url, full_call, pg_base_url, simple_call  # noqa: F401

FACTS = ("request_sha256", "finish_reason", "max_output_tokens", "reasoning_effort")
HELLO = [{"role": "user", "content": "Say hello."}]
SSE = {"content-type": "text/event-stream"}
JSON = {"content-type": "application/json"}
CHAT_USAGE = {"prompt_tokens": 10, "completion_tokens": 6, "total_tokens": 16}
RESPONSES_USAGE = {
    "input_tokens": 10,
    "input_tokens_details": {"cached_tokens": 0},
    "output_tokens": 6,
    "output_tokens_details": {"reasoning_tokens": 0},
    "total_tokens": 16,
}
ANTHROPIC_USAGE = {"input_tokens": 10, "output_tokens": 6}
GEMINI_USAGE = {"promptTokenCount": 10, "candidatesTokenCount": 6, "totalTokenCount": 16}


# -- the transcripts, in each provider's documented shape ---------------------------


def _transcript(path: str, request: dict[str, Any], **answer: Any) -> dict[str, Any]:
    """One replay transcript: ``body=`` a JSON answer, or ``events=`` a stream."""
    status = {"status": 200, "headers": SSE if "events" in answer else JSON}
    if "body" in answer:
        status["body"] = answer["body"]
    transcript = {"request": {"method": "POST", "path": path, "json": request}, "response": status}
    if "events" in answer:
        transcript["events"] = answer["events"]
    return transcript


def _chat(model: str, reason: str, stream: bool) -> dict[str, Any]:
    request = {"model": model, "stream": stream}
    if not stream:
        choice = {"index": 0, "message": {"role": "assistant", "content": "Hi"}}
        body = {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": model,
            "choices": [{**choice, "finish_reason": reason}],
            "usage": CHAT_USAGE,
        }
        return _transcript("/v1/chat/completions", request, body=body)
    chunk = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": model}
    events = [
        {"data": {**chunk, "choices": [{"index": 0, "delta": {"content": "Hi"}}]}},
        {"data": {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": reason}]}},
        {"data": {**chunk, "choices": [], "usage": CHAT_USAGE}},
        "data: [DONE]",
    ]
    return _transcript("/v1/chat/completions", request, events=events)


TEXT_OUT = [{"type": "message", "role": "assistant", "content": [{"type": "output_text"}]}]
CALL_OUT = [{"type": "function_call", "name": "weather", "arguments": "{}", "call_id": "c1"}]


def _responses(
    model: str, status: str, reason: str | None, stream: bool, output: list[Any] = TEXT_OUT
) -> dict[str, Any]:
    request = {"model": model, "stream": stream}
    details = {"reason": reason} if reason else None
    final = {"id": "resp_1", "object": "response", "model": model, "status": status}
    final |= {"incomplete_details": details, "output": output, "usage": RESPONSES_USAGE}
    if not stream:
        return _transcript("/v1/responses", request, body=final)
    started = {**final, "status": "in_progress", "incomplete_details": None, "usage": None}
    events = [
        {"event": "response.created", "data": {"type": "response.created", "response": started}},
        {
            "event": "response.output_text.delta",
            "data": {"type": "response.output_text.delta", "delta": "Hi"},
        },
        {"event": f"response.{status}", "data": {"type": f"response.{status}", "response": final}},
    ]
    return _transcript("/v1/responses", request, events=events)


def _anthropic(model: str, reason: str, stream: bool) -> dict[str, Any]:
    request = {"model": model, "stream": stream}
    message = {"id": "msg_1", "type": "message", "role": "assistant", "model": model}
    if not stream:
        body = {
            **message,
            "content": [{"type": "text", "text": "Hi"}],
            "stop_reason": reason,
            "stop_sequence": None,
            "usage": ANTHROPIC_USAGE,
        }
        return _transcript("/v1/messages", request, body=body)
    start = {**message, "content": [], "stop_reason": None, "usage": {"input_tokens": 10}}
    delta = {"type": "text_delta", "text": "Hi"}
    events = [
        {"event": "message_start", "data": {"type": "message_start", "message": start}},
        {"event": "content_block_delta", "data": {"type": "content_block_delta", "delta": delta}},
        {
            "event": "message_delta",
            "data": {
                "type": "message_delta",
                "delta": {"stop_reason": reason, "stop_sequence": None},
                "usage": {"output_tokens": 6},
            },
        },
        {"event": "message_stop", "data": {"type": "message_stop"}},
    ]
    return _transcript("/v1/messages", request, events=events)


def _gemini(model: str, reason: str, stream: bool) -> dict[str, Any]:
    verb = "streamGenerateContent" if stream else "generateContent"
    path = f"/v1beta/models/{model}:{verb}"
    content = {"role": "model", "parts": [{"text": "Hi"}]}
    last = {
        "candidates": [{"content": content, "finishReason": reason, "index": 0}],
        "usageMetadata": GEMINI_USAGE,
        "modelVersion": model,
    }
    if not stream:
        return _transcript(path, {}, body=last)
    first = {"candidates": [{"content": content, "index": 0}], "modelVersion": model}
    return _transcript(path, {}, events=[{"data": first}, {"data": last}])


# -- through the gateway into the ledger ---------------------------------------------


def _path(transcript: dict[str, Any]) -> str:
    path: str = transcript["request"]["path"]
    return path + "?alt=sse" if path.endswith(":streamGenerateContent") else path


def _stored(
    db: str, tmp_path: Path, transcript: dict[str, Any], sent: bytes
) -> tuple[dict[str, Any], ReplayUpstream]:
    """The four columns of the row stored for ``sent`` (the exact request bytes)
    through the gateway to an upstream that answers with ``transcript``."""
    config = {
        "upstreams": {
            "openai": {"kind": "openai", "base_url": "{url}"},
            "anthropic": {"kind": "anthropic", "base_url": "{url}"},
            "google": {"kind": "gemini", "base_url": "{url}"},
        },
        "routes": [
            {"match": "claude-*", "upstream": "anthropic"},
            {"match": "gemini-*", "upstream": "google"},
            {"match": "*", "upstream": "openai"},
        ],
    }
    headers = {"content-type": "application/json", "x-api-key": "k", "authorization": "Bearer k"}
    with ReplayUpstream({"case": transcript}) as upstream, open_store(db) as store:
        filled = json.loads(json.dumps(config).replace("{url}", upstream.url))
        writer = LedgerWriter(store, tmp_path / "spool.jsonl", flush_interval=0.02)
        with live_gateway(filled, Catalog.load(), recorder=writer) as (url, _):
            answer = httpx.post(url + _path(transcript), content=sent, headers=headers)
            assert answer.status_code == 200, answer.text
        assert writer.close(timeout=20)
        with store.engine.connect() as conn:
            rows = conn.execute(select(*(calls.c[name] for name in FACTS))).mappings().all()
    assert len(rows) == 1
    return dict(rows[0]), upstream


def _bytes(request: dict[str, Any]) -> bytes:
    # Spaced and indented as no serialiser of ours writes it: the hash is of these bytes.
    return json.dumps(request, indent=3).encode()


def _expect(sent: bytes, reason: str | None, cap: int | None, effort: str | None) -> Any:
    return {
        "request_sha256": hashlib.sha256(sent).hexdigest(),
        "finish_reason": reason,
        "max_output_tokens": cap,
        "reasoning_effort": effort,
    }


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize(("raw", "reason"), [("stop", "stop"), ("length", "length")])
def test_openai_chat_facts_are_stored(
    db_url: str,  # noqa: F811
    tmp_path: Path,
    stream: bool,
    raw: str,
    reason: str,
) -> None:
    request = {
        "model": "gpt-4o-mini",
        "messages": HELLO,
        "max_completion_tokens": 300,
        "reasoning_effort": "low",
        "stream": stream,
    }
    sent = _bytes(request)
    row, upstream = _stored(db_url, tmp_path, _chat("gpt-4o-mini", raw, stream), sent)
    assert row == _expect(sent, reason, 300, "low")
    if stream:  # the upstream got the body rewritten (usage asked for); the hash is the client's
        assert upstream.served[0].json["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize(
    ("status", "raw", "reason"),
    [("completed", None, "stop"), ("incomplete", "max_output_tokens", "length")],
)
def test_openai_responses_facts_are_stored(
    db_url: str,  # noqa: F811
    tmp_path: Path,
    stream: bool,
    status: str,
    raw: str | None,
    reason: str,
) -> None:
    request = {
        "model": "gpt-5-mini",
        "input": "Say hello.",
        "max_output_tokens": 50,
        "reasoning": {"effort": "medium"},
        "stream": stream,
    }
    sent = _bytes(request)
    row, _ = _stored(db_url, tmp_path, _responses("gpt-5-mini", status, raw, stream), sent)
    assert row == _expect(sent, reason, 50, "medium")


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize(("raw", "reason"), [("end_turn", "stop"), ("max_tokens", "length")])
def test_anthropic_facts_are_stored(
    db_url: str,  # noqa: F811
    tmp_path: Path,
    stream: bool,
    raw: str,
    reason: str,
) -> None:
    model = "claude-sonnet-4-20250514"
    request = {
        "model": model,
        "max_tokens": 2048,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "messages": HELLO,
        "stream": stream,
    }
    sent = _bytes(request)
    row, _ = _stored(db_url, tmp_path, _anthropic(model, raw, stream), sent)
    assert row == _expect(sent, reason, 2048, "budget:1024")


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize(("raw", "reason"), [("STOP", "stop"), ("MAX_TOKENS", "length")])
def test_gemini_facts_are_stored(
    db_url: str,  # noqa: F811
    tmp_path: Path,
    stream: bool,
    raw: str,
    reason: str,
) -> None:
    request = {
        "contents": [{"role": "user", "parts": [{"text": "Say hello."}]}],
        "generationConfig": {"maxOutputTokens": 100, "thinkingConfig": {"thinkingBudget": 512}},
    }
    sent = _bytes(request)
    row, _ = _stored(db_url, tmp_path, _gemini("gemini-2.5-flash", raw, stream), sent)
    assert row == _expect(sent, reason, 100, "budget:512")


# Every other documented reason, plain, through the gateway (SQLite).
OTHER_REASONS = [
    ("chat-tool_calls", _chat("gpt-4o", "tool_calls", False), "tool_calls"),
    ("chat-function_call", _chat("gpt-4o", "function_call", False), "tool_calls"),
    ("chat-content_filter", _chat("gpt-4o", "content_filter", False), "content_filter"),
    ("chat-unknown", _chat("gpt-4o", "eos_token", False), "other"),
    ("chat-stream-tool_calls", _chat("gpt-4o", "tool_calls", True), "tool_calls"),
    ("responses-function_call", _responses("o3", "completed", None, False, CALL_OUT), "tool_calls"),
    (
        "responses-content_filter",
        _responses("o3", "incomplete", "content_filter", False),
        "content_filter",
    ),
    ("responses-failed", _responses("o3", "failed", None, True), "other"),
    ("anthropic-stop_sequence", _anthropic("claude-haiku-4-5", "stop_sequence", False), "stop"),
    ("anthropic-tool_use", _anthropic("claude-haiku-4-5", "tool_use", False), "tool_calls"),
    ("anthropic-refusal", _anthropic("claude-haiku-4-5", "refusal", True), "content_filter"),
    ("anthropic-pause_turn", _anthropic("claude-haiku-4-5", "pause_turn", False), "other"),
    ("gemini-SAFETY", _gemini("gemini-2.5-pro", "SAFETY", False), "content_filter"),
    ("gemini-RECITATION", _gemini("gemini-2.5-pro", "RECITATION", False), "content_filter"),
    ("gemini-BLOCKLIST", _gemini("gemini-2.5-pro", "BLOCKLIST", True), "content_filter"),
    (
        "gemini-PROHIBITED_CONTENT",
        _gemini("gemini-2.5-pro", "PROHIBITED_CONTENT", False),
        "content_filter",
    ),
    ("gemini-OTHER", _gemini("gemini-2.5-pro", "OTHER", False), "other"),
]


@pytest.mark.parametrize(
    ("transcript", "reason"),
    [case[1:] for case in OTHER_REASONS],
    ids=[c[0] for c in OTHER_REASONS],
)
def test_each_documented_finish_reason_is_normalised(
    tmp_path: Path, transcript: dict[str, Any], reason: str
) -> None:
    request = dict(transcript["request"]["json"])
    path = transcript["request"]["path"]
    if not path.startswith("/v1beta"):  # Gemini's asks for contents (none: it is garbage-proof)
        request["input" if path == "/v1/responses" else "messages"] = HELLO
    sent = _bytes(request)
    row, _ = _stored(f"sqlite:///{tmp_path / 'l.sqlite3'}", tmp_path, transcript, sent)
    assert row["finish_reason"] == reason
    assert row["request_sha256"] == hashlib.sha256(sent).hexdigest()


GARBAGE: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "chat",
        _chat("gpt-4o", "stop", False),
        {"max_completion_tokens": "300", "max_tokens": True, "reasoning_effort": 3},
    ),
    (
        "responses",
        _responses("o3", "completed", None, False),
        {"max_output_tokens": 1.5, "reasoning": {"effort": "x" * 33}},
    ),
    (
        "anthropic",
        _anthropic("claude-haiku-4-5", "end_turn", False),
        {"max_tokens": -5, "thinking": {"type": "enabled", "budget_tokens": "1024"}},
    ),
    (
        "gemini",
        _gemini("gemini-2.5-pro", "STOP", False),
        {"generationConfig": {"maxOutputTokens": 10**30, "thinkingConfig": [512]}},
    ),
]


@pytest.mark.parametrize(
    ("transcript", "extra"), [g[1:] for g in GARBAGE], ids=[g[0] for g in GARBAGE]
)
def test_absent_or_garbage_request_fields_are_null(
    tmp_path: Path, transcript: dict[str, Any], extra: dict[str, Any]
) -> None:
    bare = dict(transcript["request"]["json"])
    for n, request in enumerate((bare, {**bare, **extra})):
        sent = _bytes(request)
        (tmp_path / str(n)).mkdir()
        row, _ = _stored(
            f"sqlite:///{tmp_path / str(n) / 'l.sqlite3'}", tmp_path / str(n), transcript, sent
        )
        assert row["max_output_tokens"] is None and row["reasoning_effort"] is None, request
        assert row["request_sha256"] == hashlib.sha256(sent).hexdigest()


def test_a_stream_cut_before_its_reason_has_none(tmp_path: Path) -> None:
    transcript = _anthropic("claude-haiku-4-5", "end_turn", True)
    transcript["events"] = transcript["events"][:2]  # message_start, one delta, then the end
    sent = _bytes({"model": "claude-haiku-4-5", "max_tokens": 64, "stream": True})
    with ReplayUpstream({"case": transcript}) as upstream:
        config = {
            "upstreams": {"anthropic": {"kind": "anthropic", "base_url": upstream.url}},
            "routes": [{"match": "*", "upstream": "anthropic"}],
        }
        with live_gateway(config) as (url, recorder):
            httpx.post(url + "/v1/messages", content=sent, headers=JSON)
            call = recorder.next_call(0)
    assert call.status == 502 and call.finish_reason is None  # never said why it stopped
    assert call.max_output_tokens == 64
    assert call.request_sha256 == hashlib.sha256(sent).hexdigest()


def test_the_sdk_instrumentation_records_the_facts_as_the_gateway_does(
    replay_upstream: ReplayUpstream,
    recorded: ListRecorder,  # noqa: F811
) -> None:
    # tests/fixtures/transcripts/openai_chat.json and openai_chat_stream_usage.json
    # both end with finish_reason "stop"
    sent: list[bytes] = []

    class Keeping(httpx2.HTTPTransport):  # keeps each request's bytes as the SDK sent them
        def handle_request(self, request: httpx2.Request) -> httpx2.Response:
            sent.append(request.read())
            return super().handle_request(request)

    hook = httpx2.Client(transport=Keeping())
    client = openai.OpenAI(
        base_url=f"{replay_upstream.url}/v1", api_key="sk-test", max_retries=0, http_client=hook
    )
    with client:
        client.chat.completions.create(
            model="gpt-4o", messages=HELLO, max_completion_tokens=64, reasoning_effort="low"
        )
        made = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=HELLO,
            max_tokens=32,
            stream=True,
            stream_options={"include_usage": True},
        )
        list(made)
    plain, streamed = recorded_calls(recorded, 2)
    assert [plain.request_sha256, streamed.request_sha256] == [
        hashlib.sha256(body).hexdigest() for body in sent
    ]
    facts = [(c.finish_reason, c.max_output_tokens, c.reasoning_effort) for c in (plain, streamed)]
    assert facts == [("stop", 64, "low"), ("stop", 32, None)]


# -- the readers on hostile input ----------------------------------------------------


def test_no_json_body_has_no_hash() -> None:
    assert request_sha256(None) is None and request_sha256(b"") is None
    # SHA-256 of the three bytes "abc" (FIPS 180-2, appendix B.1)
    assert request_sha256(b"abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        "stop",
        {"choices": "stop"},
        {"choices": [None]},
        {"choices": [{"finish_reason": 7}]},
        {"choices": [{"finish_reason": ""}]},
        {"choices": []},
    ],
)
def test_a_response_of_the_wrong_shape_has_no_finish_reason(body: object) -> None:
    assert finish_reason("openai_chat", body) is None


def test_the_readers_never_raise_on_hostile_requests() -> None:
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(100_000):  # far deeper than any recursion limit
        node["generationConfig"] = {}
        node = node["generationConfig"]
    wires = ("openai_chat", "openai_responses", "anthropic", "gemini", "openai_embeddings")
    hostile: list[object] = [
        deep,
        None,
        [1, 2],
        "text",
        {"generationConfig": "x", "reasoning": 5, "thinking": [], "max_tokens": None},
        {"max_tokens": 2**80, "thinking": {"type": "enabled"}},
        {"reasoning_effort": "high\n", "max_completion_tokens": 0},
        {"generationConfig": {"thinkingConfig": {"thinkingBudget": 2**80}}},
    ]
    for wire in wires:
        for request in hostile:
            assert max_output_tokens(wire, request) is None, (wire, request)
            assert reasoning_effort(wire, request) is None, (wire, request)
            assert finish_reason(wire, request) is None, (wire, request)


def test_each_effort_and_cap_is_read_where_its_wire_keeps_it() -> None:
    assert max_output_tokens("openai_chat", {"max_tokens": 77}) == 77  # the older name
    assert max_output_tokens("openai_chat", {"max_completion_tokens": 5, "max_tokens": 9}) == 5
    level = {"generationConfig": {"thinkingConfig": {"thinkingLevel": "high"}}}
    assert reasoning_effort("gemini", level) == "high"
    dynamic = {"generationConfig": {"thinkingConfig": {"thinkingBudget": -1}}}
    assert reasoning_effort("gemini", dynamic) == "budget:-1"
    assert reasoning_effort("anthropic", {"thinking": {"type": "disabled"}}) is None
    assert reasoning_effort("openai_chat", {"reasoning_effort": "x" * 32}) == "x" * 32
    assert reasoning_effort("openai_chat", {"reasoning_effort": "x" * 33}) is None
    # embeddings, images and audio have no cap, effort or reason
    assert max_output_tokens("openai_embeddings", {"max_tokens": 5}) is None


def test_a_stream_keeps_the_last_reason_said() -> None:
    acc = accumulator_for("openai_chat")
    chunk = {"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]}
    other_choice = {"choices": [{"index": 1, "delta": {}, "finish_reason": "stop"}]}
    for payload in (chunk, other_choice, {"choices": [], "usage": CHAT_USAGE}):
        acc.feed(b"data: " + json.dumps(payload).encode() + b"\n\n")
    assert acc.finish_reason == "length"  # choices[0]'s; the usage chunk says nothing


# -- the ledger ----------------------------------------------------------------------


def test_m0013_on_a_ledger_left_at_m0012_keeps_its_rows_and_adds_the_columns(
    db_url: str,  # noqa: F811
) -> None:
    engine = _engine(db_url)
    assert migrate(engine, [m for m in MIGRATIONS if m[0] < "m0013"])[-1] == (
        "m0012_provider_reports"
    )
    old = Table(
        "calls",
        MetaData(),
        *calls_v1_columns(),
        *calls_v4_columns(),
        *calls_v7_columns(),
        *calls_v9_columns(),
        *calls_v11_columns(),
    )
    before = [full_call(), simple_call(7)]
    with engine.connect() as conn, conn.begin():
        rows = [call_to_row(c) for c in before]
        conn.execute(old.insert(), [{k: r[k] for k in old.c.keys()} for r in rows])
    assert not set(FACTS) & {c["name"] for c in inspect(engine).get_columns("calls")}
    assert migrate(engine) == [name for name, _ in MIGRATIONS if name >= "m0013"]
    assert set(FACTS) <= {c["name"] for c in inspect(engine).get_columns("calls")}
    ledger = Store(engine)
    try:
        assert ledger.count() == 2
        for call in before:  # every field as it was; the facts unknown
            back = ledger.get(call.id)
            assert back is not None
            assert all(getattr(back, name) is None for name in FACTS)
            assert dataclasses.replace(back, cost=None) == dataclasses.replace(call, cost=None)
        facts = {
            "request_sha256": "ab" * 32,
            "finish_reason": "length",
            "max_output_tokens": 4096,
            "reasoning_effort": "budget:1024",
        }
        new = simple_call(9, **facts)
        ledger.insert_many([new])
        back = ledger.get(new.id)
        assert back is not None and {name: getattr(back, name) for name in FACTS} == facts
    finally:
        ledger.close()


def test_a_spool_line_written_before_m0013_replays_with_no_facts(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.jsonl")
    spool.append([(call_to_row(simple_call(finish_reason="stop")), None)])
    line = json.loads(spool.path.read_text())
    for name in FACTS:  # as an older llmtally wrote it
        del line["call"][name]
    spool.path.write_text(json.dumps(line) + "\n")
    [(_, (row, _))] = list(spool.read(spool.path))
    call = row_to_call(row)
    assert all(getattr(call, name) is None for name in FACTS)
