"""What the gateway tests share: a recorder that keeps calls, and a live gateway."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn

from llmtally.catalog import Catalog
from llmtally.gateway.app import Gateway, Recorder
from llmtally.gateway.config import GatewayConfig
from llmtally.ledger.rows import CallBodies
from llmtally.usage import Call


class ListRecorder:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.bodies: list[CallBodies | None] = []

    def submit(self, call: Call, bodies: CallBodies | None = None) -> None:
        self.calls.append(call)
        self.bodies.append(bodies)

    def next_call(self, before: int) -> Call:
        """The call recorded after ``before`` calls: the gateway records after it
        has answered, so a test waits for it (the request path never does)."""
        for _ in range(500):
            if len(self.calls) > before:
                return self.calls[before]
            time.sleep(0.01)
        raise AssertionError("the gateway recorded no call")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def live_gateway(
    config: dict[str, Any], catalog: Catalog | None = None, recorder: Recorder | None = None
) -> Iterator[tuple[str, ListRecorder]]:
    """A gateway on 127.0.0.1 (uvicorn in a thread) and the recorder it writes to
    (a new ListRecorder unless one is given, e.g. the ledger's writer)."""
    keeper = ListRecorder()
    app = Gateway(
        GatewayConfig.model_validate(config), recorder or keeper, catalog or Catalog.load()
    )
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(500):
        if server.started:
            break
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}", keeper
    finally:
        server.should_exit = True
        thread.join(timeout=10)
