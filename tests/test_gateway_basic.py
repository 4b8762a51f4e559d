"""The gateway with the real openai and anthropic SDKs, against a local upstream."""

from __future__ import annotations

import io
import json
import threading
import time
import wave
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import anthropic
import httpx
import openai
import pytest

from gateway_support import ListRecorder, live_gateway
from llmtally.catalog import Catalog
from llmtally.meter import cost
from llmtally.tokens.registry import default_registry

OPENAI_REPLY = {
    "id": "chatcmpl-123",
    "object": "chat.completion",
    "created": 1677652288,
    "model": "gpt-4o-2024-08-06",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello there!"},
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": 1200,
        "completion_tokens": 30,
        "total_tokens": 1230,
        "prompt_tokens_details": {"cached_tokens": 1024},
    },
}
ANTHROPIC_REPLY = {
    "id": "msg_01",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-6",
    "content": [{"type": "text", "text": "Hi!"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 20,
        "cache_read_input_tokens": 3000,
        "cache_creation_input_tokens": 500,
        "output_tokens": 12,
    },
}
RATE_LIMITED = {"error": {"message": "Rate limit reached", "type": "requests", "code": "rate"}}


class _Upstream(BaseHTTPRequestHandler):
    seen: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        raw = self.rfile.read(int(self.headers["content-length"]))
        if self.path == "/v1/audio/transcriptions":
            _Upstream.seen.append({"path": self.path, "headers": dict(self.headers), "raw": raw})
            usage = {"type": "duration", "seconds": 3} if b"whisper-1" in raw else None
            self._send(200, {"text": "hello"} | ({"usage": usage} if usage else {}))
            return
        body = json.loads(raw)
        _Upstream.seen.append({"path": self.path, "headers": dict(self.headers), "body": body})
        if body.get("model") == "gpt-4o-mini":
            self._send(429, RATE_LIMITED)
        elif body.get("model") == "gpt-4-turbo":
            self._send(
                500, {"error": {"message": "The server had an error", "type": "server_error"}}
            )
        elif body.get("model") == "gpt-4":  # an error that echoes the key it was sent
            key = self.headers.get("authorization", "").removeprefix("Bearer ")
            self._send(401, {"error": {"message": f"Incorrect API key provided: {key}."}})
        elif body.get("model") == "gpt-3.5-turbo":  # llama-cpp-python's server on a bad body
            trace = 'Traceback (most recent call last):\n  File "/srv/app.py", line 376, in x'
            self._send(500, {"error": {"message": trace, "type": "internal_server_error"}})
        elif body.get("model") == "slow-1":
            time.sleep(1.0)
            self._send(200, OPENAI_REPLY)
        elif self.path == "/v1/images/generations":
            images = [{"url": f"https://img.example/{i}.png"} for i in range(body.get("n", 1))]
            self._send(200, {"created": 1700000000, "data": images})
        elif self.path == "/v1/messages":
            self._send(200, ANTHROPIC_REPLY)
        else:
            self._send(200, OPENAI_REPLY)

    def _send(self, status: int, data: dict[str, Any]) -> None:
        raw = json.dumps(data).encode()
        try:
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)
        except BrokenPipeError:  # the gateway gave up on a slow answer: expected here
            return

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


@pytest.fixture(scope="module")
def gateway(upstream: str, catalog: Catalog) -> Iterator[tuple[str, ListRecorder]]:
    config = {
        "upstreams": {
            "openai": {"kind": "openai", "base_url": upstream},
            "anthropic": {"kind": "anthropic", "base_url": upstream},
            "dead": {"kind": "openai", "base_url": "http://127.0.0.1:9"},
            "slow": {"kind": "openai", "base_url": upstream, "timeout_s": 0.3},
        },
        "routes": [
            {"match": "claude-*", "upstream": "anthropic"},
            {"match": "dead-*", "upstream": "dead"},
            {"match": "gpt-4o-2024-11-20", "upstream": "dead"},
            {"match": "slow-*", "upstream": "slow"},
            {"match": "dall-e-*", "upstream": "openai"},
            {"match": "whisper-*", "upstream": "openai"},
            {"match": "gpt-*", "upstream": "openai"},
        ],
        "max_body_bytes": 4096,
    }
    with live_gateway(config, catalog) as running:
        yield running


