"""An upstream HTTP/1.1 client on asyncio protocols and httptools: the opt-in
``upstream_client: raw`` (issue 16). It does only what the gateway needs: POST a
body, relay the answer as it arrives, keep the connection for the next call.

- Keep-alive pool per (scheme, host, port); at most ``max_idle`` idle
  connections are kept per key (the rest are closed); like the aiohttp
  session (``limit=0``) it does not cap connections in use.
- Content-Length, chunked and read-until-close bodies (httptools parses them).
- Backpressure: the socket stops being read while more than ``HIGH_WATER``
  bytes wait unread, and resumes below ``LOW_WATER``.
- One total timeout per request (connect, send, headers and body), as the
  aiohttp path's ``ClientTimeout(total=...)``: ``TimeoutError`` on expiry.
- TLS upstreams with ``ssl.create_default_context()`` (it honours
  ``SSL_CERT_FILE``).
- A pooled connection the upstream closed while idle is dropped and another
  taken before anything is sent; a request once written is never sent again.
- It asks for ``identity``; an upstream that compresses anyway (``gzip`` or
  ``deflate``, as aiohttp decodes) is decoded as it arrives, any other coding
  is a ``RawUpstreamError`` (a 502), never relayed undecoded.
- Errors are ``aiohttp.ClientError`` subclasses, so the gateway maps them to
  the same 502/504 answers and stream cuts as it does for aiohttp.
"""

from __future__ import annotations

import asyncio
import ssl
import zlib
from collections import deque
from collections.abc import AsyncIterator, Mapping
from types import TracebackType
from typing import Protocol, cast
from urllib.parse import urlsplit

import aiohttp
import httptools

__all__ = ["RawConnectError", "RawPool", "RawResponse", "RawUpstreamError", "UpstreamResponse"]

HIGH_WATER = 256 * 1024  # unread body bytes before the socket is paused
LOW_WATER = 64 * 1024
_Key = tuple[str, str, int]


class UpstreamContent(Protocol):
    async def read(self, n: int = -1) -> bytes: ...
    def iter_any(self) -> AsyncIterator[bytes]: ...


class UpstreamResponse(Protocol):
    """What the gateway reads of an answer: aiohttp's ``ClientResponse`` or ours."""

    @property
    def status(self) -> int: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def content(self) -> UpstreamContent: ...


class RawUpstreamError(aiohttp.ClientError):
    """The upstream broke the exchange (closed early, or sent bad HTTP)."""


class RawConnectError(RawUpstreamError):
    """No connection could be made; ``os_error`` says why."""

    def __init__(self, host: str, os_error: OSError) -> None:
        super().__init__(f"cannot connect to {host}: {os_error}")
        self.os_error = os_error


