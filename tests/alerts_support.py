"""What the alert tests share: calls of a known cost, and a local webhook receiver."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from llmtally.meter import Cost
from llmtally.usage import Call, Usage, new_ulid
from test_ledger_support import price

ZERO = Decimal(0)


def paid(amount: str, started_at: dt.datetime, **changes: Any) -> Call:
    """A gpt-4o call that cost exactly ``amount`` USD (all of it input)."""
    fields: dict[str, Any] = {
        "id": new_ulid(),
        "started_at": started_at,
        "provider": "openai",
        "model_requested": "gpt-4o",
        "model_served": "gpt-4o",
        "endpoint": "/v1/chat/completions",
        "status": 200,
        "latency_ms": 100.0,
        "usage": Usage(input_tokens=100, output_tokens=10),
        "cost": Cost(Decimal(amount), ZERO, ZERO, ZERO, ZERO, ZERO, ZERO, ZERO, price()),
    }
    fields.update(changes)
    return Call(**fields)


@dataclasses.dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class Receiver:
    """An HTTP server on 127.0.0.1 that keeps every JSON body POSTed to it; it
    answers ``fail_first`` requests with 503 first (those are not kept)."""

    def __init__(self, fail_first: int = 0) -> None:
        self.received: list[Received] = []
        self.refused = 0
        self.fail_first = fail_first
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server hook's name
                length = int(self.headers.get("content-length", "0"))
                raw = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                status = receiver._take(self.path, headers, raw)
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _take(self, path: str, headers: dict[str, str], raw: bytes) -> int:
        with self._lock:
            if self.refused < self.fail_first:
                self.refused += 1
                return 503
            self.received.append(Received(path, headers, json.loads(raw)))
            return 200

    def bodies(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r.body for r in self.received]

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
