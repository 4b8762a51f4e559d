"""The raw HTTP/1.1 server (llmtally.gateway.server_raw) on real sockets.

Two parts: a small ASGI app built here for the wire behaviour (keep-alive,
pipelining, request bodies, streamed responses and flow control, HTTP/1.0,
client disconnect, malformed requests, app failures, lifespan), and the real
gateway behind ``serve_raw`` for the cases of tests/test_http_limits.py, which
are imported from that module and run here against this server (its ``served``
and ``upstream`` fixtures are replaced by the ones below; only ``served.url`` is read).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import test_http_limits as limits_cases
from gateway_support import ListRecorder
from llmtally.catalog import Catalog
from llmtally.gateway.app import Gateway
from llmtally.gateway.config import GatewayConfig, HttpLimits
from llmtally.gateway.server_raw import serve_raw
from replay_upstream import ReplayUpstream

# --- the server in a thread -------------------------------------------------------


class Running:
    """``serve_raw(app, sock, limits)`` on 127.0.0.1 in a thread with its own (uv)loop."""

    def __init__(self, app: Any, limits: HttpLimits, ssl: Any = None) -> None:
        self.ssl = ssl
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.app, self.limits = app, limits
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.ready.wait(10), "the server did not start"
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        import uvloop

        loop = uvloop.new_event_loop()
        self.loop = loop
        try:
            loop.run_until_complete(self._main())
        except BaseException as exc:
            self.error = exc
            self.ready.set()
        finally:
            loop.close()

    async def _main(self) -> None:
        self.stop = asyncio.Event()
        asyncio.get_running_loop().call_soon(self.ready.set)
        await serve_raw(
            self.app, self.sock, self.limits, stop=self.stop, ssl=self.ssl, graceful_s=5
        )

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(10)
        assert not self.thread.is_alive()


def connect(port: int, timeout: float = 10) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def read_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def read_response(sock: socket.socket, buffer: bytes = b"") -> tuple[bytes, bytes, bytes]:
    """One content-length response: (head, body, bytes read past it)."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        assert chunk, f"closed before a whole head: {buffer!r}"
        buffer += chunk
    head, _, rest = buffer.partition(b"\r\n\r\n")
    length = int(headers_of(head)["content-length"])
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk, "closed before the whole body"
        rest += chunk
    return head, rest[:length], rest[length:]


def headers_of(head: bytes) -> dict[str, str]:
    lines = head.decode("latin-1").split("\r\n")[1:]
    return dict(line.lower().split(": ", 1) for line in lines if line)


