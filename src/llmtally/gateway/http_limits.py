"""The HTTP server's limits: uvicorn's httptools protocol with the bounds it lacks.

uvicorn (0.55, httptools) reads request heads without limit: a 1 MB header or
10,000 headers are taken whole, a connection that never sends a byte stays
open, and one that sends its headers a byte a second is never cut (uvicorn's
keep-alive timer runs only between requests). It also answers an HTTP/1.0
client in chunked encoding, which HTTP/1.0 does not have. This protocol, a
subclass of uvicorn's, adds:

- a limit on the head (request line and headers, ``max_header_bytes``) and on
  the number of headers (``max_headers``): 431 (414 for the URL alone), JSON in
  the wire's shape on API paths, then the connection closes;
- a head deadline (``header_timeout_s``) from the connection, or from a later
  request's first byte, to its last header: 408 if part of a request came,
  else the connection just closes;
- HTTP/1.0: a response without ``content-length`` goes out as it is, ended by
  closing the connection (never chunked).

Parsing, keep-alive and the ASGI cycle stay uvicorn's (docs/decisions.md).
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import uvicorn
from uvicorn._types import ASGISendEvent
from uvicorn.protocols.http.httptools_impl import (
    HEADER_RE,
    HEADER_VALUE_RE,
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)

from llmtally.gateway.app import is_api_path
from llmtally.gateway.clouds import cloud_path
from llmtally.gateway.config import HttpLimits
from llmtally.providers.errors import Family, bedrock_error_type, error_body
from llmtally.providers.wires import wire_for_path

__all__ = [
    "CloseDelimitedCycle",
    "LimitedHttpProtocol",
    "limited_protocol",
    "refusal_bytes",
    "server_config",
]


def refusal_bytes(url: bytes, status: int, message: str) -> bytes:
    """A whole response that refuses the request and closes the connection:
    JSON in the wire's error shape on API paths, plain text elsewhere."""
    path = url.split(b"?", 1)[0].decode("latin-1")
    if is_api_path(path):
        wire = wire_for_path(path)
        cloud = cloud_path(path, None) if wire is None else None
        known: Family = wire.family if wire else cloud.wire.family if cloud else "openai"
        family: Family | None = known
        body = error_body(known, status, message)
        kind = b"application/json"
    else:
        family, body, kind = None, (message + "\n").encode(), b"text/plain; charset=utf-8"
    head = b"content-type: %s\r\ncontent-length: %d\r\nconnection: close\r\n\r\n" % (
        kind,
        len(body),
    )
    if family == "bedrock":  # where AWS SDKs read the error's name
        head = b"x-amzn-errortype: %s\r\n" % bedrock_error_type(status).encode() + head
    return STATUS_LINE[status] + head + body


def head_refusal(
    limits: HttpLimits, head_bytes: int, header_count: int, count: int
) -> tuple[int, str] | None:
    """The status and message refusing a request head of ``head_bytes`` bytes and
    ``header_count`` headers so far (``count``: headers in the part just read, 0
    while still in the URL), or None while it is within the limits."""
    if header_count > limits.max_headers:
        return 431, f"more than {limits.max_headers} request headers"
    if head_bytes <= limits.max_header_bytes:
        return None
    if count == 0:  # still in the URL
        return 414, f"the URL is over the limit of {limits.max_header_bytes} bytes"
    return 431, f"the request headers are over the limit of {limits.max_header_bytes} bytes"


class LimitedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with head limits, a head deadline and HTTP/1.0
    framing; ``limits`` is set on the subclass :func:`limited_protocol` makes."""

    limits: ClassVar[HttpLimits] = HttpLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._head_bytes = 0
        self._header_count = 0
        self._in_head = False  # part of a request head has come
        self._refused = False  # answered with a refusal: ignore the rest

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        if self._refused:
            return
        super().on_message_begin()
        self._head_bytes = self._header_count = 0
        self._in_head = True
        if self._deadline is None:
            self._arm()

    def on_url(self, url: bytes) -> None:
        if not self._refused:
            super().on_url(url)  # kept first: a refusal's shape depends on the path
            self._over(len(url), 0)

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self._refused and not self._over(len(name) + len(value) + 4, 1):
            super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self._refused:
            return
        self._disarm()
        self._in_head = False
        previous = self.cycle
        super().on_headers_complete()
        if self.cycle is not previous and self.scope["http_version"] == "1.0":
            # the task that runs it has not started yet: it will use this send
            self.cycle.__class__ = CloseDelimitedCycle

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self._refused:
            super().on_message_complete()

    def _arm(self) -> None:
        self._deadline = self.loop.call_later(self.limits.header_timeout_s, self._head_timeout)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _over(self, size: int, count: int) -> bool:
        """Count part of the head; refuse the request once it is over a limit."""
        self._head_bytes += size
        self._header_count += count
        refusal = head_refusal(self.limits, self._head_bytes, self._header_count, count)
        if refusal is not None:
            self._refuse(*refusal)
        return refusal is not None

    def _head_timeout(self) -> None:
        self._deadline = None
        if self.transport.is_closing() or self._refused:
            return
        if not self._in_head:
            self.transport.close()  # nothing came
            return
        seconds = f"{self.limits.header_timeout_s:g}"
        self._refuse(408, f"the request headers did not arrive within {seconds} s")

    def _refuse(self, status: int, message: str) -> None:
        """Answer ``status`` and close; a response still going out for an earlier
        (pipelined) request finishes first, and then the connection closes unanswered."""
        self._refused = True
        self._disarm()
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.keep_alive = False
            self.flow.pause_reading()
            return
        self.transport.write(refusal_bytes(self.url, status, message))
        self.transport.close()


class CloseDelimitedCycle(RequestResponseCycle):
    """An HTTP/1.0 request's cycle. HTTP/1.0 has no chunked encoding: a response
    without ``content-length`` is sent as it comes and ended by closing the
    connection; a response with one is uvicorn's (closed after it, as for any 1.0)."""

    _raw = False

    async def send(self, message: ASGISendEvent) -> None:
        if self._raw or (not self.response_started and self._unframed(message)):
            await self._send_raw(message)
        else:
            await super().send(message)

    def _unframed(self, message: ASGISendEvent) -> bool:
        if message["type"] != "http.response.start" or self.scope["method"] == "HEAD":
            return False
        names = {name.lower() for name, _ in message.get("headers", [])}
        return message["status"] not in (204, 304) and b"content-length" not in names

    async def _send_raw(self, message: ASGISendEvent) -> None:
        if self.flow.write_paused and not self.disconnected:
            await self.flow.drain()
        if self.disconnected:
            return
        if message["type"] == "http.response.start":
            self._raw = self.response_started = True
            self.waiting_for_100_continue = self.keep_alive = False
            self.transport.write(self._head(message["status"], message.get("headers", [])))
            return
        if message["type"] != "http.response.body" or self.response_complete:
            raise RuntimeError(f"unexpected ASGI message {message['type']!r}")
        self.transport.write(message.get("body", b""))
        if not message.get("more_body", False):
            self.response_complete = True
            self.message_event.set()
            self.transport.close()
            self.on_response()

    def _head(self, status: int, headers: Any) -> bytes:
        lines = [STATUS_LINE[status]]
        for name, value in [*self.default_headers, *headers]:
            if HEADER_RE.search(name) or HEADER_VALUE_RE.search(value):
                raise RuntimeError("invalid HTTP header")
            if name.lower() not in (b"connection", b"transfer-encoding"):
                lines.append(b"%s: %s\r\n" % (name.lower(), value))
        lines.append(b"connection: close\r\n\r\n")
        return b"".join(lines)


def limited_protocol(limits: HttpLimits) -> type[LimitedHttpProtocol]:
    """The protocol class for uvicorn's ``http=`` with these limits."""
    return type("LimitedHttpProtocol", (LimitedHttpProtocol,), {"limits": limits})


def server_config(app: Any, host: str, port: int, limits: HttpLimits) -> uvicorn.Config:
    """The uvicorn config ``llmtally serve`` runs (tests run the same)."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=limited_protocol(limits),
        timeout_keep_alive=limits.keep_alive_s,
        log_level="warning",
        access_log=False,  # the ledger is the access log
        proxy_headers=False,  # loopback by default: no proxy-headers middleware per request
        lifespan="on",
        timeout_graceful_shutdown=30,
    )
