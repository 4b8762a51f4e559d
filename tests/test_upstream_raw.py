"""The gateway with ``upstream_client: raw`` (issue 16): the core relay cases
against the replay upstream, and the pool's own cases (keep-alive reuse counted
on the server side, an idle connection the upstream closed, TLS) against a
small keep-alive server here. Wire shapes: the transcripts' sources
(tests/fixtures/transcripts), HTTP/1.1 per RFC 9112
(https://www.rfc-editor.org/rfc/rfc9112)."""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import json
import ssl
import threading
import time
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway_support import ListRecorder, free_port, live_gateway, openai_and_claude
from llmtally.gateway.upstream_raw import RawPool, RawUpstreamError
from replay_upstream import ReplayUpstream, load_transcripts, sse_body

TRANSCRIPTS = load_transcripts()
HELLO = [{"role": "user", "content": "Say hello."}]
REPLY = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "model": "gpt-4o-2024-08-06",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}}],
    "usage": {"prompt_tokens": 11, "completion_tokens": 2, "total_tokens": 13},
}


def raw_config(url: str, timeout_s: float | None = None) -> dict[str, Any]:
    config = openai_and_claude(url) | {"upstream_client": "raw"}
    if timeout_s is not None:
        for upstream in config["upstreams"].values():
            upstream["timeout_s"] = timeout_s
    return config


@pytest.fixture(scope="module")
def upstream() -> Iterator[ReplayUpstream]:
    with ReplayUpstream() as replay:
        yield replay


@pytest.fixture(scope="module")
def gateway(upstream: ReplayUpstream) -> Iterator[tuple[str, ListRecorder]]:
    with live_gateway(raw_config(upstream.url)) as running:
        yield running


def test_plain_json_is_relayed_and_recorded(gateway: tuple[str, ListRecorder]) -> None:
    url, recorder = gateway
    before = len(recorder.calls)
    transcript = TRANSCRIPTS["openai_chat"]
    response = httpx.post(f"{url}/v1/chat/completions", json=transcript["request"]["json"])
    assert response.status_code == 200
    assert response.json() == transcript["response"]["body"]
    call = recorder.next_call(before)
    usage = transcript["response"]["body"]["usage"]
    assert call.usage.input_tokens == usage["prompt_tokens"]
    assert call.usage.output_tokens == usage["completion_tokens"]
    assert call.usage.source == "reported" and call.status == 200


def test_sse_stream_arrives_whole_and_usage_is_read(gateway: tuple[str, ListRecorder]) -> None:
    url, recorder = gateway
    before = len(recorder.calls)
    transcript = TRANSCRIPTS["anthropic_messages_stream"]
    request = transcript["request"]["json"]
    with httpx.stream("POST", f"{url}/v1/messages", json=request) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        seen = b"".join(response.iter_raw())
    assert seen == sse_body(transcript)  # the chunked upstream body, byte for byte
    call = recorder.next_call(before)
    assert call.usage.source == "reported" and call.usage.output_tokens > 0


def test_upstream_429_passes_through_with_its_headers(gateway: tuple[str, ListRecorder]) -> None:
    url, recorder = gateway
    before = len(recorder.calls)
    transcript = TRANSCRIPTS["openai_error_429"]
    response = httpx.post(f"{url}/v1/chat/completions", json=transcript["request"]["json"])
    assert response.status_code == 429
    assert response.headers["retry-after"] == "20"
    assert response.json() == transcript["response"]["body"]
    assert recorder.next_call(before).status == 429


def test_upstream_5xx_passes_through(gateway: tuple[str, ListRecorder]) -> None:
    url, recorder = gateway
    before = len(recorder.calls)
    transcript = TRANSCRIPTS["anthropic_error_529"]
    response = httpx.post(
        f"{url}/v1/messages",
        json=transcript["request"]["json"],
        headers={"X-Replay-Transcript": "anthropic_error_529"},
    )
    assert response.status_code == transcript["response"]["status"] == 529
    assert response.json() == transcript["response"]["body"]
    assert recorder.next_call(before).status == 529


def test_a_cut_stream_is_recorded_as_cut(
    gateway: tuple[str, ListRecorder], upstream: ReplayUpstream
) -> None:
    url, recorder = gateway
    before = len(recorder.calls)
    upstream.cut_after = 3
    try:
        with pytest.raises(httpx.HTTPError):
            with httpx.stream(
                "POST",
                f"{url}/v1/chat/completions",
                json={"model": "gpt-4o-mini", "stream": True, "messages": HELLO},
            ) as response:
                b"".join(response.iter_raw())
    finally:
        upstream.cut_after = None
    call = recorder.next_call(before)
    assert call.status == 502 and call.error is not None and "cut" in call.error
    assert call.usage.source == "estimated"


def test_an_unreachable_upstream_is_a_502_in_words() -> None:
    port = free_port()  # nothing listens there
    with live_gateway(raw_config(f"http://127.0.0.1:{port}")) as (url, recorder):
        response = httpx.post(
            f"{url}/v1/chat/completions", json={"model": "gpt-4o", "messages": HELLO}
        )
        assert response.status_code == 502
        assert f"cannot connect to 127.0.0.1:{port}" in response.text
        assert recorder.next_call(0).status == 502


# --- a keep-alive upstream that counts its connections -------------------------