class _Conn(asyncio.Protocol):
    """One connection and the response being read on it."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._waiter: asyncio.Future[None] | None = None
        self._reset()

    def _reset(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.status = 0
        self.headers: list[tuple[str, str]] = []
        self.head_done = False
        self.done = False
        self.keep_alive = False
        self.error: Exception | None = None
        self._until_close = False
        self._body: deque[bytes] = deque()
        self._buffered = 0
        self._paused = False
        self._decoder: zlib._Decompress | None = None

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(RawUpstreamError("the upstream switched protocols"))
        except httptools.HttpParserError as exc:
            self._fail(RawUpstreamError(f"the upstream sent bad HTTP: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.head_done and self._until_close and not self.done:
            self.done = True  # a body without a length ends with the connection
        elif not self.done:
            why = f": {exc}" if exc else ""
            self._fail(RawUpstreamError(f"the upstream closed the connection{why}"))
        self._wake()

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        if 100 <= self.status < 200:  # an interim answer: wait for the real one
            self.headers, self.status = [], 0
            return
        names = {name.lower() for name, _ in self.headers}
        try:
            self._decoder = _decoder(self.headers)
        except RawUpstreamError as exc:
            self._fail(exc)
            return
        self._until_close = not names & {"content-length", "transfer-encoding"}
        self.keep_alive = self.parser.should_keep_alive() and not self._until_close
        self.head_done = True
        self._wake()

    def on_body(self, body: bytes) -> None:
        if self._decoder is not None:
            try:
                body = self._decoder.decompress(body)
            except zlib.error as exc:
                self._fail(RawUpstreamError(f"the upstream's compressed body is broken: {exc}"))
                return
        self._body.append(bytes(body))
        self._buffered += len(body)
        if self._buffered > HIGH_WATER and not self._paused and self.transport is not None:
            self.transport.pause_reading()
            self._paused = True
        self._wake()

    def on_message_complete(self) -> None:
        if self.status == 0:
            return  # the end of an interim (1xx) answer
        if self._decoder is not None and (rest := self._decoder.flush()):
            self._body.append(rest)
            self._buffered += len(rest)
        self.done = True
        self._wake()

    # the reading side
    def _fail(self, exc: Exception) -> None:
        if self.error is None:
            self.error = exc
        if self.transport is not None:
            self.transport.close()
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def _wait(self) -> None:
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    async def head(self) -> None:
        while not self.head_done:
            if self.error is not None:
                raise self.error
            await self._wait()

    async def chunk(self) -> bytes:
        """The next body bytes as they came; ``b""`` once the body has ended."""
        while not self._body:
            if self.error is not None:
                raise self.error
            if self.done:
                return b""
            await self._wait()
        # all that has arrived, in one piece (as aiohttp's iter_any gives it)
        data = self._body.popleft() if len(self._body) == 1 else b"".join(self._body)
        self._body.clear()
        self._buffered -= len(data)
        if self._paused and self._buffered < LOW_WATER and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        return data

    def reusable(self) -> bool:
        return self.done and self.keep_alive and not self.closed and self.error is None

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        """Drop the connection at once: a TLS one sends no close_notify, whose
        exchange would outlive an event loop that is shutting down."""
        if self.transport is not None:
            self.transport.abort()


class _Content:
    """The body, read the ways the gateway reads aiohttp's ``response.content``."""

    def __init__(self, response: RawResponse) -> None:
        self._response = response

    async def read(self, n: int = -1) -> bytes:
        limit = n if n >= 0 else 1 << 62
        parts, size = [], 0
        while size < limit:
            data = await self._response.chunk()
            if not data:
                break
            parts.append(data)
            size += len(data)
        return b"".join(parts)[:limit]

    async def iter_any(self) -> AsyncIterator[bytes]:
        while data := await self._response.chunk():
            yield data


class RawResponse:
    """An upstream's answer: ``status``, ``headers`` and ``content``; on leaving
    the ``async with`` the connection goes back to the pool if it can."""

    def __init__(self, pool: RawPool, key: _Key, conn: _Conn, deadline: float) -> None:
        self._pool, self._key, self._conn, self._deadline = pool, key, conn, deadline
        self.status = conn.status
        self.headers: Mapping[str, str] = dict(conn.headers)
        self.content = _Content(self)

    async def chunk(self) -> bytes:
        async with asyncio.timeout_at(self._deadline):
            return await self._conn.chunk()

    def release(self) -> None:
        self._pool.put_back(self._key, self._conn)


class _Request:
    """``async with pool.post(...) as response``."""

    def __init__(self, pool: RawPool, url: str, data: bytes, headers: Mapping[str, str]) -> None:
        self._pool, self._url, self._data, self._headers = pool, url, data, headers
        self._response: RawResponse | None = None
        self.timeout_s = 600.0

    async def __aenter__(self) -> RawResponse:
        deadline = asyncio.get_running_loop().time() + self.timeout_s
        async with asyncio.timeout_at(deadline):
            self._response = await self._pool.send(self._url, self._data, self._headers, deadline)
        return self._response

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._response is not None:
            self._response.release()


