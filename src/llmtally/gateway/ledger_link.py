"""What the gateway asks of the ledger writer beyond ``submit``.

Backpressure: while the writer holds its bound of calls in memory (database
and spool both refusing), new API calls are refused with a 503 in the
provider's error shape and a ``Retry-After``, before anything is reserved or
sent upstream: calls already answered are kept, new ones turned away.

Durable mode: the message that completes a response is held back until the
call is recorded and the writer reports it on disk (``HeldEnd``), so a client
never has a complete answer the ledger could still lose.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from llmtally.providers.errors import Family, bedrock_error_type, error_body

if TYPE_CHECKING:
    from llmtally.usage import Call

__all__ = ["LEDGER_FULL", "HeldEnd", "LedgerControl", "ledger_full_response"]

LEDGER_FULL = "ledger_full"  # the refusal's reason label in /metrics

Message = dict[str, Any]


@runtime_checkable
class LedgerControl(Protocol):
    """The ledger writer's side (``llmtally.ledger.LedgerWriter``)."""

    durable: bool

    def is_full(self, pending: int = 0) -> bool: ...

    def ack(self, call_id: str) -> Future[None]: ...


def ledger_full_response(
    family: Family, retry_after_s: int
) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """The 503's body and headers."""
    body = error_body(
        family,
        503,
        "the gateway cannot record calls right now (its ledger database and spool are "
        f"unavailable); retry in {retry_after_s} s",
    )
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(retry_after_s).encode()),
    ]
    if family == "bedrock":
        headers.append((b"x-amzn-errortype", bedrock_error_type(503).encode()))
    return body, headers


class HeldEnd:
    """A ``send`` that passes every message on except the one that completes the
    response, which waits for :meth:`release_when_durable`."""

    def __init__(self, send: Callable[[Message], Awaitable[None]]) -> None:
        self._send = send
        self._last: Message | None = None

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.body" and not message.get("more_body"):
            self._last = message
            return
        await self._send(message)

    async def release_when_durable(
        self, recorded: Future[Call | None], ledger: LedgerControl
    ) -> None:
        """Complete the response once the call is recorded and on disk."""
        call = await asyncio.wrap_future(recorded)
        if call is not None:
            await asyncio.wrap_future(ledger.ack(call.id))
        if self._last is not None:
            await self._send(self._last)