def test_openai_sdk_call_is_relayed_and_priced(
    gateway: tuple[str, ListRecorder], catalog: Catalog
) -> None:
    url, recorder = gateway
    before = len(recorder.calls)
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="sk-test", max_retries=0)
    reply = client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "Hi"}],
        extra_headers={"x-llmtally-feature": "greeting", "x-llmtally-tags": "a, b"},
        user="alice",
    )
    client.close()
    assert reply.choices[0].message.content == "Hello there!"
    assert reply.usage is not None and reply.usage.prompt_tokens == 1200
    call = recorder.next_call(before)
    assert (call.status, call.model_requested, call.model_served) == (
        200,
        "gpt-4o",
        "gpt-4o-2024-08-06",
    )
    assert (call.usage.input_tokens, call.usage.cache_read_tokens) == (1200, 1024)
    assert (call.user, call.feature, call.tags) == ("alice", "greeting", ("a", "b"))
    expected = cost(call.usage, catalog.price_at("openai", "gpt-4o-2024-08-06", call.started_at))
    assert call.cost is not None and call.cost.total == expected.total
    # 176 x $2.50 + 1,024 x $1.25 + 30 x $10, per 1M tokens
    assert call.cost.total == Decimal("0.00202")
    assert call.latency_ms > 0


def test_anthropic_sdk_call_counts_cache_into_input(gateway: tuple[str, ListRecorder]) -> None:
    url, recorder = gateway
    before = len(recorder.calls)
    client = anthropic.Anthropic(base_url=url, api_key="sk-ant-test", max_retries=0)
    reply = client.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=64,
        messages=[{"role": "user", "content": "Hi"}],
        metadata={"user_id": "bob"},
    )
    client.close()
    assert reply.usage.cache_read_input_tokens == 3000
    call = recorder.next_call(before)
    assert call.usage.input_tokens == 3520 and call.user == "bob"
    # 20 x $3 + 3,000 x $0.30 + 500 x $3.75 + 12 x $15, per 1M tokens
    assert call.cost is not None and call.cost.total == Decimal("0.003015")


def test_upstream_errors_pass_through_and_are_recorded(gateway: tuple[str, ListRecorder]) -> None:
    url, recorder = gateway
    before = len(recorder.calls)
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="sk-test", max_retries=0)
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="gpt-4o-mini", messages=[])
    client.close()
    call = recorder.next_call(before)
    assert call.status == 429 and call.cost is None
    assert call.cost_error == "the call failed (HTTP 429) and reported no usage"
    assert call.error is not None and "Rate limit reached" in call.error


def test_malformed_json_unknown_model_too_large_and_dead_upstream(
    gateway: tuple[str, ListRecorder],
) -> None:
    url, recorder = gateway
    before = len(recorder.calls)
    with httpx.Client(base_url=url) as http:
        json_body = {"content-type": "application/json"}
        bad = http.post("/v1/chat/completions", content=b"{not json", headers=json_body)
        assert bad.status_code == 400
        assert bad.json()["error"]["type"] == "invalid_request_error"
        missing = http.post("/v1/messages", json={"model": "llama-9", "messages": []})
        assert missing.status_code == 404
        assert missing.json()["error"]["type"] == "not_found_error"
        assert (
            "routable: claude-*, dead-*, gpt-4o-2024-11-20, slow-*, dall-e-*, whisper-*, gpt-*"
            in missing.json()["error"]["message"]
        )
        big = http.post("/v1/chat/completions", content=b"x" * 5000, headers=json_body)
        assert big.status_code == 413
        hello = [{"role": "user", "content": "Hello there"}]
        body = {"model": "gpt-4o-2024-11-20", "messages": hello}  # routed to the dead upstream
        dead = http.post("/v1/chat/completions", json=body)
        assert dead.status_code == 502
        assert dead.json()["error"]["message"] == (
            "upstream unreachable: cannot connect to 127.0.0.1:9: Connection refused"
        )
        failed = recorder.next_call(before)  # only the forwarded call is recorded
        assert failed.status == 502 and failed.usage.input_tokens == 0
        assert failed.input_latest_user_tokens is None  # no prompt was billed: no split of it


