"""An opt-in HTTP/1.1 server: asyncio.Protocol + httptools driving the ASGI app.

The same wire behaviour as uvicorn with :mod:`llmtally.gateway.http_limits`, with
less work per request (benchmarks/RESULTS.md, "gateway: server protocol choice"):

- keep-alive, closed after ``keep_alive_s`` idle; one request at a time per
  connection: a request that begins while one is answered (pipelined) pauses
  reading and waits until that response is complete (as in uvicorn, the app's
  task may still be running then). Reading is not paused for the request being
  answered, so a client that leaves is seen at once;
- request bodies with Content-Length or chunked, handed over as they arrive
  (reading pauses above 64 KiB not yet taken by the app);
- responses with Content-Length, or chunked when the app gives none (SSE
  streams); HTTP/1.0: close-delimited instead of chunked, and the connection
  closes after the response unless the client asked for keep-alive and the
  response has a length;
- flow control: ``send`` waits while the transport is above its high-water mark;
- head limits and a head deadline, with http_limits' refusals (431/414/408);
- 400 on a malformed request, 500 if the app fails before it answers;
- a client that disconnects: ``receive()`` returns ``http.disconnect``;
- the response head is written with the first body bytes when they come in the
  same loop tick (one write, one syscall), else at the end of the tick;
- the ASGI lifespan (startup before listening, shutdown after the last response).

Entry point: :func:`serve_raw`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any, Literal, cast
from urllib.parse import unquote

import httptools
from uvicorn.protocols.http.httptools_impl import HEADER_RE, HEADER_VALUE_RE, STATUS_LINE

from llmtally.gateway.app import ASGIApp, Message, Scope
from llmtally.gateway.config import HttpLimits
from llmtally.gateway.http_limits import head_refusal, refusal_bytes

__all__ = ["RawHttpProtocol", "RawServer", "serve_raw"]

log = logging.getLogger("llmtally.gateway.server_raw")

HIGH_WATER = 64 * 1024  # request body bytes buffered before reading pauses
DISCONNECT: Message = {"type": "http.disconnect"}


class _Connections:
    """The server's open connections and the app's running tasks: for shutdown."""

    def __init__(self) -> None:
        self.open: set[RawHttpProtocol] = set()
        self.tasks: set[asyncio.Task[None]] = set()


class _Cycle:
    """One request and its response."""

    def __init__(self, conn: RawHttpProtocol, scope: Scope, keep_alive: bool) -> None:
        self.conn = conn
        self.scope = scope
        self.keep_alive = keep_alive
        self.http10 = scope["http_version"] == "1.0"
        self.head_only = scope["method"] == "HEAD"
        self.body = bytearray()
        self.more_body = True  # the request body has not all arrived
        self.delivered = False  # the last request body message was handed to the app
        self.event: asyncio.Event | None = None  # made only when receive() must wait
        self.expect_100 = False
        self.disconnected = False
        self.started = False
        self.complete = False
        self.framing: Literal["length", "chunked", "close"] = "length"
        self.remaining = 0  # bytes of content-length still to send
        self.pending_head: bytes | None = None

    def wake(self) -> None:
        if self.event is not None:
            self.event.set()

    async def run(self, app: ASGIApp) -> None:
        try:
            await app(self.scope, self.receive, self.send)
        except BaseException as exc:
            log.error("Exception in ASGI application", exc_info=exc)
            if not self.started and not self.disconnected:
                await self._send_500()
            elif not self.complete:  # after a complete response the connection is fine
                self.conn.transport.close()
            if not isinstance(exc, Exception):
                raise
        else:
            if not self.started and not self.disconnected:
                log.error("ASGI callable returned without starting response.")
                await self._send_500()
            elif not self.complete and not self.disconnected:
                log.error("ASGI callable returned without completing response.")
                self.conn.transport.close()
        finally:
            self.conn.cycle_done(self)

    async def _send_500(self) -> None:
        headers = [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", b"21"),
            (b"connection", b"close"),
        ]
        await self.send({"type": "http.response.start", "status": 500, "headers": headers})
        await self.send({"type": "http.response.body", "body": b"Internal Server Error"})

    async def receive(self) -> Message:
        conn = self.conn
        if self.expect_100 and not conn.transport.is_closing():
            conn.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self.expect_100 = False
        while not (self.disconnected or self.complete):
            if not self.delivered and (self.body or not self.more_body):
                body, self.body = bytes(self.body), bytearray()
                self.delivered = not self.more_body
                return {"type": "http.request", "body": body, "more_body": self.more_body}
            if self.event is None:
                self.event = asyncio.Event()
            self.event.clear()
            conn.resume_reading()  # more body, or to see the client leave
            await self.event.wait()
        return DISCONNECT

    async def send(self, message: Message) -> None:
        conn = self.conn
        if conn.write_paused is not None and not self.disconnected:
            await asyncio.shield(conn.write_paused)  # a cancelled sender leaves it pending
        if self.disconnected:
            return
        if not self.started:
            if message["type"] != "http.response.start":
                raise RuntimeError(f"expected http.response.start, got {message['type']!r}")
            self._start(message["status"], message.get("headers", []))
        elif not self.complete:
            if message["type"] != "http.response.body":
                raise RuntimeError(f"expected http.response.body, got {message['type']!r}")
            self._body(message.get("body", b""), message.get("more_body", False))
        else:
            raise RuntimeError(f"unexpected ASGI message {message['type']!r} after the response")

    def _start(self, status: int, headers: Any) -> None:
        self.started = True
        self.expect_100 = False
        lines, length, chunked = self._header_lines(status, headers)
        bodiless = self.head_only or status in (204, 304) or status < 200
        if length is not None and not chunked:
            self.remaining = length
        elif bodiless:
            pass
        elif self.http10:
            self.framing, self.keep_alive = "close", False
        else:
            self.framing = "chunked"
            if not chunked:
                lines.append(b"transfer-encoding: chunked\r\n")
        if not self.keep_alive:
            lines.append(b"connection: close\r\n")
        elif self.http10:
            lines.append(b"connection: keep-alive\r\n")
        self.pending_head = b"".join(lines) + b"\r\n"
        self.conn.loop.call_soon(self._flush_head)

    def _header_lines(self, status: int, headers: Any) -> tuple[list[bytes], int | None, bool]:
        """The status line and the app's headers (connection left out, and
        transfer-encoding for HTTP/1.0), its content-length and whether it chunks."""
        lines = [STATUS_LINE[status]]
        length: int | None = None
        chunked = False
        for name, value in headers:
            if HEADER_RE.search(name) or HEADER_VALUE_RE.search(value):
                raise RuntimeError("invalid HTTP header")
            name = name.lower()
            if name == b"content-length" and length is None:
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = value.lower() == b"chunked"
                if self.http10:
                    continue  # HTTP/1.0 has no chunked encoding
            elif name == b"connection":
                if b"close" in [t.strip() for t in value.lower().split(b",")]:
                    self.keep_alive = False
                continue  # written by _start, once
            lines.append(b"%s: %s\r\n" % (name, value))
        return lines, length, chunked

    def _flush_head(self) -> None:
        if self.pending_head is not None and not self.disconnected:
            self.conn.transport.write(self.pending_head)
        self.pending_head = None

    def _body(self, body: bytes, more: bool) -> None:
        if self.head_only:
            body = b""  # uvicorn's behaviour: a HEAD response's body is dropped unchecked
        elif self.framing == "chunked":
            framed = b"%x\r\n%b\r\n" % (len(body), body) if body else b""
            body = framed if more else framed + b"0\r\n\r\n"
        elif self.framing == "length":
            if len(body) > self.remaining:
                raise RuntimeError("Response content longer than Content-Length")
            self.remaining -= len(body)
            if not more and self.remaining:
                raise RuntimeError("Response content shorter than Content-Length")
        head, self.pending_head = self.pending_head, None
        data = head + body if head is not None else body
        if data:
            self.conn.transport.write(data)
        if not more:
            self.complete = True
            self.wake()
            self.conn.response_complete(self)


class RawHttpProtocol(asyncio.Protocol):
    """One client connection (see the module's docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        limits: HttpLimits,
        connections: _Connections,
        state: dict[str, Any] | None = None,
    ) -> None:
        self.app = app
        self.limits = limits
        self.connections = connections
        self.state = state
        self.loop = asyncio.get_running_loop()
        self.parser = httptools.HttpRequestParser(self)
        self.parser.set_dangerous_leniencies(lenient_data_after_close=True)
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.write_paused: asyncio.Future[None] | None = None
        self.read_paused = False
        self.cycle: _Cycle | None = None  # the latest request parsed (or being parsed)
        self.running: _Cycle | None = None
        self.queued: deque[_Cycle] = deque()  # pipelined, waiting for the running one
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.expect_100 = False
        # One timer per connection for both deadlines (head, idle): a request moves
        # the deadline (_due) without touching the timer, which re-arms when it fires early
        self._waiting: Literal["head", "idle"] | None = None
        self._due = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._head_bytes = self._header_count = 0
        self._in_head = False  # part of a request head has come
        self._refused = False  # answered with a refusal: ignore the rest
        self._closing = False  # close once the running response is complete
        self.server: tuple[str, int] | None = None
        self.client: tuple[str, int] | None = None
        self.scheme = "http"

    # --- the transport's side

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.server = _address(transport.get_extra_info("sockname"))
        self.client = _address(transport.get_extra_info("peername"))
        self.scheme = "https" if transport.get_extra_info("sslcontext") else "http"
        self.connections.open.add(self)
        self._wait("idle", self.limits.header_timeout_s)  # a first request must begin

    def connection_lost(self, exc: Exception | None) -> None:
        self._waiting = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.connections.open.discard(self)
        for cycle in (self.running, *self.queued):
            if cycle is not None and not cycle.complete:
                cycle.disconnected = True
                cycle.wake()
        self.queued.clear()
        self.resume_writing()

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._close_after_response()  # no protocol switch here: answered as plain HTTP
        except httptools.HttpParserError:
            if not self._refused:
                self._refuse(400, "Invalid HTTP request received.")

    def eof_received(self) -> bool | None:
        return None  # close the transport

    def pause_writing(self) -> None:
        if self.write_paused is None:
            self.write_paused = self.loop.create_future()

    def resume_writing(self) -> None:
        if self.write_paused is not None:
            if not self.write_paused.done():
                self.write_paused.set_result(None)
            self.write_paused = None

    def pause_reading(self) -> None:
        if not self.read_paused and not self.transport.is_closing():
            self.read_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.read_paused and not self.transport.is_closing():
            self.read_paused = False
            self.transport.resume_reading()

    # --- the parser's callbacks

    def on_message_begin(self) -> None:
        if self._refused:
            return
        self.url, self.headers, self.expect_100 = b"", [], False
        self._head_bytes = self._header_count = 0
        self._in_head = True
        self._wait("head", self.limits.header_timeout_s)
        if self.running is not None:
            self.pause_reading()  # pipelined: this one waits for the running one

    def on_url(self, url: bytes) -> None:
        if not self._refused:
            self.url += url
            self._over(len(url), 0)

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._refused or self._over(len(name) + len(value) + 4, 1):
            return
        name, value = name.lower(), value.rstrip(b" \t")
        if name == b"expect" and value.lower() == b"100-continue":
            self.expect_100 = True
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        if self._refused:
            return
        self._waiting = None
        self._in_head = False
        cycle = _Cycle(self, self._scope(), self.parser.should_keep_alive())
        cycle.expect_100 = self.expect_100
        self.cycle = cycle
        if self._closing:
            cycle.keep_alive = False
        if self.running is None:
            self._start(cycle)
        else:
            self.queued.append(cycle)

    def on_body(self, body: bytes) -> None:
        cycle = self.cycle
        if self._refused or cycle is None or cycle.complete:
            return
        cycle.body += body
        if len(cycle.body) > HIGH_WATER:
            self.pause_reading()
        cycle.wake()

    def on_message_complete(self) -> None:
        cycle = self.cycle
        if self._refused or cycle is None or cycle.complete:
            return
        cycle.more_body = False
        cycle.wake()

    # --- requests and responses

    def _scope(self) -> Scope:
        parsed = httptools.parse_url(self.url)
        raw_path = parsed.path
        path = raw_path.decode("ascii")
        scope: Scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": self.parser.get_http_version(),
            "server": self.server,
            "client": self.client,
            "scheme": self.scheme,
            "method": self.parser.get_method().decode("ascii"),
            "root_path": "",
            "path": unquote(path) if "%" in path else path,
            "raw_path": raw_path,
            "query_string": parsed.query or b"",
            "headers": self.headers,
        }
        if self.state:  # what the lifespan put there, a copy per request (as uvicorn)
            scope["state"] = self.state.copy()
        return scope

    def _start(self, cycle: _Cycle) -> None:
        self.running = cycle
        task = self.loop.create_task(cycle.run(self.app))
        self.connections.tasks.add(task)
        task.add_done_callback(self.connections.tasks.discard)

    def response_complete(self, cycle: _Cycle) -> None:
        """The response is out: the next request may start (as in uvicorn, while the
        app's task may still run, e.g. to record the call), or the connection closes."""
        self.running = None
        if not cycle.keep_alive or self.transport.is_closing():
            self.transport.close()
        elif self.queued:
            self._start(self.queued.popleft())
        elif self._closing:  # refused or shut down while this request ran
            self.transport.close()
        else:
            self.resume_reading()
            if not self._in_head:  # else a pipelined head is under way: its deadline holds
                self._wait("idle", self.limits.keep_alive_s)

    def cycle_done(self, cycle: _Cycle) -> None:
        """The app's task ended (after an unfinished response, ``run`` closed the connection)."""
        if self.running is cycle:
            self.running = None

    def is_idle(self) -> bool:
        return self.running is None and not self._in_head

    def shutdown(self) -> None:
        """Close now if idle, else after the running response."""
        if self.is_idle():
            self.transport.close()
        else:
            self._close_after_response()

    def _close_after_response(self) -> None:
        """Answer the requests parsed so far, then close."""
        self._closing = True
        if self.cycle is not None:
            self.cycle.keep_alive = False

    # --- timers and limits

    def _wait(self, waiting: Literal["head", "idle"], seconds: float) -> None:
        """From now, wait at most ``seconds`` for a request to begin (idle) or for
        its head to end (head)."""
        self._waiting = waiting
        self._due = due = self.loop.time() + seconds
        if self._timer is None or self._timer_at > due:
            if self._timer is not None:
                self._timer.cancel()
            self._timer, self._timer_at = self.loop.call_at(due, self._on_timer), due

    def _on_timer(self) -> None:
        self._timer = None
        if self._waiting is None or self.transport.is_closing() or self._refused:
            return  # a request runs: its end starts the next wait
        if self.loop.time() + 0.001 < self._due:  # the deadline moved since
            self._timer, self._timer_at = self.loop.call_at(self._due, self._on_timer), self._due
        elif self._waiting == "idle":
            self.transport.close()  # nothing came
        else:
            seconds = f"{self.limits.header_timeout_s:g}"
            self._refuse(408, f"the request headers did not arrive within {seconds} s")

    def _over(self, size: int, count: int) -> bool:
        """Count part of the head; refuse the request once it is over a limit
        (the same limits and messages as http_limits.LimitedHttpProtocol)."""
        self._head_bytes += size
        self._header_count += count
        refusal = head_refusal(self.limits, self._head_bytes, self._header_count, count)
        if refusal is not None:
            self._refuse(*refusal)
        return refusal is not None

    def _refuse(self, status: int, message: str) -> None:
        """Answer ``status`` and close; a response still going out for an earlier
        (pipelined) request finishes first, and the connection then closes unanswered."""
        self._refused = True
        self._waiting = None
        if self.running is not None or self.queued:
            self._close_after_response()
            self.pause_reading()
            return
        self.transport.write(refusal_bytes(self.url, status, message))
        self.transport.close()


