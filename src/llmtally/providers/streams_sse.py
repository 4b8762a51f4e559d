"""Incremental Server-Sent Events parsing over raw bytes, as they arrive.

:class:`SSEParser` follows the WHATWG event-stream rules
(https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation):
lines end with CRLF, LF or CR; ``field: value`` lines (one space after the colon
is dropped); lines starting with ``:`` are comments; a blank line dispatches the
event, whose data lines are joined with ``\\n``. A chunk may end anywhere, in
the middle of a line, of a CRLF pair or of a multi-byte character: only whole
lines are decoded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["SSEEvent", "SSEParser"]

_LINE_END = re.compile(rb"\r\n|\n|\r")


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One dispatched event: its ``event:`` name (``message`` when unnamed) and data."""

    event: str
    data: str


class SSEParser:
    """Bytes in, whole events out; holds back only the unfinished line."""

    def __init__(self) -> None:
        self._pending = b""
        self._event = ""
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """The events completed by ``chunk`` (maybe none)."""
        buffer = self._pending + chunk
        events: list[SSEEvent] = []
        start = 0
        for match in _LINE_END.finditer(buffer):
            if match.group() == b"\r" and match.end() == len(buffer):
                break  # a CR at the very end may be the first half of CRLF
            self._line(buffer[start : match.start()], events)
            start = match.end()
        self._pending = buffer[start:]
        return events

    def _line(self, raw: bytes, events: list[SSEEvent]) -> None:
        line = raw.decode("utf-8", errors="replace")
        if not line:
            if self._data:
                events.append(SSEEvent(self._event or "message", "\n".join(self._data)))
            self._event, self._data = "", []
            return
        if line.startswith(":"):
            return
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
