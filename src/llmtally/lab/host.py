"""A gateway for one lab run: ``llmtally serve``'s gateway on an ephemeral
127.0.0.1 port (uvicorn in a thread), writing to the ledger through its own
writer, with the embedded local model started only when the experiment uses it
(on a free port of its own, so a running ``llmtally serve`` is not disturbed).
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from llmtally.catalog import Catalog
from llmtally.gateway.app import Gateway
from llmtally.gateway.config import GatewayConfig
from llmtally.gateway.local import LocalServer
from llmtally.ledger import LedgerWriter, Store

if TYPE_CHECKING:
    import uvicorn

__all__ = ["LabGateway"]

START_TIMEOUT_S = 30.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LabGateway:
    """Start with ``with LabGateway(...) as gateway:``; ``gateway.url`` is its base URL.
    Closing it drains every recorded call into the ledger."""

    def __init__(
        self,
        config: GatewayConfig,
        store: Store,
        catalog: Catalog,
        spool: Path,
        upstreams: set[str],
    ) -> None:
        self.config, self.store, self.catalog, self.spool = config, store, catalog, spool
        self.upstreams = upstreams  # the upstreams the experiment uses
        self._local: list[LocalServer] = []
        self._writer: LedgerWriter | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self.url = ""

    def __enter__(self) -> LabGateway:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _spawn_local(self) -> GatewayConfig:
        upstreams = dict(self.config.upstreams)
        for name in sorted(self.upstreams):
            upstream = upstreams[name]
            if upstream.spawn != "llama-cpp":
                continue
            url = f"http://127.0.0.1:{_free_port()}"
            server = LocalServer(url)
            self._local.append(server)
            server.start()
            upstreams[name] = upstream.model_copy(update={"base_url": url})
        return self.config.model_copy(update={"upstreams": upstreams})

    def start(self) -> None:
        import uvicorn

        config = self._spawn_local()
        self._writer = LedgerWriter(self.store, self.spool, flush_interval=0.02)
        app = Gateway(config, self._writer, self.catalog)
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._socket = sock
        server = uvicorn.Server(
            uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
        )
        self._server = server
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="llmtally-lab-gateway", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the lab's gateway did not start")
            time.sleep(0.01)
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"

    def close(self) -> None:
        server, self._server = self._server, None
        if server is not None and self._thread is not None:
            server.should_exit = True
            self._thread.join(timeout=60)
        if self._writer is not None:
            self._writer.close(timeout=30)
            self._writer = None
        for local in self._local:
            local.stop()
        self._local.clear()
        if self._socket is not None:
            self._socket.close()
            self._socket = None