class RawPool:
    """Keep-alive connections per (scheme, host, port)."""

    def __init__(self, max_idle: int = 256) -> None:
        self.max_idle = max_idle
        self.connections_opened = 0  # counted for tests and /metrics-style checks
        self._idle: dict[_Key, list[_Conn]] = {}
        self._ssl: ssl.SSLContext | None = None
        self.closed = False

    def post(
        self, url: str, *, data: bytes, headers: Mapping[str, str], timeout_s: float
    ) -> _Request:
        request = _Request(self, url, data, headers)
        request.timeout_s = timeout_s
        return request

    async def send(
        self, url: str, data: bytes, headers: Mapping[str, str], deadline: float
    ) -> RawResponse:
        parts = urlsplit(url)
        scheme, host = parts.scheme, parts.hostname or ""
        if scheme not in ("http", "https"):
            raise RawUpstreamError(f"{url}: only http and https upstreams")
        port = parts.port or (443 if scheme == "https" else 80)
        key = (scheme, host, port)
        conn = self._take(key) or await self._open(key)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn.transport.write(_request_bytes(target, parts.netloc, data, headers))  # type: ignore[union-attr]
        try:
            await conn.head()
        except BaseException:
            conn.close()
            raise
        return RawResponse(self, key, conn, deadline)

    def _take(self, key: _Key) -> _Conn | None:
        """An idle connection still open (one the upstream closed is dropped: nothing
        was sent on it, so taking the next one is safe)."""
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            if not conn.closed and conn.transport is not None and not conn.transport.is_closing():
                conn._reset()
                return conn
            conn.close()
        return None

    async def _open(self, key: _Key) -> _Conn:
        scheme, host, port = key
        context = self._context() if scheme == "https" else None
        loop = asyncio.get_running_loop()
        try:
            _, conn = await loop.create_connection(
                _Conn, host, port, ssl=context, server_hostname=host if context else None
            )
        except ssl.SSLError as exc:  # checked before OSError, whose subclass it is
            raise RawUpstreamError(f"TLS with {host}:{port} failed: {exc.reason}") from exc
        except OSError as exc:
            raise RawConnectError(f"{host}:{port}", exc) from exc
        self.connections_opened += 1
        return conn

    def _context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl.create_default_context()
        return self._ssl

    def put_back(self, key: _Key, conn: _Conn) -> None:
        idle = self._idle.setdefault(key, [])
        if self.closed or not conn.reusable() or len(idle) >= self.max_idle:
            conn.close()  # a body left unread, a closing upstream, or enough kept
            return
        idle.append(conn)

    async def close(self) -> None:
        """At shutdown: the idle connections are aborted, not closed, and their
        ``connection_lost`` runs before this returns; a TLS close would finish after
        the loop had closed (uvloop: "Event loop is closed", an unclosed transport)."""
        self.closed = True
        for idle in self._idle.values():
            for conn in idle:
                conn.abort()
        self._idle.clear()
        await asyncio.sleep(0)  # the scheduled connection_lost callbacks run


_CODINGS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


def _decoder(headers: list[tuple[str, str]]) -> zlib._Decompress | None:
    """A decoder for a body sent compressed although identity was asked for; the
    gateway drops Content-Encoding when it relays, so the bytes must be plain."""
    coding = next((v.strip().lower() for k, v in headers if k.lower() == "content-encoding"), "")
    if coding in ("", "identity"):
        return None
    if coding not in _CODINGS:
        raise RawUpstreamError(f"the upstream answered in {coding!r} encoding, not asked for")
    return zlib.decompressobj(_CODINGS[coding])


def _request_bytes(target: str, netloc: str, data: bytes, headers: Mapping[str, str]) -> bytes:
    # identity: the gateway drops Content-Encoding when it relays, and reads usage in the body
    lines = [f"POST {target} HTTP/1.1", f"host: {netloc}", f"content-length: {len(data)}"]
    lines.append("accept-encoding: identity")
    lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() not in _OWN_HEADERS]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + data


_OWN_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "accept-encoding"}
)
