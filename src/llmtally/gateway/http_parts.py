"""What the gateway reads of a request and writes around a call, without I/O:
the client's headers, its body decoded and checked, the headers that go
upstream and those the client gets back.

These run on the event loop for every call, so the per-call work is kept
small (issue 16): header names are decoded once into bounded tables, and the
depth walk is skipped where the body has too few brackets to nest that deep.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from llmtally import fastjson
from llmtally.gateway.config import Upstream
from llmtally.gateway.forms import is_multipart, parse_form
from llmtally.json_depth import nests_deeper
from llmtally.providers.errors import Family, bedrock_error_type

__all__ = [
    "MAX_JSON_DEPTH",
    "decode_request",
    "error_headers",
    "json_headers",
    "request_headers",
    "response_headers",
    "upstream_headers",
]

# No provider's request nests anywhere near this; a JSON schema for tools might reach 20.
MAX_JSON_DEPTH = 64
# A \uD800-\uDFFF escape. JSON's grammar lets one stand alone (RFC 8259 section 8.2),
# but a lone surrogate is no Unicode text: no tokenizer counts it and no database stores
# it, so a call that carries one could be forwarded and never recorded (a row the ledger
# refuses took its whole batch with it). Where the scan finds such an escape in a UTF-8
# body (or the body is UTF-16 or -32), the parsed body is checked exactly (a pair is one
# character, and fine).
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
# not passed on from the upstream: hop-by-hop and framing headers, and the ones the
# gateway's own server writes (a second Date or Server would contradict it)
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding"}
    | {"date", "server"}
)
# Header names seen, decoded once: clients and upstreams send a few dozen names, so
# these tables stay small; past _NAMES_MAX further names are decoded every time.
_NAMES_MAX = 512
_REQUEST_NAMES: dict[bytes, str] = {}  # as sent -> lower-case str
_RESPONSE_NAMES: dict[str, bytes | None] = {}  # as sent -> lower-case bytes (None: dropped)


def request_headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """An ASGI request's headers by lower-case name, latin-1 (a repeated one: its
    last value)."""
    names, headers = _REQUEST_NAMES, {}
    for key, value in raw:
        name = names.get(key)
        if name is None:
            name = key.decode("latin-1").lower()
            if len(names) < _NAMES_MAX:
                names[key] = name
        headers[name] = value.decode("latin-1")
    return headers


def response_headers(upstream: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
    """The upstream's headers the client gets: lower-case names, no hop-by-hop ones."""
    names, out = _RESPONSE_NAMES, []
    for name, value in upstream.items():
        if name in names:
            kept = names[name]
        else:
            lower = name.lower()
            kept = None if lower in _HOP_BY_HOP else lower.encode("latin-1")
            if len(names) < _NAMES_MAX:
                names[name] = kept
        if kept is not None:
            out.append((kept, value.encode("latin-1")))
    return out


def json_headers(length: int) -> list[tuple[bytes, bytes]]:
    return [(b"content-type", b"application/json"), (b"content-length", b"%d" % length)]


def error_headers(family: Family, status: int, length: int) -> list[tuple[bytes, bytes]]:
    """An error's headers: JSON, and for Bedrock's family the error's name in
    ``x-amzn-ErrorType``, where AWS SDKs read it."""
    headers = json_headers(length)
    if family == "bedrock":
        headers.append((b"x-amzn-errortype", bedrock_error_type(status).encode()))
    return headers


def decode_request(raw: bytes, content_type: str) -> dict[str, Any] | str:
    """The request as a dict (JSON, or a multipart form's fields), or why not."""
    if is_multipart(content_type):
        try:
            return parse_form(raw, content_type)
        except ValueError as exc:
            return f"malformed multipart form: {exc}"
    try:
        request = fastjson.loads(raw)  # json.loads' result and errors, faster
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return f"malformed JSON body: {exc}"
    except RecursionError:
        return f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels"
    if not isinstance(request, dict):
        return "the request body must be a JSON object"
    # Every level opens with a { or [ whose code unit holds that byte (UTF-8, -16 or
    # -32 alike), so a body with at most MAX_JSON_DEPTH of them cannot nest deeper:
    # two C scans instead of a walk over every value, for most chat requests.
    openers = raw.count(b"{") + raw.count(b"[")
    if openers > MAX_JSON_DEPTH and nests_deeper(request, MAX_JSON_DEPTH):
        return f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels"
    utf8 = b"\x00" not in raw[:4]  # JSON in UTF-16 or -32 has a NUL in its first 4 bytes
    if (not utf8 or _SURROGATE_ESCAPE.search(raw) is not None) and not _is_text(request):
        return "the JSON body holds a lone surrogate escape (\\ud800-\\udfff), which is not text"
    return request


def _is_text(request: dict[str, Any]) -> bool:
    """Whether every string in ``request`` is Unicode text (no lone surrogate)."""
    try:
        json.dumps(request, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def upstream_headers(
    upstream: Upstream, family: Family, client: Mapping[str, str]
) -> dict[str, str]:
    """What goes upstream: the content type, the upstream's own headers and the
    key in the place the wire family puts it (OpenAI's format takes a bearer
    token at Anthropic's and Google's compatible endpoints too)."""
    kind = client.get("content-type", "")
    content_type = kind if is_multipart(kind) else "application/json"
    headers = {"content-type": content_type, **upstream.headers}
    key = upstream.api_key()
    if family == "anthropic":
        headers["anthropic-version"] = client.get("anthropic-version", "2023-06-01")
        if "anthropic-beta" in client:
            headers["anthropic-beta"] = client["anthropic-beta"]
        if key or "x-api-key" in client:
            headers["x-api-key"] = key or client["x-api-key"]
    elif family == "gemini":
        if key or "x-goog-api-key" in client:
            headers["x-goog-api-key"] = key or client["x-goog-api-key"]
    elif upstream.kind == "azure":
        if key or "api-key" in client:
            headers["api-key"] = key or client["api-key"]
        elif "authorization" in client:  # a Microsoft Entra ID token
            headers["authorization"] = client["authorization"]
    elif key or "authorization" in client:
        headers["authorization"] = f"Bearer {key}" if key else client["authorization"]
    return headers
