"""Who and what a call is for: ``llmtally.attribute(...)`` on a context variable.

The attribution travels with the :mod:`contextvars` context, so it follows
asyncio tasks (each task starts with a copy of its creator's context) and
``asyncio.to_thread`` / ``contextvars.copy_context().run`` into threads. A
thread started bare begins with no attribution. Nested blocks add up: the inner
user or feature wins, tags are joined.

It becomes the same ``x-llmtally-*`` attribution the gateway reads from request
headers (:func:`llmtally.gateway.recording.attribution`), with the trace and
parent ids of the active OpenTelemetry span when ``opentelemetry-api`` is
installed and a span is recording.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

__all__ = ["Attribution", "attribute", "current", "headers_for_call"]

_HEADER = "x-llmtally-"


@dataclass(frozen=True, slots=True)
class Attribution:
    user: str | None = None
    feature: str | None = None
    tags: tuple[str, ...] = ()


_NOBODY = Attribution()
_CURRENT: ContextVar[Attribution] = ContextVar("llmtally_attribution", default=_NOBODY)


def current() -> Attribution:
    """The attribution in force here (empty outside any ``attribute`` block)."""
    return _CURRENT.get()


@contextmanager
def attribute(
    user: str | None = None, feature: str | None = None, tags: Iterable[str] = ()
) -> Iterator[Attribution]:
    """Attribute the LLM calls made inside the block (see the module docstring)."""
    outer = _CURRENT.get()
    named = (tags,) if isinstance(tags, str) else tags  # one tag, not its letters
    extra = tuple(t.strip() for t in named if t and t.strip())
    inner = Attribution(
        user if user is not None else outer.user,
        feature if feature is not None else outer.feature,
        tuple(dict.fromkeys(outer.tags + extra)),
    )
    token = _CURRENT.set(inner)
    try:
        yield inner
    finally:
        _CURRENT.reset(token)


@functools.cache
def _otel_trace() -> Any:
    try:
        from opentelemetry import trace
    except ImportError:  # optional: no ids without it
        return None
    return trace


def _span_ids() -> tuple[str, str] | None:
    """(trace id, span id) in hex of the active OpenTelemetry span, if any."""
    trace = _otel_trace()
    if trace is None:
        return None
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def headers_for_call() -> dict[str, str]:
    """The call's attribution as the gateway's ``x-llmtally-*`` headers: the
    context's, and OpenTelemetry's ids."""
    found = _CURRENT.get()
    headers: dict[str, str] = {}
    if found.user is not None:
        headers[_HEADER + "user"] = found.user
    if found.feature is not None:
        headers[_HEADER + "feature"] = found.feature
    if found.tags:
        headers[_HEADER + "tags"] = ",".join(found.tags)
    ids = _span_ids()
    if ids is not None:
        headers[_HEADER + "trace-id"], headers[_HEADER + "parent-id"] = ids
    return headers