class _Lifespan:
    """The ASGI lifespan: startup before the server listens, shutdown after it."""

    def __init__(self, app: ASGIApp, state: dict[str, Any]) -> None:
        self.app = app
        self.state = state
        self.inbox: asyncio.Queue[Message] = asyncio.Queue()
        self.outbox: asyncio.Queue[Message | None] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None
        self.error: BaseException | None = None

    async def startup(self) -> None:
        """Raises RuntimeError when the app fails its startup."""
        self.task = asyncio.create_task(self._run())
        await self.inbox.put({"type": "lifespan.startup"})
        answer = await self.outbox.get()
        if answer is None and self.error is not None:
            raise RuntimeError(f"the app's lifespan startup raised {self.error!r}")
        if answer is not None and answer["type"] == "lifespan.startup.failed":
            raise RuntimeError(f"the app's startup failed: {answer.get('message', '')}")
        # None without an error: the app returned at once, it has no lifespan

    async def shutdown(self) -> None:
        if self.task is None or self.task.done():
            return
        await self.inbox.put({"type": "lifespan.shutdown"})
        answer = await self.outbox.get()
        if answer is None or answer["type"] == "lifespan.shutdown.failed":
            log.error("the app's lifespan shutdown failed: %r", answer or self.error)
        await self.task

    async def _run(self) -> None:
        scope: Scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": self.state}
        try:
            await self.app(scope, self.inbox.get, self.outbox.put)
        except Exception as exc:
            self.error = exc
        finally:
            self.outbox.put_nowait(None)


