"""The official ``anthropic`` SDK: every HTTP attempt its clients make, watched.

anthropic 2.x has no ``_send_request``: each attempt of the retry loop goes
through ``SyncAPIClient._attempt_request`` / ``AsyncAPIClient._attempt_request``
(prepare, build, ``self._client.send``; a whole body read unless streamed),
which returns the ``httpx2.Response`` with its request, or raises the SDK's
``APIConnectionError`` / ``APITimeoutError`` carrying the request. Patching
that method (rather than httpx2's ``Client.send``, shared with other libraries)
sees only the SDK's own requests. ``messages.create`` (plain and ``stream=True``)
and the ``messages.stream(...)`` helper all send through it; the response and
its byte stream are then handled as for the ``openai`` SDK (the same tap:
recorded when read whole, closed early as 499, or cut), through the gateway's
code. Bedrock and Vertex clients (other paths) are left alone.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from llmtally.instrument.context import headers_for_call
from llmtally.instrument.openai_sdk import _Tap
from llmtally.instrument.patching import swap_methods
from llmtally.instrument.record import STATS, Watch
from llmtally.providers.wires import ANTHROPIC

if TYPE_CHECKING:
    from llmtally.instrument.record import Sink

__all__ = ["patch"]

_ENDPOINT = ANTHROPIC.paths[0]  # /v1/messages (count_tokens and batches are not calls)


class _AnthropicTap(_Tap):
    def note(self, request: Any, started_at: dt.datetime, t0: float) -> Watch | None:
        """The watch of a Messages request sent at ``t0``, None for other requests."""
        if request is None:  # failed before anything was sent
            return None
        try:
            if not request.url.path.endswith(_ENDPOINT):
                return None
            return Watch(
                endpoint=_ENDPOINT,
                wire=ANTHROPIC,
                provider="anthropic",
                request=request.content,
                attribution=headers_for_call(),
                request_headers=request.headers,
                started_at=started_at,
                t0=t0,
            )
        except Exception:
            STATS.error("anthropic.begin")
            return None


def _now() -> tuple[dt.datetime, float]:
    return dt.datetime.now(dt.UTC), time.perf_counter()


def _unsent(tap: _AnthropicTap, exc: BaseException, started: tuple[dt.datetime, float]) -> None:
    watch = tap.note(getattr(exc, "request", None), *started)
    if watch is not None:
        tap.failed(watch, exc)


def _answered(tap: _AnthropicTap, client: Any, response: Any, stream: bool, started: Any) -> None:
    try:
        streamed = stream or bool(client._should_stream_response_body(request=response.request))
    except Exception:
        STATS.error("anthropic.answered")
        return
    watch = tap.note(response.request, *started)
    if watch is not None:
        tap.answered(watch, response, streamed)


def _sync_attempt(original: Callable[..., Any], tap: _AnthropicTap) -> Callable[..., Any]:
    def _attempt_request(self: Any, options: Any, *, stream: bool = False, **kwargs: Any) -> Any:
        started = _now()
        try:
            response, prepared = original(self, options, stream=stream, **kwargs)
        except BaseException as exc:
            _unsent(tap, exc, started)
            raise
        _answered(tap, self, response, stream, started)
        return response, prepared

    _attempt_request.__llmtally_original__ = original  # type: ignore[attr-defined]
    return _attempt_request


def _async_attempt(original: Callable[..., Any], tap: _AnthropicTap) -> Callable[..., Any]:
    async def _attempt_request(
        self: Any, options: Any, *, stream: bool = False, **kwargs: Any
    ) -> Any:
        started = _now()
        try:
            response, prepared = await original(self, options, stream=stream, **kwargs)
        except BaseException as exc:
            _unsent(tap, exc, started)
            raise
        _answered(tap, self, response, stream, started)
        return response, prepared

    _attempt_request.__llmtally_original__ = original  # type: ignore[attr-defined]
    return _attempt_request


def patch(sink: Sink) -> Callable[[], None] | None:
    """Patch the installed ``anthropic`` SDK; returns the undo, or None without it
    (or with a version whose clients have no ``_attempt_request``)."""
    try:
        from anthropic import _base_client as base
    except ImportError:
        return None
    tap = _AnthropicTap(sink)
    return swap_methods(
        "anthropic",
        [
            (base.SyncAPIClient, "_attempt_request", lambda original: _sync_attempt(original, tap)),
            (
                base.AsyncAPIClient,
                "_attempt_request",
                lambda original: _async_attempt(original, tap),
            ),
        ],
    )
