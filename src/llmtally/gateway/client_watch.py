"""A client that goes away while a stream is relayed.

ASGI says so through ``receive()``: once the request body has been read, the
next message is ``http.disconnect``, sent when the client closes its
connection (or when the response is complete; the watch ends before that).
``ClientWatch`` waits for it beside the relay; in ``cancel`` mode it cancels
the relaying task, which closes the upstream response and with it the
upstream connection, so the provider stops generating (and billing).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["CLIENT_CLOSED_STATUS", "CLIENT_DISCONNECTED", "ClientWatch"]

# nginx's "client closed request": an error status in the ledger, the dashboard
# (>= 400) and /metrics (4xx), and not one an upstream sends.
CLIENT_CLOSED_STATUS = 499
CLIENT_DISCONNECTED = "client_disconnected"  # the call's flag (Call.flags)


class ClientWatch:
    """Watches ``receive`` for the client's disconnect while the current task
    relays a stream; call :meth:`stop` when the relay ends, however it ends."""

    def __init__(self, receive: Callable[[], Awaitable[dict[str, Any]]], cancel: bool) -> None:
        self.gone = False
        self.cancel = cancel
        self._relay = asyncio.current_task()
        self._task = asyncio.ensure_future(self._wait(receive))

    async def _wait(self, receive: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        while (await receive())["type"] != "http.disconnect":
            continue
        self.gone = True
        if self.cancel and self._relay is not None:
            self._relay.cancel()

    def stop(self) -> None:
        """End the watch. A cancel it caused was delivered at the relay's last
        ``await`` (the watch only runs while the relay waits), so none is pending."""
        self._task.cancel()

    def absorb(self) -> bool:
        """After a CancelledError in the relay: True when it was this watch's
        (the client left; the task is uncancelled and goes on to record), False
        when it came from elsewhere and must propagate."""
        if not (self.gone and self.cancel) or self._relay is None:
            return False
        self._relay.uncancel()
        return True
