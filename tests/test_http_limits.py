"""The HTTP server's limits, against a real ``llmtally serve`` on raw sockets:
header size and count, the head deadline (slowloris), keep-alive, HTTP/1.0."""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Iterator

import pytest

from gateway_support import ServeRun, serve_process
from replay_upstream import ReplayUpstream

HEADER_TIMEOUT_S = 1.5
KEEP_ALIVE_S = 1
CHAT = b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}]}'
STREAM = (
    b'{"model": "gpt-4o-mini", "stream": true, "messages": [{"role": "user", "content": "Hi"}]}'
)


@pytest.fixture(scope="module")
def upstream() -> Iterator[ReplayUpstream]:
    with ReplayUpstream() as replay:
        yield replay


@pytest.fixture(scope="module")
def served(
    upstream: ReplayUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServeRun]:
    config = (
        "upstreams:\n"
        f"  openai: {{kind: openai, base_url: '{upstream.url}'}}\n"
        "routes:\n"
        "  - {match: '*', upstream: openai}\n"
        f"http: {{header_timeout_s: {HEADER_TIMEOUT_S}, keep_alive_s: {KEEP_ALIVE_S}}}\n"
    )
    with serve_process(tmp_path_factory.mktemp("serve"), config) as run:
        yield run


def _connect(run: ServeRun, timeout: float = 10) -> socket.socket:
    host, port = run.url.removeprefix("http://").rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=timeout)
    return sock


def _read_all(sock: socket.socket) -> tuple[bytes, float]:
    """Everything until the server closes, and how long that took."""
    start, data = time.monotonic(), b""
    while chunk := sock.recv(65536):
        data += chunk
    return data, time.monotonic() - start


def _split(response: bytes) -> tuple[str, dict[str, str], bytes]:
    head, _, body = response.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines)
    return status, headers, body


def _post(path: str, body: bytes, version: str = "1.1", extra: str = "") -> bytes:
    return (
        f"POST {path} HTTP/{version}\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{extra}\r\n"
    ).encode() + body


def test_a_megabyte_of_headers_is_a_json_431(served: ServeRun) -> None:
    big = "X-Big: " + "a" * 1_000_000 + "\r\n"
    with _connect(served) as sock:
        sock.sendall(_post("/v1/chat/completions", CHAT, extra=big))
        response, _ = _read_all(sock)
    status, headers, body = _split(response)
    assert status == "HTTP/1.1 431 Request Header Fields Too Large"
    assert headers["content-type"] == "application/json"
    assert headers["connection"] == "close"
    error = json.loads(body)["error"]
    assert error["message"] == "the request headers are over the limit of 65536 bytes"
    assert error["type"] == "invalid_request_error"


def test_ten_thousand_headers_are_a_431_in_the_wires_shape(served: ServeRun) -> None:
    many = "".join(f"X-H{i}: v\r\n" for i in range(10_000))
    with _connect(served) as sock:
        sock.sendall(_post("/v1/messages", b"{}", extra=many))
        response, _ = _read_all(sock)
    status, _, body = _split(response)
    assert status.startswith("HTTP/1.1 431 ")
    assert json.loads(body) == {  # Anthropic's shape, as its SDK reads it
        "type": "error",
        "error": {"type": "request_too_large", "message": "more than 100 request headers"},
    }


def test_a_dashboard_path_is_refused_in_plain_text(served: ServeRun) -> None:
    many = "".join(f"X-H{i}: v\r\n" for i in range(101))  # 101 + Host: 102 > 100
    with _connect(served) as sock:
        sock.sendall(f"GET /calls HTTP/1.1\r\nHost: 127.0.0.1\r\n{many}\r\n".encode())
        response, _ = _read_all(sock)
    status, headers, body = _split(response)
    assert status.startswith("HTTP/1.1 431 ")
    assert headers["content-type"] == "text/plain; charset=utf-8"
    assert body == b"more than 100 request headers\n"


def test_a_request_within_the_limits_is_answered(served: ServeRun) -> None:
    near = "".join(f"X-H{i}: {'v' * 500}\r\n" for i in range(90))  # 90 headers, ~46 KB
    with _connect(served) as sock:
        sock.sendall(_post("/v1/chat/completions", CHAT, extra=near + "Connection: close\r\n"))
        response, _ = _read_all(sock)
    assert response.startswith(b"HTTP/1.1 200 OK\r\n")


