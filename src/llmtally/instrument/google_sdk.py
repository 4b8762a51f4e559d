"""The official ``google-genai`` SDK (Gemini API): every HTTP attempt its clients make, watched.

``google.genai.Client`` and its ``.aio`` twin send each attempt of their retry
loop through ``BaseApiClient._request_once`` / ``_async_request_once``: the
lowest place that sees both the request (an ``HttpRequest``: URL, headers and
the JSON body the SDK is about to dump) and the answer, whichever transport
(httpx2, httpx or aiohttp) the client picked. Patching those two methods, not a
transport's ``send`` (aiohttp's session is the gateway's own), sees only the
SDK's requests. The patched methods note the request, let the SDK send it
unchanged, then read:

- a whole answer: the text the SDK read (HTTP 200: the SDK raises for any other);
- a stream (``streamGenerateContent?alt=sse``): on that one response, the byte
  iterator the SDK is about to read (httpx's ``iter_bytes`` / ``aiter_bytes``,
  decoded; aiohttp's ``content.iter_any``) is replaced by one that keeps each
  chunk as it passes it on. The SDK never closes a stream the application
  leaves, so the iterator being closed before its end is the application leaving
  (recorded as the gateway records a client that went away: 499,
  ``client_disconnected``, usage estimated where the stream had not said it);
  an error while reading is a cut stream;
- an ``APIError`` (``ClientError`` 4xx, ``ServerError`` 5xx): its status and the
  body the SDK read, then the exception goes on unchanged; any other exception
  is an unreachable upstream (502, or 504 for a timeout), as for the other SDKs.

Only the gateway's Gemini wire is a call: ``models/{model}:generateContent`` and
``:streamGenerateContent``, whose path names the model. ``embed_content``
(``batchEmbedContents``: no usage on the Gemini API, and no gateway wire),
``count_tokens``, files, caches and Vertex AI's ``projects/...`` paths pass
through unrecorded. Each call is read by the gateway's code (:mod:`.record`)
with provider ``google``, as a gateway upstream of kind ``gemini`` prices it.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from llmtally.instrument.context import headers_for_call
from llmtally.instrument.openai_sdk import _Tap
from llmtally.instrument.patching import swap_methods
from llmtally.instrument.record import STATS, Watch
from llmtally.providers.wires import GEMINI, GEMINI_PATH

if TYPE_CHECKING:
    from llmtally.instrument.record import Sink

__all__ = ["patch"]

# The gateway's Gemini paths, at the end of the SDK's URL (after any base path).
_CALL = re.compile(GEMINI_PATH.pattern.removeprefix("^"))
_STREAM = "streamGenerateContent"


def _body(data: Any) -> bytes:
    """The request body as the SDK sends it (``json.dumps`` of its dict)."""
    if isinstance(data, bytes):
        return data
    return json.dumps(data).encode() if data else b""


class _GoogleTap(_Tap):
    def note(self, request: Any) -> Watch | None:
        """The watch of a generateContent request, None for other requests."""
        try:
            url = urlsplit(request.url)
            found = _CALL.search(url.path)
            if found is None:
                return None
            stream = found[3] == _STREAM
            if stream and parse_qs(url.query).get("alt") != ["sse"]:
                return None  # a JSON array: the SDK never asks for one
            return Watch(
                endpoint=found[0],
                wire=GEMINI,
                provider="google",
                request=_body(request.data),
                attribution=headers_for_call(),
                request_headers=request.headers,
                model=found[2],
                stream=stream,
            )
        except Exception:
            STATS.error("google.begin")
            return None

    def returned(self, watch: Watch, response: Any, is_async: bool) -> None:
        """The SDK has the answer: a whole body, or a stream not read yet."""
        try:
            watch.status = 200  # the SDK raises an APIError for any other status
            source = response.response_stream
            if isinstance(source, list):
                watch.body = "".join(source).encode() if source else b""
                self.end(watch, "complete")
            elif _tap_stream(source, watch, self, is_async):
                self.sink.opened(watch)
            else:  # a transport this module does not know: no bytes, no honest row
                STATS.error("google.stream")
        except Exception:
            STATS.error("google.returned")

    def raised(self, watch: Watch, exc: BaseException) -> None:
        """The attempt raised: an upstream's error status, else no answer at all."""
        try:
            from google.genai import errors

            answered = isinstance(exc, errors.APIError) and isinstance(exc.code, int)
        except Exception:
            STATS.error("google.raised")
            answered = False
        if not answered:
            self.failed(watch, exc)
            return
        try:
            watch.status = exc.code  # type: ignore[attr-defined]
            watch.body = _error_body(exc)
        except Exception:
            STATS.error("google.raised")
        self.end(watch, "complete")