def post(path: str, body: bytes, version: str = "1.1", extra: str = "") -> bytes:
    return (
        f"POST {path} HTTP/{version}\r\nHost: x\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    ).encode() + body


# --- the wire app ---------------------------------------------------------------------


class WireApp:
    """Routes by path; ``events`` records what the server did, in order."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.sent_chunks = 0
        self.disconnected = threading.Event()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                self.events.append(message["type"])
                kind = message["type"].removeprefix("lifespan.")
                await send({"type": f"lifespan.{kind}.complete"})
                if kind == "shutdown":
                    return
        handler = getattr(self, "_" + scope["path"].strip("/").replace("-", "_"))
        await handler(scope, receive, send)

    async def _answer(self, send: Any, body: bytes, extra: list[Any] | None = None) -> None:
        headers = [(b"content-length", str(len(body)).encode()), *(extra or [])]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _echo(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        parts, more = [], True
        while more:
            message = await receive()
            parts.append(message["body"])
            more = message["more_body"]
        count = str(len(parts)).encode()
        await self._answer(send, b"".join(parts), [(b"x-messages", count)])

    async def _slow(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        name = scope["query_string"].decode()
        self.events.append(f"start {name}")
        await receive()
        await asyncio.sleep(0.2)
        self.events.append(f"end {name}")
        await self._answer(send, name.encode())

    async def _stream(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        headers = [(b"content-type", b"text/event-stream")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for i in range(3):
            event = b"data: %d\n\n" % i
            await send({"type": "http.response.body", "body": event, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _big(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for _ in range(512):  # 512 x 64 KiB = 32 MiB, chunked
            await send({"type": "http.response.body", "body": b"x" * 65536, "more_body": True})
            self.sent_chunks += 1
        await send({"type": "http.response.body", "body": b""})

    async def _watch(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()  # the whole body
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"data: 0\n\n", "more_body": True})
        message = await receive()  # returns when the client leaves
        self.events.append(message["type"])
        self.disconnected.set()

    async def _linger(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await self._answer(send, b"answered")
        await asyncio.sleep(0.5)  # work after the response, as the gateway's recording
        self.events.append("linger done")

    async def _fail_after(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await self._answer(send, b"answered")
        raise ValueError("the app failed after answering")

    async def _boom(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        raise ValueError("the app failed")

    async def _scheme(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await self._answer(send, scope["scheme"].encode())

    async def _head(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await self._answer(send, b"twelve bytes")


@pytest.fixture
def wire() -> Iterator[tuple[Running, WireApp]]:
    app = WireApp()
    running = Running(app, HttpLimits(header_timeout_s=2, keep_alive_s=1))
    try:
        yield running, app
    finally:
        running.close()


def test_keep_alive_answers_two_requests_on_one_connection(wire: tuple[Running, WireApp]) -> None:
    running, _ = wire
    with connect(running.port) as sock:
        sock.sendall(post("/echo", b"first"))
        head, body, rest = read_response(sock)
        assert head.startswith(b"HTTP/1.1 200 OK\r\n") and body == b"first"
        assert "connection" not in headers_of(head)  # HTTP/1.1: kept alive by default
        sock.sendall(post("/echo", b"second"))
        _, body, rest = read_response(sock, rest)
        assert body == b"second" and rest == b""


def test_keep_alive_is_counted_from_the_last_response(wire: tuple[Running, WireApp]) -> None:
    running, _ = wire  # keep_alive_s=1, header_timeout_s=2
    with connect(running.port) as sock:
        rest = b""
        for body in (b"0.0 s", b"0.6 s", b"1.2 s", b"1.8 s"):  # gaps of 0.6 s < 1 s
            sock.sendall(post("/echo", body))
            _, echoed, rest = read_response(sock, rest)
            assert echoed == body
            time.sleep(0.6)
        start = time.monotonic()
        assert rest + read_all(sock) == b""
        took = time.monotonic() - start
    # closed 1 s after the last response, of which 0.6 s were slept above: ~0.4 s
    assert took < 0.9, took


def test_an_idle_connection_closes_after_keep_alive_not_the_head_deadline(
    wire: tuple[Running, WireApp],
) -> None:
    running, _ = wire  # keep_alive_s=1 is shorter than header_timeout_s=2
    with connect(running.port) as sock:
        sock.sendall(post("/echo", b"x"))
        read_response(sock)
        start = time.monotonic()
        assert read_all(sock) == b""
        took = time.monotonic() - start
    assert 0.9 <= took < 1.5, took


def test_the_next_request_does_not_wait_for_the_apps_work_after_a_response() -> None:
    app = WireApp()
    running = Running(app, HttpLimits())
    with connect(running.port) as sock:
        sock.sendall(post("/linger", b""))
        _, body, rest = read_response(sock)
        start = time.monotonic()
        sock.sendall(post("/echo", b"next"))
        _, echoed, _ = read_response(sock, rest)
        took = time.monotonic() - start
    assert (body, echoed) == (b"answered", b"next")
    assert took < 0.3, took  # not after /linger's 0.5 s of work
    running.close()  # shutdown waits for that work to end
    assert "linger done" in app.events


def test_pipelined_requests_run_one_at_a_time_in_order(wire: tuple[Running, WireApp]) -> None:
    running, app = wire
    with connect(running.port) as sock:
        sock.sendall(post("/slow?a", b"") + post("/slow?b", b""))  # one send, two requests
        _, first, rest = read_response(sock)
        _, second, _ = read_response(sock, rest)
    assert (first, second) == (b"a", b"b")
    # b starts only after a's response: never two at once on one connection
    assert [e for e in app.events if "lifespan" not in e] == [
        "start a",
        "end a",
        "start b",
        "end b",
    ]


def test_a_content_length_body_arrives_whole(wire: tuple[Running, WireApp]) -> None:
    running, _ = wire
    body = bytes(range(256)) * 1000  # 256,000 bytes, sent at once
    with connect(running.port) as sock:
        sock.sendall(post("/echo", body, extra="Connection: close\r\n"))
        head, echoed, _ = read_response(sock)
    assert echoed == body
    assert headers_of(head)["connection"] == "close"


def test_a_chunked_body_is_handed_over_as_it_comes(wire: tuple[Running, WireApp]) -> None:
    running, _ = wire
    head = b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    with connect(running.port) as sock:
        sock.sendall(head + b"5\r\nhello\r\n")
        time.sleep(0.2)  # the app takes "hello" before the rest exists
        sock.sendall(b"6\r\n world\r\n0\r\n\r\n")
        response, body, _ = read_response(sock)
    assert body == b"hello world"
    # "hello", then " world", then the end: more than one receive() message
    assert int(headers_of(response)["x-messages"]) >= 2


def test_a_stream_without_length_is_chunked_on_1_1(wire: tuple[Running, WireApp]) -> None:
    running, _ = wire
    with connect(running.port) as sock:
        sock.sendall(post("/stream", b"", extra="Connection: close\r\n"))
        response = read_all(sock)
    head, _, body = response.partition(b"\r\n\r\n")
    assert headers_of(head)["transfer-encoding"] == "chunked"
    # each event framed by its size in hex (9 bytes), then the zero chunk
    assert body == b"9\r\ndata: 0\n\n\r\n9\r\ndata: 1\n\n\r\n9\r\ndata: 2\n\n\r\n0\r\n\r\n"


def test_http_1_0_gets_the_stream_unchunked_and_the_connection_closes(
    wire: tuple[Running, WireApp],
) -> None:
    running, _ = wire
    with connect(running.port) as sock:
        sock.sendall(post("/stream", b"", version="1.0"))
        response = read_all(sock)  # ends: the server closed
    head, _, body = response.partition(b"\r\n\r\n")
    headers = headers_of(head)
    assert "transfer-encoding" not in headers and headers["connection"] == "close"
    assert body == b"data: 0\n\ndata: 1\n\ndata: 2\n\n"


def test_http_1_0_closes_after_a_response_with_length(wire: tuple[Running, WireApp]) -> None:
    running, _ = wire
    with connect(running.port) as sock:
        sock.sendall(post("/echo", b"abc", version="1.0"))
        response = read_all(sock)
    assert response.endswith(b"\r\n\r\nabc")
    assert headers_of(response.partition(b"\r\n\r\n")[0])["connection"] == "close"


def test_http_1_0_keep_alive_when_asked_and_the_length_is_known(
    wire: tuple[Running, WireApp],
) -> None:
    running, _ = wire
    with connect(running.port) as sock:
        sock.sendall(post("/echo", b"one", version="1.0", extra="Connection: keep-alive\r\n"))
        head, body, rest = read_response(sock)
        assert headers_of(head)["connection"] == "keep-alive" and body == b"one"
        sock.sendall(post("/echo", b"two", version="1.0"))  # no keep-alive this time
        head, body, rest = read_response(sock, rest)
        assert headers_of(head)["connection"] == "close" and body == b"two"
        assert rest + read_all(sock) == b""


def test_send_waits_while_the_client_does_not_read(wire: tuple[Running, WireApp]) -> None:
    running, app = wire
    with connect(running.port) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        sock.sendall(post("/big", b"", extra="Connection: close\r\n"))
        time.sleep(0.5)
        stalled = app.sent_chunks
        response = read_all(sock)
    # 32 MiB cannot fit in the loopback socket buffers (a few MiB): sends must have waited
    assert stalled < 512, stalled
    head, _, body = response.partition(b"\r\n\r\n")
    assert headers_of(head)["transfer-encoding"] == "chunked"
    # 512 chunks of "10000\r\n" + 65,536 bytes + "\r\n", then "0\r\n\r\n"
    assert len(body) == 512 * (7 + 65536 + 2) + 5
    assert app.sent_chunks == 512


def test_a_client_that_leaves_is_told_as_http_disconnect(wire: tuple[Running, WireApp]) -> None:
    running, app = wire
    with connect(running.port) as sock:
        sock.sendall(post("/watch", b"{}"))
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 OK\r\n")
    assert app.disconnected.wait(5)
    assert app.events[-1] == "http.disconnect"


def test_a_malformed_request_is_a_400_and_the_connection_closes(
    wire: tuple[Running, WireApp],
) -> None:
    running, _ = wire
    with connect(running.port) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n")
        response = read_all(sock)
    assert response.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert response.endswith(b"\r\n\r\nInvalid HTTP request received.\n")  # a dashboard path


def test_an_app_that_fails_before_answering_is_a_500(wire: tuple[Running, WireApp]) -> None:
    running, _ = wire
    with connect(running.port) as sock:
        sock.sendall(post("/boom", b""))
        response = read_all(sock)
    assert response.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert response.endswith(b"\r\n\r\nInternal Server Error")


def test_an_app_failing_after_its_response_leaves_the_connection_usable(
    wire: tuple[Running, WireApp],
) -> None:
    running, _ = wire
    with connect(running.port) as sock:
        sock.sendall(post("/fail-after", b""))
        _, body, rest = read_response(sock)
        time.sleep(0.1)  # the failure has happened
        sock.sendall(post("/echo", b"still here"))
        _, echoed, _ = read_response(sock, rest)
    assert (body, echoed) == (b"answered", b"still here")


def test_head_gets_the_headers_and_no_body(wire: tuple[Running, WireApp]) -> None:
    running, _ = wire
    with connect(running.port) as sock:
        sock.sendall(b"HEAD /head HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        response = read_all(sock)
    head, _, body = response.partition(b"\r\n\r\n")
    assert headers_of(head)["content-length"] == "12" and body == b""


def test_expect_100_continue_is_answered_when_the_app_reads() -> None:
    app = WireApp()
    running = Running(app, HttpLimits())
    try:
        with connect(running.port) as sock:
            head = (
                b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n"
            )
            sock.sendall(head + b"\r\n")
            assert sock.recv(65536) == b"HTTP/1.1 100 Continue\r\n\r\n"
            sock.sendall(b"ok")
            _, body, _ = read_response(sock)
        assert body == b"ok"
    finally:
        running.close()


def test_lifespan_startup_runs_before_serving_and_shutdown_after() -> None:
    app = WireApp()
    running = Running(app, HttpLimits())
    assert app.events == ["lifespan.startup"]
    with connect(running.port) as sock:
        sock.sendall(post("/echo", b"x", extra="Connection: close\r\n"))
        read_all(sock)
    running.close()
    assert app.events == ["lifespan.startup", "lifespan.shutdown"]


# --- tests/test_http_limits.py's cases against this server and the real gateway -------


@pytest.fixture(scope="module")
def upstream() -> Iterator[ReplayUpstream]:
    with ReplayUpstream() as replay:
        yield replay


@pytest.fixture(scope="module")
def served(upstream: ReplayUpstream) -> Iterator[SimpleNamespace]:
    config = {
        "upstreams": {"openai": {"kind": "openai", "base_url": upstream.url}},
        "routes": [{"match": "*", "upstream": "openai"}],
    }
    app = Gateway(GatewayConfig.model_validate(config), ListRecorder(), Catalog.load())
    limits = HttpLimits(
        header_timeout_s=limits_cases.HEADER_TIMEOUT_S, keep_alive_s=limits_cases.KEEP_ALIVE_S
    )
    running = Running(app, limits)
    try:
        yield SimpleNamespace(url=running.url)
    finally:
        running.close()


LIMITS_CASES = [name for name in dir(limits_cases) if name.startswith("test_")]
globals().update({name: getattr(limits_cases, name) for name in LIMITS_CASES})


def test_every_http_limits_case_runs_here_too() -> None:
    # the 11 cases of tests/test_http_limits.py (counted there by hand)
    assert len(LIMITS_CASES) == 11


# --- tests/test_client_disconnect.py's first case, against this server -----------------


def test_sdk_closing_mid_stream_is_a_499_with_the_flag_through_this_server() -> None:
    """As test_client_disconnect's test_sdk_closing_mid_stream_cancels_upstream_and_
    records_499_with_the_flag (there on uvicorn), with a ListRecorder for the ledger."""
    import openai

    with ReplayUpstream() as upstream:
        config = {
            "upstreams": {"openai": {"kind": "openai", "base_url": upstream.url}},
            "routes": [{"match": "*", "upstream": "openai"}],
            "client_disconnect": "cancel",
        }
        recorder = ListRecorder()
        app = Gateway(GatewayConfig.model_validate(config), recorder, Catalog.load())
        running = Running(app, HttpLimits())
        try:
            upstream.delay = 0.3  # before each streamed event
            client = openai.OpenAI(base_url=f"{running.url}/v1", api_key="sk-test", max_retries=0)
            hello = [{"role": "user", "content": "Say hello."}]
            stream = client.chat.completions.create(
                model="gpt-4o-mini", messages=hello, stream=True
            )
            seen = []
            for chunk in stream:
                seen.append(chunk.choices[0].delta.content)
                if len(seen) == 2:  # "" then "Hello": leave during the next pause
                    break
            stream.close()
            client.close()
            call = recorder.next_call(0)
            time.sleep(0.3 * 8)  # the replay handler stops at its next write
            sent = bytes(upstream.served[-1].sent)
        finally:
            running.close()
    assert seen == ["", "Hello"]
    assert b"[DONE]" not in sent  # the upstream request was cancelled
    assert call.status == 499 and call.flags == ("client_disconnected",)
    assert call.error == "the client disconnected mid-stream; the upstream request was cancelled"


def test_https_with_an_ssl_context(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"]
        + ["-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(cert, key)
    running = Running(WireApp(), HttpLimits(), ssl=server_side)
    try:
        client_side = ssl.create_default_context(cafile=str(cert))
        with client_side.wrap_socket(connect(running.port), server_hostname="127.0.0.1") as sock:
            sock.sendall(post("/scheme", b""))
            _, body, _ = read_response(sock)
    finally:
        running.close()
    assert body == b"https"
