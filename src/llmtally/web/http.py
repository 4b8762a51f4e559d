"""The little HTTP the dashboard needs on raw ASGI: a request, a response, errors.

Query strings are parsed strictly enough that a shared URL means one thing: a
parameter given twice is refused rather than one copy silently winning.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qsl

__all__ = [
    "HTTPError",
    "Receive",
    "Request",
    "Response",
    "Scope",
    "Send",
    "parse_query",
    "read_body",
]

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MAX_FORM_BYTES = 16 * 1024
# Every page: no framing, no sniffing, scripts only from this server (no inline
# script); Plotly.js adds inline styles, hence 'unsafe-inline' for styles only.
SECURITY_HEADERS = (
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "same-origin"),
    (
        "content-security-policy",
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    ),
)


class HTTPError(Exception):
    """A page that cannot be shown: ``status`` and a message for the person asking."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message

    @property
    def title(self) -> str:
        return HTTPStatus(self.status).phrase


def parse_query(raw: bytes | str) -> dict[str, str]:
    """``a=1&b=2`` as a dict; HTTPError 400 for a parameter given twice."""
    text = raw.decode("latin-1") if isinstance(raw, bytes) else raw
    params: dict[str, str] = {}
    for name, value in parse_qsl(text, keep_blank_values=True, errors="replace"):
        if name in params:
            raise HTTPError(400, f"{name}: given more than once; give each filter once")
        params[name] = value
    return params


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes = b""
    client: str = ""  # the client's address (ASGI ``client``), "" when unknown
    currency: str = "USD"  # the page's money (``?currency=``, the setting: web.money_view)

    @classmethod
    def from_scope(cls, scope: Scope, body: bytes = b"") -> Request:
        headers: dict[str, str] = {}
        for key, value in scope.get("headers", []):
            headers[key.decode("latin-1").lower()] = value.decode("latin-1")
        return cls(
            method=scope["method"],
            path=scope["path"],
            query=parse_query(scope.get("query_string", b"")),
            headers=headers,
            body=body,
            client=(scope.get("client") or ("",))[0],
        )

    @property
    def cookies(self) -> dict[str, str]:
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(self.headers.get("cookie", ""))
        except CookieError:
            return {}
        return {name: morsel.value for name, morsel in jar.items()}

    @property
    def host(self) -> str:
        return self.headers.get("host", "127.0.0.1")

    def form(self) -> dict[str, str]:
        """An ``application/x-www-form-urlencoded`` body as a dict."""
        kind = self.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != "application/x-www-form-urlencoded":
            raise HTTPError(415, "send the form as application/x-www-form-urlencoded")
        return parse_query(self.body)


@dataclass(slots=True)
class Response:
    status: int
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def redirect(cls, location: str, headers: Mapping[str, str] | None = None) -> Response:
        extra = [("location", location), *(headers or {}).items()]
        return cls(303, b"", "text/plain; charset=utf-8", extra)

    async def send(self, send: Send, head: bool = False) -> None:
        headers = [
            (b"content-type", self.content_type.encode()),
            (b"content-length", str(len(self.body)).encode()),
        ]
        names = {name for name, _ in self.headers}
        for name, value in (*SECURITY_HEADERS, ("cache-control", "no-store")):
            if name not in names:
                headers.append((name.encode(), value.encode()))
        headers += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in self.headers]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if head else self.body})


async def read_body(receive: Receive, limit: int = MAX_FORM_BYTES) -> bytes:
    """The request body; HTTPError 413 past ``limit`` bytes."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b""
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise HTTPError(413, f"request body over {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)