def _error_body(exc: Any) -> bytes:
    """The error body the SDK read (httpx keeps ``content``, aiohttp ``_body``),
    else its parsed JSON written back."""
    response = getattr(exc, "response", None)
    raw = None
    if response is not None:
        try:
            raw = response.content if hasattr(response, "status_code") else response._body
        except Exception:  # httpx: not read
            raw = None
    if isinstance(raw, bytes):
        return raw
    return json.dumps(exc.details).encode()


def _tap_stream(source: Any, watch: Watch, tap: _GoogleTap, is_async: bool) -> bool:
    """Put the chunk keeper on the byte iterator the SDK will read from ``source``."""
    if type(source).__module__.startswith("aiohttp"):
        source.content = _Content(
            source.content, _async_chunks(source.content.iter_any, watch, tap)
        )
        return True
    if hasattr(source, "aiter_bytes") and is_async:  # httpx / httpx2, decoded
        source.aiter_bytes = _async_chunks(source.aiter_bytes, watch, tap)
        return True
    if hasattr(source, "iter_bytes") and not is_async:
        source.iter_bytes = _sync_chunks(source.iter_bytes, watch, tap)
        return True
    return False


def _sync_chunks(read: Callable[..., Any], watch: Watch, tap: _GoogleTap) -> Callable[..., Any]:
    def iter_bytes(*args: Any, **kwargs: Any) -> Iterator[bytes]:
        keep, clock = watch.chunks.append, time.perf_counter
        try:
            for chunk in read(*args, **kwargs):
                keep((clock(), chunk))
                yield chunk
        except GeneratorExit:  # the application left the stream
            tap.end(watch, "closed")
            raise
        except BaseException:
            tap.end(watch, "cut")
            raise
        tap.end(watch, "complete")

    return iter_bytes


def _async_chunks(read: Callable[..., Any], watch: Watch, tap: _GoogleTap) -> Callable[..., Any]:
    async def aiter_bytes(*args: Any, **kwargs: Any) -> AsyncIterator[bytes]:
        keep, clock = watch.chunks.append, time.perf_counter
        try:
            async for chunk in read(*args, **kwargs):
                keep((clock(), chunk))
                yield chunk
        except GeneratorExit:
            tap.end(watch, "closed")
            raise
        except BaseException:
            tap.end(watch, "cut")
            raise
        tap.end(watch, "complete")

    return aiter_bytes


class _Content:
    """An aiohttp response's ``content`` whose ``iter_any`` keeps the chunks;
    everything else is the stream reader's own."""

    def __init__(self, inner: Any, iter_any: Callable[[], AsyncIterator[bytes]]) -> None:
        self._inner, self.iter_any = inner, iter_any

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _sync_once(original: Callable[..., Any], tap: _GoogleTap) -> Callable[..., Any]:
    def _request_once(self: Any, http_request: Any, *args: Any, **kwargs: Any) -> Any:
        watch = tap.note(http_request)
        if watch is None:
            return original(self, http_request, *args, **kwargs)
        try:
            response = original(self, http_request, *args, **kwargs)
        except BaseException as exc:
            tap.raised(watch, exc)
            raise
        tap.returned(watch, response, is_async=False)
        return response

    _request_once.__llmtally_original__ = original  # type: ignore[attr-defined]
    return _request_once


def _async_once(original: Callable[..., Any], tap: _GoogleTap) -> Callable[..., Any]:
    async def _async_request_once(self: Any, http_request: Any, *args: Any, **kwargs: Any) -> Any:
        watch = tap.note(http_request)
        if watch is None:
            return await original(self, http_request, *args, **kwargs)
        try:
            response = await original(self, http_request, *args, **kwargs)
        except BaseException as exc:
            tap.raised(watch, exc)
            raise
        tap.returned(watch, response, is_async=True)
        return response

    _async_request_once.__llmtally_original__ = original  # type: ignore[attr-defined]
    return _async_request_once


def patch(sink: Sink) -> Callable[[], None] | None:
    """Patch the installed ``google-genai`` SDK; returns the undo, or None without it
    (or with a version whose client has no ``_request_once``)."""
    try:
        from google.genai import _api_client as api
    except ImportError:
        return None
    tap = _GoogleTap(sink)
    base = api.BaseApiClient
    return swap_methods(
        "google",
        [
            (base, "_request_once", lambda original: _sync_once(original, tap)),
            (base, "_async_request_once", lambda original: _async_once(original, tap)),
        ],
    )