def test_provider_keys_come_from_the_client_when_none_is_configured(
    gateway: tuple[str, ListRecorder],
) -> None:
    url, recorder = gateway
    before = len(recorder.calls)
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="sk-client", max_retries=0)
    client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    client.close()
    assert _Upstream.seen[-1]["headers"]["authorization"] == "Bearer sk-client"
    recorder.next_call(before)  # recorded (later tests count calls from here)


def test_prompt_tokens_are_counted_by_role(gateway: tuple[str, ListRecorder]) -> None:
    url, recorder = gateway
    before = len(recorder.calls)
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="sk-test", max_retries=0)
    client.chat.completions.create(
        model="gpt-4o",
        messages=[
            {"role": "system", "content": "You are a terse assistant."},
            {"role": "user", "content": "What is 2+2?"},
            {"role": "assistant", "content": "4"},
            {"role": "tool", "tool_call_id": "c1", "content": "Paris: 18C"},
            {"role": "user", "content": "And 3+3?"},
        ],
    )
    client.close()
    call = recorder.next_call(before)
    o200k = default_registry().get("o200k_base")
    # Content tokens per role; the per-message framing is counted apart (overhead).
    assert call.input_system_tokens == o200k.count("You are a terse assistant.")
    assert call.input_latest_user_tokens == o200k.count("And 3+3?")
    assert call.input_history_tokens == o200k.count("What is 2+2?") + o200k.count("4")
    assert call.input_context_tokens == o200k.count("Paris: 18C") + o200k.count("c1")
    assert call.input_tools_tokens == 0


def test_upstream_500_and_timeout_are_passed_on_and_recorded(
    gateway: tuple[str, ListRecorder],
) -> None:
    url, recorder = gateway
    before = len(recorder.calls)
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="sk-test", max_retries=0)
    with pytest.raises(openai.InternalServerError) as failed:
        client.chat.completions.create(model="gpt-4-turbo", messages=[])
    assert "The server had an error" in str(failed.value)
    call = recorder.next_call(before)
    assert call.status == 500 and call.cost is None and "server had an error" in (call.error or "")
    with pytest.raises(openai.InternalServerError) as crashed:
        client.chat.completions.create(model="gpt-3.5-turbo", messages=[])
    assert "Traceback" not in str(crashed.value) and "app.py" not in str(crashed.value)
    assert "its traceback is not passed on" in str(crashed.value)
    crash = recorder.next_call(before + 1)
    assert crash.status == 500 and "Traceback" not in (crash.error or "")
    before += 1
    with pytest.raises(openai.APIStatusError) as slow:
        client.chat.completions.create(model="slow-1", messages=[])
    client.close()
    assert slow.value.status_code == 504
    timed_out = recorder.next_call(before + 1)
    assert timed_out.status == 504
    assert (timed_out.error or "").startswith("upstream unreachable: 127.0.0.1:")
    assert (timed_out.error or "").endswith(" did not answer within 0.3 s")


def test_images_are_priced_per_image_by_size_and_quality(
    gateway: tuple[str, ListRecorder],
) -> None:
    url, recorder = gateway
    before = len(recorder.calls)
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="sk-test", max_retries=0)
    result = client.images.generate(model="dall-e-3", prompt="a fox", n=2, quality="hd")
    client.close()
    assert len(result.data or []) == 2
    call = recorder.next_call(before)
    assert call.usage.images[0].n == 2 and call.usage.images[0].quality == "hd"
    # 2 DALL-E 3 1024x1024 HD images at $0.080 each
    assert call.cost is not None and call.cost.total == Decimal("0.16")


def _wav(seconds: float, rate: int = 500) -> bytes:  # small: the gateway caps bodies
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\x00\x00" * int(seconds * rate))
    return buffer.getvalue()


