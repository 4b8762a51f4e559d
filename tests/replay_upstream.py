"""A real HTTP upstream on 127.0.0.1 that replays recorded provider transcripts.

Each transcript (``tests/fixtures/transcripts/*.json``) holds one request and
either a JSON ``response.body`` or SSE ``events``. An event is a raw SSE text
(``"data: [DONE]"``) or ``{"event": name?, "data": payload}``; payloads that
are not strings are written as compact JSON. A request is answered by the
transcript whose method, path (without the query) and request ``model`` and
``stream`` match it; the ``X-Replay-Transcript`` header names one outright.

Streams go out as HTTP/1.1 chunked bodies, one chunk per event, with an
optional ``delay`` before each event and ``tail_delay`` before the closing
chunk (an upstream slow to end its body); ``cut_after=N`` sends N events and then
closes the connection without the closing chunk, as a failing upstream does.
``echo_key_status=401`` (or 500...) answers every request with that status and an
error that repeats the keys it received (bare, without "Bearer"), as a careless
upstream might.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

TRANSCRIPTS = Path(__file__).parent / "fixtures" / "transcripts"
KEY_HEADERS = ("Authorization", "x-api-key", "x-goog-api-key", "api-key")


def load_transcripts(folder: Path = TRANSCRIPTS) -> dict[str, dict[str, Any]]:
    return {path.stem: json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))}


def sse_text(event: object) -> str:
    """One transcript event as SSE text, blank line included."""
    if isinstance(event, str):
        return event + "\n\n"
    assert isinstance(event, dict), event
    data = event["data"]
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    head = f"event: {event['event']}\n" if event.get("event") else ""
    return f"{head}data: {payload}\n\n"


def sse_body(transcript: dict[str, Any]) -> bytes:
    """The whole SSE body a transcript streams."""
    return "".join(sse_text(event) for event in transcript["events"]).encode()


@dataclass
class Served:
    """One request the upstream answered, and the body bytes it sent."""

    method: str
    path: str
    json: Any
    transcript: str
    sent: bytearray = field(default_factory=bytearray)


class ReplayUpstream:
    """Start with :meth:`start` (or as a context manager); ``url`` is its base URL."""

    def __init__(self, transcripts: dict[str, dict[str, Any]] | None = None) -> None:
        self.transcripts = load_transcripts() if transcripts is None else transcripts
        self.delay = 0.0
        self.cut_after: int | None = None
        self.tail_delay = 0.0  # after the last event, before the body's end
        self.echo_key_status: int | None = None
        self.served: list[Served] = []
        self._server = _Server(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = False  # server_close() joins the handlers
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> ReplayUpstream:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> ReplayUpstream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def pick(self, method: str, path: str, body: Any, name: str | None) -> str:
        if name is not None:
            return name
        body = body if isinstance(body, dict) else {}
        for key, transcript in self.transcripts.items():
            request = transcript["request"]
            wanted = request.get("json", {})
            if (
                request["method"] == method
                and request["path"] == path.split("?", 1)[0]
                and wanted.get("model") == body.get("model")
                and bool(wanted.get("stream")) == bool(body.get("stream"))
            ):
                return key
        raise LookupError(f"no transcript for {method} {path} model={body.get('model')!r}")


class _Server(ThreadingHTTPServer):
    request_queue_size = 1024  # hundreds of connections may arrive at once (default 5)


def _handler_for(upstream: ReplayUpstream) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        owner = upstream

    return Handler


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    owner: ReplayUpstream

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        if self.owner.echo_key_status is not None:
            self._echo_key(self.owner.echo_key_status)
            return
        try:
            name = self.owner.pick("POST", self.path, body, self.headers.get("X-Replay-Transcript"))
        except LookupError as exc:
            self._send(404, {"content-type": "application/json"}, json.dumps({"error": str(exc)}))
            return
        served = Served("POST", self.path, body, name)
        self.owner.served.append(served)
        transcript = self.owner.transcripts[name]
        response = transcript["response"]
        if "events" in transcript:
            self._stream(response, transcript["events"], served)
        else:
            text = json.dumps(response["body"])
            served.sent.extend(text.encode())
            self._send(response["status"], response["headers"], text)

    def _echo_key(self, status: int) -> None:
        # the bare key, as OpenAI's own message has it (masked there, whole here)
        sent = [self.headers.get(name, "").removeprefix("Bearer ") for name in KEY_HEADERS]
        message = f"Incorrect API key provided: {', '.join(k for k in sent if k) or 'none'}"
        if self.path.startswith("/v1/messages"):
            error: dict[str, Any] = {
                "type": "error",
                "error": {"type": "api_error", "message": message},
            }
        else:
            error = {"error": {"message": message, "type": "invalid_request_error"}}
        self._send(status, {"content-type": "application/json"}, json.dumps(error))

    def _send(self, status: int, headers: dict[str, str], text: str) -> None:
        data = text.encode()
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        self.close_connection = True

    def _events(self, events: list[Any]) -> Iterator[bytes]:
        for i, event in enumerate(events):
            if self.owner.cut_after is not None and i >= self.owner.cut_after:
                return
            if self.owner.delay:
                time.sleep(self.owner.delay)
            yield sse_text(event).encode()

    def _stream(self, response: dict[str, Any], events: list[Any], served: Served) -> None:
        self.send_response(response["status"])
        for key, value in response["headers"].items():
            self.send_header(key, value)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        for data in self._events(events):
            served.sent.extend(data)
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
        if self.owner.cut_after is None or self.owner.cut_after >= len(events):
            time.sleep(self.owner.tail_delay)
            self.wfile.write(b"0\r\n\r\n")