class _KeepAlive(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    connections = 0
    requests = 0

    def setup(self) -> None:
        type(self).connections += 1
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        type(self).requests += 1
        mode = body.get("model")
        if mode == "slow":
            time.sleep(1.5)
        data = json.dumps(REPLY).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        if mode in CODED:  # compressed although the client asked for identity
            self.send_header("content-encoding", CODED[mode][0])
            data = CODED[mode][1](data)
        if mode == "chunked" or mode == "gzip-chunked":  # the JSON in two chunks
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            half = len(data) // 2
            for part in (data[:half], data[half:]):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        if mode == "then-close":  # keep-alive said, then the connection closed
            self.close_connection = True


# RFC 9110 section 8.4.1: gzip (RFC 1952) and deflate (the zlib format, RFC 1950).
CODED = {
    "gzip": ("gzip", gzip.compress),
    "gzip-chunked": ("gzip", gzip.compress),
    "deflate": ("deflate", zlib.compress),
    "br": ("br", lambda data: b"\x0b\x02\x80" + data),  # never decoded: only its name matters
}


@pytest.fixture
def keep_alive() -> Iterator[tuple[ThreadingHTTPServer, type[_KeepAlive]]]:
    handler = type("Counted", (_KeepAlive,), {"connections": 0, "requests": 0})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02})
    thread.start()
    try:
        yield server, handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _url(server: ThreadingHTTPServer, scheme: str = "http") -> str:
    host, port = server.server_address[:2]
    return f"{scheme}://{host!s}:{port}"


async def _post(pool: RawPool, url: str, model: str, timeout_s: float = 5.0) -> tuple[int, bytes]:
    body = json.dumps({"model": model, "messages": HELLO}).encode()
    headers = {"content-type": "application/json"}
    async with pool.post(url, data=body, headers=headers, timeout_s=timeout_s) as response:
        return response.status, await response.content.read()


def test_keep_alive_reuses_one_connection_across_calls(
    keep_alive: tuple[ThreadingHTTPServer, type[_KeepAlive]],
) -> None:
    server, counted = keep_alive
    url = _url(server) + "/v1/chat/completions"

    async def three() -> list[tuple[int, bytes]]:
        pool = RawPool()
        try:
            return [await _post(pool, url, m) for m in ("gpt-4o", "chunked", "gpt-4o")]
        finally:
            await pool.close()

    answers = asyncio.run(three())
    assert [status for status, _ in answers] == [200, 200, 200]
    assert all(json.loads(body) == REPLY for _, body in answers)  # chunked one joined whole
    assert counted.requests == 3
    assert counted.connections == 1  # 3 calls, 1 connection, counted by the server


def test_a_body_compressed_anyway_is_decoded_and_another_coding_refused(
    keep_alive: tuple[ThreadingHTTPServer, type[_KeepAlive]],
) -> None:
    server, _ = keep_alive
    url = _url(server) + "/v1/chat/completions"

    async def calls() -> tuple[list[tuple[int, bytes]], str]:
        pool = RawPool()
        try:
            decoded = [await _post(pool, url, m) for m in ("gzip", "gzip-chunked", "deflate")]
            try:
                await _post(pool, url, "br")
            except RawUpstreamError as exc:
                return decoded, str(exc)
            return decoded, "no error"
        finally:
            await pool.close()

    decoded, refused = asyncio.run(calls())
    assert decoded == [(200, json.dumps(REPLY).encode())] * 3
    assert refused == "the upstream answered in 'br' encoding, not asked for"


def test_an_idle_connection_the_upstream_closed_is_not_used(
    keep_alive: tuple[ThreadingHTTPServer, type[_KeepAlive]],
) -> None:
    server, counted = keep_alive
    url = _url(server) + "/v1/chat/completions"

    async def two() -> list[int]:
        pool = RawPool()
        try:
            first, _ = await _post(pool, url, "then-close")
            await asyncio.sleep(0.2)  # the close reaches the pooled connection
            second, _ = await _post(pool, url, "gpt-4o")
            return [first, second]
        finally:
            await pool.close()

    assert asyncio.run(two()) == [200, 200]
    assert counted.requests == 2  # the second request was sent once, on a new connection
    assert counted.connections == 2


def test_a_slow_upstream_is_a_504_after_timeout_s(
    keep_alive: tuple[ThreadingHTTPServer, type[_KeepAlive]],
) -> None:
    server, _ = keep_alive
    config = raw_config(_url(server), timeout_s=0.3)
    with live_gateway(config) as (url, recorder):
        started = time.perf_counter()
        response = httpx.post(
            f"{url}/v1/chat/completions", json={"model": "slow", "messages": HELLO}
        )
        took = time.perf_counter() - started
    assert response.status_code == 504
    assert "did not answer within 0.3 s" in response.text
    assert took < 1.4  # the upstream takes 1.5 s; the gateway gave up at 0.3 s
    assert recorder.next_call(0).status == 504


def _self_signed(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_tls_upstream_through_the_gateway(
    keep_alive: tuple[ThreadingHTTPServer, type[_KeepAlive]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, counted = keep_alive
    cert, key = _self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the default context trusts it
    port = server.server_address[1]
    with live_gateway(raw_config(f"https://localhost:{port}")) as (url, recorder):
        for _ in range(2):
            response = httpx.post(
                f"{url}/v1/chat/completions", json={"model": "gpt-4o", "messages": HELLO}
            )
            assert response.status_code == 200 and response.json() == REPLY
        assert recorder.next_call(1).usage.input_tokens == 11
    assert counted.connections == 1  # both calls on one TLS connection


def test_tls_upstream_with_an_untrusted_cert_is_a_502(
    keep_alive: tuple[ThreadingHTTPServer, type[_KeepAlive]], tmp_path: Path
) -> None:
    server, _ = keep_alive
    cert, key = _self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    port = server.server_address[1]
    with live_gateway(raw_config(f"https://localhost:{port}")) as (url, _):
        response = httpx.post(
            f"{url}/v1/chat/completions", json={"model": "gpt-4o", "messages": HELLO}
        )
    assert response.status_code == 502
    assert "CERTIFICATE_VERIFY_FAILED" in response.text