class RawServer:
    """The app served on a listening socket with :class:`RawHttpProtocol`."""

    def __init__(self, app: ASGIApp, limits: HttpLimits, graceful_s: float = 30.0) -> None:
        self.app = app
        self.limits = limits
        self.graceful_s = graceful_s
        self.connections = _Connections()
        self.state: dict[str, Any] = {}
        self.lifespan = _Lifespan(app, self.state)
        self.server: asyncio.Server | None = None

    async def start(self, sock: Any, ssl: Any = None) -> None:
        """Run the lifespan startup, then accept connections on ``sock`` (a bound,
        listening socket.socket; ``ssl``: an ssl.SSLContext for HTTPS)."""
        await self.lifespan.startup()
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            lambda: RawHttpProtocol(self.app, self.limits, self.connections, self.state),
            sock=sock,
            ssl=ssl,
        )

    async def close(self) -> None:
        """Stop accepting, let running responses and the app's tasks finish (up to
        ``graceful_s``), close every connection, then run the lifespan shutdown."""
        if self.server is not None:
            self.server.close()
        for conn in list(self.connections.open):
            conn.shutdown()
        open_, tasks = self.connections.open, self.connections.tasks
        deadline = asyncio.get_running_loop().time() + self.graceful_s
        while (open_ or tasks) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)
        for conn in list(open_):
            conn.transport.abort()
        for task in list(tasks):
            task.cancel()
        await asyncio.sleep(0)  # let connection_lost and the cancellations run
        await self.lifespan.shutdown()


async def serve_raw(
    app: ASGIApp,
    sock: Any,
    limits: HttpLimits,
    *,
    stop: asyncio.Event | None = None,
    ssl: Any = None,
    graceful_s: float = 30.0,
) -> None:
    """Serve ``app`` on the listening socket ``sock`` until ``stop`` is set (or
    the task is cancelled), then shut down gracefully (:meth:`RawServer.close`)."""
    server = RawServer(app, limits, graceful_s)
    await server.start(sock, ssl)
    try:
        if stop is None:
            await asyncio.get_running_loop().create_future()  # until cancelled
        else:
            await stop.wait()
    finally:
        await server.close()


def _address(info: Any) -> tuple[str, int] | None:
    if isinstance(info, tuple) and len(info) >= 2:
        return str(info[0]), int(info[1])
    return None
