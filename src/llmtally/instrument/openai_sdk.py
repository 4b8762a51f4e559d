"""The official ``openai`` SDK: every request its clients send, watched.

Both client bases (``SyncAPIClient`` and ``AsyncAPIClient``, which every
resource goes through: chat completions, Responses, embeddings...) send each
HTTP attempt through ``_send_request``; the patched one notes the request, lets
the SDK send it unchanged and, for a streamed body, wraps the response's byte
stream in a tee that keeps each chunk as it passes to the SDK. The call is
recorded when the body has been read whole, or when the application closes
the stream early (as the gateway records a client that left: 499,
``client_disconnected``, usage estimated where none was reported), or when the
connection breaks. A retried attempt is its own call, as at the gateway.

Every step of llmtally's is guarded: the SDK's return values, exceptions and
chunks are the ones it would have had without llmtally.
"""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any

from llmtally.instrument.context import headers_for_call
from llmtally.instrument.patching import swap_methods
from llmtally.instrument.record import STATS, Watch, wire_for

if TYPE_CHECKING:
    from llmtally.instrument.record import Sink

__all__ = ["patch", "provider_of"]

# The catalog's provider for the hosts that serve OpenAI's format (others: openai).
_HOSTS = {
    "api.deepseek.com": "deepseek",
    "api.x.ai": "xai",
    "api.groq.com": "groq",
    "api.mistral.ai": "mistral",
    "generativelanguage.googleapis.com": "google",
    "api.anthropic.com": "anthropic",
}


def provider_of(host: str) -> str:
    return _HOSTS.get(host, "azure" if host.endswith(".openai.azure.com") else "openai")


class _Tap:
    """The running instrumentation as the patched methods see it."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink

    def begin(self, request: Any) -> Watch | None:
        try:
            url = request.url
            found = wire_for(url.path)
            if found is None:
                return None
            endpoint, wire = found
            return Watch(
                endpoint=endpoint,
                wire=wire,
                provider=provider_of(url.host),
                request=request.content,
                attribution=headers_for_call(),
                request_headers=request.headers,
            )
        except Exception:
            STATS.error("openai.begin")
            return None

    def answered(self, watch: Watch, response: Any, streamed: bool) -> None:
        """The SDK has the response (its body read whole unless ``streamed``)."""
        try:
            watch.status = response.status_code
            if not streamed:
                watch.body = response.content
                self.end(watch, "complete")
            elif _plain(response):
                response.stream = _tee_for(response.stream)(response.stream, watch, self)
                self.sink.opened(watch)
            else:  # a compressed stream: its raw bytes say nothing, record what is known
                self.end(watch, "complete")
        except Exception:
            STATS.error("openai.answered")

    def failed(self, watch: Watch, exc: BaseException) -> None:
        """The request never got a response (the SDK raises or retries)."""
        try:
            watch.status = 504 if "Timeout" in type(exc).__name__ else 502
            watch.error = f"upstream unreachable: {type(exc).__name__}: {exc}"
        except Exception:
            STATS.error("openai.failed")
        self.end(watch, "unreachable")

    def end(self, watch: Watch, ending: str) -> None:
        try:
            if watch.finished_at is not None:
                return  # once: a stream is exhausted, then closed
            watch.finished_at = time.perf_counter()
            watch.ending = ending
            self.sink.submit(watch)
        except Exception:
            STATS.error("openai.end")


def _plain(response: Any) -> bool:
    return response.headers.get("content-encoding", "identity").lower() in ("identity", "")


def _tee_for(stream: Any) -> Callable[[Any, Watch, _Tap], Any]:
    import httpx2

    return _async_tee() if isinstance(stream, httpx2.AsyncByteStream) else _sync_tee()


@functools.cache  # the tee classes subclass httpx2's, imported on first use
def _sync_tee() -> type[Any]:
    import httpx2

    class SyncTee(httpx2.SyncByteStream):
        def __init__(self, inner: Any, watch: Watch, tap: _Tap) -> None:
            self._inner, self._watch, self._tap = inner, watch, tap

        def __iter__(self) -> Iterator[bytes]:
            keep, clock = self._watch.chunks.append, time.perf_counter
            try:
                for chunk in self._inner:
                    keep((clock(), chunk))
                    yield chunk
            except GeneratorExit:
                raise
            except BaseException:
                self._tap.end(self._watch, "cut")
                raise
            self._tap.end(self._watch, "complete")

        def close(self) -> None:
            try:
                self._inner.close()
            finally:
                self._tap.end(self._watch, "closed")

    return SyncTee


@functools.cache
def _async_tee() -> type[Any]:
    import httpx2

    class AsyncTee(httpx2.AsyncByteStream):
        def __init__(self, inner: Any, watch: Watch, tap: _Tap) -> None:
            self._inner, self._watch, self._tap = inner, watch, tap

        async def __aiter__(self) -> AsyncIterator[bytes]:
            keep, clock = self._watch.chunks.append, time.perf_counter
            try:
                async for chunk in self._inner:
                    keep((clock(), chunk))
                    yield chunk
            except GeneratorExit:
                raise
            except BaseException:
                self._tap.end(self._watch, "cut")
                raise
            self._tap.end(self._watch, "complete")

        async def aclose(self) -> None:
            try:
                await self._inner.aclose()
            finally:
                self._tap.end(self._watch, "closed")

    return AsyncTee


def _sync_send(original: Callable[..., Any], tap: _Tap) -> Callable[..., Any]:
    def _send_request(self: Any, request: Any, *, stream: bool, **kwargs: Any) -> Any:
        watch = tap.begin(request)
        if watch is None:
            return original(self, request, stream=stream, **kwargs)
        try:
            response = original(self, request, stream=stream, **kwargs)
        except BaseException as exc:
            tap.failed(watch, exc)
            raise
        tap.answered(watch, response, stream)
        return response

    _send_request.__llmtally_original__ = original  # type: ignore[attr-defined]
    return _send_request


def _async_send(original: Callable[..., Any], tap: _Tap) -> Callable[..., Any]:
    async def _send_request(self: Any, request: Any, *, stream: bool, **kwargs: Any) -> Any:
        watch = tap.begin(request)
        if watch is None:
            return await original(self, request, stream=stream, **kwargs)
        try:
            response = await original(self, request, stream=stream, **kwargs)
        except BaseException as exc:
            tap.failed(watch, exc)
            raise
        tap.answered(watch, response, stream)
        return response

    _send_request.__llmtally_original__ = original  # type: ignore[attr-defined]
    return _send_request


def patch(sink: Sink) -> Callable[[], None] | None:
    """Patch the installed ``openai`` SDK; returns the undo, or None without it."""
    try:
        from openai import _base_client as base
    except ImportError:
        return None
    tap = _Tap(sink)
    return swap_methods(
        "openai",
        [
            (base.SyncAPIClient, "_send_request", lambda original: _sync_send(original, tap)),
            (base.AsyncAPIClient, "_send_request", lambda original: _async_send(original, tap)),
        ],
    )
