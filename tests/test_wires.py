"""The wire descriptions: which paths take which format, where a request keeps
its prompt parts (counted by role), the system-prompt fingerprint, and the
gateway's JSON answers for paths, methods and upstreams that do not fit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from browser_support import dashboard, fetch, gateway_with
from gateway_support import ListRecorder, live_gateway, openai_and_claude
from llmtally.gateway.fingerprint import prompt_fingerprint
from llmtally.ledger import open_store
from llmtally.providers.wires import (
    ANTHROPIC,
    GEMINI,
    OPENAI_CHAT,
    OPENAI_EMBEDDINGS,
    OPENAI_RESPONSES,
    WIRES,
    Wire,
    wire_for_path,
)
from llmtally.tokens.base import Tokenizer
from llmtally.tokens.registry import default_registry
from replay_upstream import ReplayUpstream


@pytest.fixture(scope="module")
def o200k() -> Tokenizer:
    return default_registry().get("o200k_base")


def _fingerprint(wire: Wire, body: dict[str, Any]) -> str | None:
    prompt = wire.prompt(body)
    return prompt_fingerprint(prompt.system_text) if prompt else None


def test_every_gateway_path_names_one_wire() -> None:
    assert wire_for_path("/v1/chat/completions") is OPENAI_CHAT
    assert wire_for_path("/v1/responses") is OPENAI_RESPONSES
    assert wire_for_path("/v1/messages") is ANTHROPIC
    assert wire_for_path("/v1beta/models/gemini-2.5-flash:streamGenerateContent") is GEMINI
    assert wire_for_path("/v1/models/gemini-2.5-flash:generateContent") is GEMINI
    assert wire_for_path("/v1/chat") is None and wire_for_path("/v2/chat/completions") is None
    paths = [p for wire in WIRES.values() for p in wire.paths]
    assert len(paths) == len(set(paths))


def test_compatible_endpoints_live_where_each_vendor_serves_them() -> None:
    chat = "/v1/chat/completions"
    assert OPENAI_CHAT.upstream_path("openai", chat) == chat
    assert OPENAI_CHAT.upstream_path("anthropic", chat) == chat
    assert OPENAI_CHAT.upstream_path("gemini", chat) == "/v1beta/openai/chat/completions"
    assert OPENAI_EMBEDDINGS.upstream_path("gemini", "/v1/embeddings") == (
        "/v1beta/openai/embeddings"
    )
    assert OPENAI_EMBEDDINGS.upstream_path("anthropic", "/v1/embeddings") is None
    assert OPENAI_RESPONSES.upstream_path("gemini", "/v1/responses") is None
    native = "/v1/models/gemini-2.5-flash:generateContent"  # the path carries its version
    assert GEMINI.upstream_path("gemini", native) == native
    assert GEMINI.upstream_path("openai", native) is None


def test_the_fingerprint_reads_each_wires_system_prompt_only() -> None:
    system = {"role": "system", "content": "You are terse."}
    a = {"messages": [system, {"role": "user", "content": "hi"}]}
    b = {"messages": [system, {"role": "user", "content": "something else"}]}
    c = {"messages": [{"role": "system", "content": "You are verbose."}]}
    assert _fingerprint(OPENAI_CHAT, a) == _fingerprint(OPENAI_CHAT, b)
    assert _fingerprint(OPENAI_CHAT, a) != _fingerprint(OPENAI_CHAT, c)
    assert _fingerprint(OPENAI_CHAT, {"messages": [{"role": "user", "content": "hi"}]}) is None
    marked = [{"type": "text", "text": "S", "cache_control": {"type": "ephemeral"}}]
    plain = [{"type": "text", "text": "S"}]
    assert _fingerprint(ANTHROPIC, {"system": marked, "messages": []}) == _fingerprint(
        ANTHROPIC, {"system": plain, "messages": []}
    )
    camel = {"systemInstruction": {"parts": [{"text": "S"}]}, "contents": []}
    snake = {"system_instruction": {"parts": [{"text": "S"}]}, "contents": []}
    assert _fingerprint(GEMINI, camel) == _fingerprint(GEMINI, snake) is not None
    responses = {"instructions": "You are terse.", "input": "hi"}
    assert _fingerprint(OPENAI_RESPONSES, responses) is not None
    assert _fingerprint(OPENAI_RESPONSES, {"input": "hi"}) is None
    assert len(_fingerprint(OPENAI_RESPONSES, responses) or "") == 16


RESPONSES_REQUEST: dict[str, Any] = {
    "model": "gpt-4.1",
    "instructions": "You are a careful travel agent.",
    "input": [
        {"role": "user", "content": "Find me a flight to Lisbon."},
        {"type": "function_call", "call_id": "c1", "name": "search", "arguments": '{"to":"LIS"}'},
        {"type": "function_call_output", "call_id": "c1", "output": "TP1351 departs 09:40."},
        {"role": "user", "content": [{"type": "input_text", "text": "Book the morning one."}]},
    ],
    "tools": [
        {"type": "function", "name": "search", "parameters": {"type": "object"}},
        {"type": "web_search"},  # a built-in tool: no schema in the prompt
    ],
}


def test_responses_requests_are_counted_by_role(o200k: Tokenizer) -> None:
    counted = OPENAI_RESPONSES.count_prompt(RESPONSES_REQUEST, o200k)
    assert counted is not None
    # Each part's own text, counted by the tokenizer alone (no role logic involved).
    assert counted.system == o200k.count("You are a careful travel agent.")
    assert counted.latest_user == o200k.count("Book the morning one.")
    assert counted.context == o200k.count("TP1351 departs 09:40.")
    first_turn = o200k.count("Find me a flight to Lisbon.")
    call = '[{"type":"function","function":{"name":"search","arguments":"{\\"to\\":\\"LIS\\"}"}}]'
    call_json = o200k.count(call)
    assert counted.history == first_turn + call_json
    # The cookbook's function formula for one function without properties: 7 + "search:" + 12
    assert counted.tools == 7 + o200k.count("search:") + 12


def test_gemini_counts_the_snake_case_system_instruction(o200k: Tokenizer) -> None:
    body = {
        "system_instruction": {"parts": [{"text": "Answer in French."}]},
        "contents": [{"role": "user", "parts": [{"text": "Hello there"}]}],
    }
    counted = GEMINI.count_prompt(body, o200k, "gemini-2.5-flash")
    assert counted is not None
    assert counted.system == o200k.count("Answer in French.")
    assert counted.latest_user == o200k.count("Hello there")


@pytest.fixture(scope="module")
def through_gateway() -> Iterator[tuple[str, ListRecorder]]:
    with ReplayUpstream() as upstream:
        config = openai_and_claude(upstream.url)
        with live_gateway(config) as running:
            yield running


def test_gateway_records_responses_prompt_tokens_by_role(
    through_gateway: tuple[str, ListRecorder], o200k: Tokenizer
) -> None:
    url, recorder = through_gateway
    before = len(recorder.calls)
    with openai.OpenAI(base_url=f"{url}/v1", api_key="sk-test", max_retries=0) as sdk:
        sdk.responses.create(model="gpt-4.1", instructions="You are terse.", input="Hi there")
    call = recorder.next_call(before)
    assert call.input_system_tokens == o200k.count("You are terse.")
    assert call.input_latest_user_tokens == o200k.count("Hi there")
    assert call.prompt_fingerprint is not None


def test_a_wire_the_upstream_does_not_speak_is_a_clear_json_error(
    through_gateway: tuple[str, ListRecorder],
) -> None:
    url, recorder = through_gateway
    before = len(recorder.calls)
    reply = httpx.post(f"{url}/v1/embeddings", json={"model": "claude-sonnet-4-5", "input": "x"})
    assert reply.status_code == 404
    message = reply.json()["error"]["message"]
    assert "claude-sonnet-4-5" in message and "anthropic" in message and "/v1/embeddings" in message
    assert len(recorder.calls) == before  # nothing was sent, nothing spent


@pytest.mark.parametrize("path", ["/v2/chat/completions", "/v2", "/v3beta/models/x"])
def test_other_api_versions_get_json_errors_not_the_dashboard(tmp_path: Path, path: str) -> None:
    gateway = gateway_with(dashboard(open_store(f"sqlite:///{tmp_path / 'l.sqlite3'}")))
    response = fetch(gateway, path, method="POST", json={"model": "gpt-4o"})
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert "no such endpoint" in response.json()["error"]["message"]


def test_the_wrong_method_is_a_json_405_in_the_wires_shape(tmp_path: Path) -> None:
    gateway = gateway_with(dashboard(open_store(f"sqlite:///{tmp_path / 'l.sqlite3'}")))
    chat = fetch(gateway, "/v1/chat/completions")
    assert chat.status_code == 405 and chat.headers["allow"] == "POST"
    assert chat.json()["error"]["type"] == "invalid_request_error"
    messages = fetch(gateway, "/v1/messages", method="PUT")
    assert messages.status_code == 405 and messages.json()["type"] == "error"
    gemini = fetch(gateway, "/v1beta/models/gemini-2.5-flash:generateContent")
    assert gemini.status_code == 405 and gemini.json()["error"]["status"] == "INVALID_ARGUMENT"