def test_audio_transcriptions_are_forwarded_as_forms_and_priced_by_duration(
    gateway: tuple[str, ListRecorder],
) -> None:
    url, recorder = gateway
    before = len(recorder.calls)
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="sk-test", max_retries=0)
    text = client.audio.transcriptions.create(model="whisper-1", file=("a.wav", _wav(2.0)))
    assert text.text == "hello"
    seen = _Upstream.seen[-1]
    assert seen["headers"]["content-type"].startswith("multipart/form-data; boundary=")
    assert _wav(2.0) in seen["raw"]  # the upload went upstream untouched
    call = recorder.next_call(before)
    # reported 3 s at whisper-1's $0.006 a minute
    assert call.usage.audio_seconds == Decimal("3") and call.usage.source == "reported"
    assert call.cost is not None and call.cost.total == Decimal("0.0003")
    client.audio.transcriptions.create(model="whisper-large", file=("b.wav", _wav(1.5)))
    client.close()
    estimated = recorder.next_call(before + 1)
    # no usage in the answer: the WAV header's 1.5 s, flagged estimated
    assert estimated.usage.audio_seconds == Decimal("1.500")
    assert estimated.usage.source == "estimated"


def test_stored_bodies_are_capped_and_redacted(upstream: str, catalog: Catalog) -> None:
    config = {
        "upstreams": {"openai": {"kind": "openai", "base_url": upstream}},
        "routes": [{"match": "*", "upstream": "openai"}],
        "body_limit_bytes": 400,
        "redact": [r"\d{3}-\d{2}-\d{4}"],  # a user's own pattern
    }
    secret = "sk-proj-" + "a1B2" * 8
    prompt = f"my key is {secret} and my number is 123-45-6789; " + "x" * 500
    with live_gateway(config, catalog) as (url, recorder):
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="sk-test", max_retries=0)
        client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": prompt}]
        )
        client.close()
        recorder.next_call(0)
    bodies = recorder.bodies[0]
    assert bodies is not None and bodies.request_body is not None
    assert secret not in bodies.request_body and "123-45-6789" not in bodies.request_body
    assert bodies.request_body.count("[redacted]") == 2
    assert bodies.request_truncated and not bodies.response_truncated
    assert len(bodies.request_body) <= 400


def test_a_bad_config_names_the_field() -> None:
    from pydantic import ValidationError

    from llmtally.gateway.config import GatewayConfig

    with pytest.raises(ValidationError, match=r"redact.0: not a regular expression"):
        GatewayConfig.model_validate({"redact": ["(unclosed"]})
    with pytest.raises(ValidationError, match=r"routes.0.upstream: 'nope' is not an upstream"):
        GatewayConfig.model_validate({"routes": [{"match": "*", "upstream": "nope"}]})


def test_an_upstream_error_that_echoes_the_key_is_stored_without_it(
    gateway: tuple[str, ListRecorder],
) -> None:
    url, recorder = gateway
    before = len(recorder.calls)
    secret = "sk-proj-" + "Zq3" * 12
    with openai.OpenAI(base_url=f"{url}/v1", api_key=secret, max_retries=0) as client:
        with pytest.raises(openai.AuthenticationError):
            client.chat.completions.create(model="gpt-4", messages=[])
    call = recorder.next_call(before)
    bodies = recorder.bodies[before]
    assert call.status == 401 and "Incorrect API key provided: [redacted]" in (call.error or "")
    assert secret not in (call.error or "")
    assert bodies is not None and secret not in (bodies.response_body or "")


def test_the_answer_has_one_date_and_one_server_header(gateway: tuple[str, ListRecorder]) -> None:
    """The upstream's Date and Server are not passed on beside the gateway's own
    (the test upstream, Python's http.server, sends both, as real providers do)."""
    url, recorder = gateway
    before = len(recorder.calls)
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}
    answer = httpx.post(f"{url}/v1/chat/completions", json=body)
    recorder.next_call(before)
    assert len(answer.headers.get_list("date")) == 1
    assert answer.headers.get_list("server") == ["uvicorn"]