def test_headers_sent_a_byte_a_second_are_cut_at_the_deadline(served: ServeRun) -> None:
    head = b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 100
    sent, start = 0, time.monotonic()
    with _connect(served) as sock:
        # 10 bytes a second (the head would take 15 s), until the server answers
        while sent < len(head) and not select.select([sock], [], [], 0.1)[0]:
            sock.send(head[sent : sent + 1])
            sent += 1
        response, _ = _read_all(sock)
    took = time.monotonic() - start
    assert HEADER_TIMEOUT_S <= took < HEADER_TIMEOUT_S + 1.5, took
    assert sent < len(head)
    status, _, body = _split(response)
    assert status == "HTTP/1.1 408 Request Timeout"
    assert json.loads(body)["error"]["message"] == (
        f"the request headers did not arrive within {HEADER_TIMEOUT_S:g} s"
    )


def test_a_connection_that_sends_nothing_is_closed(served: ServeRun) -> None:
    with _connect(served) as sock:
        response, took = _read_all(sock)
    assert response == b""
    assert HEADER_TIMEOUT_S - 0.1 <= took < HEADER_TIMEOUT_S + 1.5, took


def test_an_idle_keep_alive_connection_is_closed(served: ServeRun) -> None:
    with _connect(served) as sock:
        sock.sendall(_post("/v1/chat/completions", CHAT))
        first = b""
        while not first.endswith(b"0\r\n\r\n"):  # the whole chunked body
            first += sock.recv(65536)
        rest, took = _read_all(sock)
    assert first.startswith(b"HTTP/1.1 200 OK\r\n")
    assert rest == b""
    assert KEEP_ALIVE_S - 0.1 <= took < KEEP_ALIVE_S + 1.5, took


def _dechunked(body: bytes) -> bytes:
    out = b""
    while True:
        size_line, _, body = body.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            return out
        out, body = out + body[:size], body[size + 2 :]


def test_http_1_0_gets_a_body_it_can_read_and_the_connection_closes(
    served: ServeRun, upstream: ReplayUpstream
) -> None:
    with _connect(served) as sock:
        sock.sendall(_post("/v1/chat/completions", CHAT, version="1.0"))
        response, _ = _read_all(sock)
    status, headers, body = _split(response)
    assert status == "HTTP/1.1 200 OK"
    assert "transfer-encoding" not in headers
    assert headers["connection"] == "close"
    assert json.loads(body) == upstream.transcripts["openai_chat"]["response"]["body"]


def test_http_1_0_gets_a_stream_unchunked(served: ServeRun) -> None:
    with _connect(served) as sock:
        sock.sendall(_post("/v1/chat/completions", STREAM, extra="Connection: close\r\n"))
        chunked = _split(_read_all(sock)[0])
    with _connect(served) as sock:
        sock.sendall(_post("/v1/chat/completions", STREAM, version="1.0"))
        status, headers, body = _split(_read_all(sock)[0])
    assert chunked[1]["transfer-encoding"] == "chunked"  # HTTP/1.1: as before
    assert status == "HTTP/1.1 200 OK"
    assert "transfer-encoding" not in headers and headers["connection"] == "close"
    assert headers["content-type"].startswith("text/event-stream")
    assert body.startswith(b"data: {") and body.endswith(b"data: [DONE]\n\n")
    assert body == _dechunked(chunked[2])  # the same events, byte for byte


def test_http_1_1_is_still_chunked_and_kept_alive(served: ServeRun) -> None:
    with _connect(served) as sock:
        for _ in range(2):  # two requests on one connection
            sock.sendall(_post("/v1/chat/completions", CHAT))
            data = b""
            while not data.endswith(b"0\r\n\r\n"):
                data += sock.recv(65536)
            status, headers, _ = _split(data)
            assert status == "HTTP/1.1 200 OK"
            assert headers["transfer-encoding"] == "chunked"


def test_a_refused_pipelined_request_lets_the_one_before_it_finish(served: ServeRun) -> None:
    many = "".join(f"X-H{i}: v\r\n" for i in range(200))
    with _connect(served) as sock:
        sock.sendall(_post("/v1/chat/completions", CHAT) + _post("/v1/messages", b"{}", extra=many))
        response, _ = _read_all(sock)
    status, headers, body = _split(response)
    assert status == "HTTP/1.1 200 OK" and headers["connection"] == "close"
    assert json.loads(_dechunked(body))["object"] == "chat.completion"
    assert b"HTTP/1.1 431" not in response  # the connection closed after the first answer
