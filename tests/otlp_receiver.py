"""A local OTLP/HTTP receiver for the export tests: it keeps every request it gets.

It answers as the OTLP spec says a collector does
(https://opentelemetry.io/docs/specs/otlp/#otlphttp-response): 200 with an
empty protobuf response, or the status a test queues (503 with Retry-After, a
400...). ``hold`` makes it wait before answering, to keep an export in flight.
"""

from __future__ import annotations

import gzip
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes  # decompressed
    status: int  # what the receiver answered


class OtlpReceiver:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.answers: list[int] = []  # statuses to answer first, in order; then 200
        self.hold = threading.Event()
        self.hold.set()
        self.lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> OtlpReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.hold.set()
        self._server.shutdown()
        self._server.server_close()

    def on(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == path]

    def wait_for(self, path: str, count: int = 1, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = [r for r in self.on(path) if r.status == 200]
            if len(got) >= count:
                return got
            time.sleep(0.01)
        raise AssertionError(f"{path}: {len(self.on(path))} requests, wanted {count} accepted")

    def spans(self) -> list[Span]:
        found = []
        for request in self.on("/v1/traces"):
            if request.status == 200:
                export = ExportTraceServiceRequest.FromString(request.body)
                for resource in export.resource_spans:
                    for scope in resource.scope_spans:
                        found.extend(scope.spans)
        return found

    def metrics(self) -> list[ExportMetricsServiceRequest]:
        return [
            ExportMetricsServiceRequest.FromString(r.body)
            for r in self.on("/v1/metrics")
            if r.status == 200
        ]


def _handler(receiver: OtlpReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            receiver.hold.wait(10)
            body = gzip.decompress(raw) if self.headers.get("Content-Encoding") == "gzip" else raw
            with receiver.lock:
                status = receiver.answers.pop(0) if receiver.answers else 200
                receiver.received.append(
                    Received(
                        self.path, {k.lower(): v for k, v in self.headers.items()}, body, status
                    )
                )
            self.send_response(status)
            if status == 503:
                self.send_header("Retry-After", "0")
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    return Handler


def value(kv: AnyValue) -> object:
    kind = kv.WhichOneof("value")
    if kind == "array_value":
        return [value(v) for v in kv.array_value.values]
    return getattr(kv, kind) if kind else None


def attributes(items: list[KeyValue]) -> dict[str, object]:
    return {kv.key: value(kv.value) for kv in items}
