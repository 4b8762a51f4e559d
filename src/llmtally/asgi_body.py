"""Reading an ASGI request body within a size limit: the one loop the gateway's
API routes and its two ingest endpoints share. The limit is checked as each
chunk arrives, so an oversized body is never held whole."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["BodyTooLarge", "read_body"]


class BodyTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the body is over the limit of {limit} bytes")
        self.limit = limit


async def read_body(receive: Callable[[], Awaitable[dict[str, Any]]], limit: int) -> bytes:
    """The body, once ``receive`` says there is no more; :class:`BodyTooLarge`
    as soon as it passes ``limit`` bytes."""
    chunks, size = [], 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)
