"""Request adjustments a metering gateway makes, and their undoing on the way back.

OpenAI Chat Completions streams carry usage only when the request sets
``stream_options: {"include_usage": true}``: one extra chunk before
``data: [DONE]`` whose ``choices`` is ``[]`` and whose ``usage`` holds the
counts (https://platform.openai.com/docs/api-reference/chat/create#chat-create-stream_options).
:func:`with_stream_usage` asks for it; when the client had not,
:class:`UsageChunkFilter` drops exactly that chunk from the bytes the client
sees, so it reads the events the upstream would have sent it. (The other chunks
keep the ``"usage": null`` the upstream adds to them, which clients read as absent.)
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["StreamUsageRequest", "UsageChunkFilter", "with_stream_usage"]

_LINE_END = re.compile(rb"\r\n|\n|\r")


@dataclass(frozen=True, slots=True)
class StreamUsageRequest:
    """The request body to send upstream, and what the client had asked for."""

    body: dict[str, Any]
    client_asked: bool  # the client set include_usage itself: pass the usage chunk on
    changed: bool  # the body differs from the client's


def with_stream_usage(body: Mapping[str, Any]) -> StreamUsageRequest:
    """``body`` (a Chat Completions request) with ``include_usage`` set when it streams.

    The client's mapping is not changed; a non-streaming request is returned as is."""
    copy = dict(body)
    if copy.get("stream") is not True:
        return StreamUsageRequest(copy, client_asked=False, changed=False)
    options = copy.get("stream_options")
    options = dict(options) if isinstance(options, Mapping) else {}
    if options.get("include_usage") is True:
        return StreamUsageRequest(copy, client_asked=True, changed=False)
    options["include_usage"] = True
    copy["stream_options"] = options
    return StreamUsageRequest(copy, client_asked=False, changed=True)


def _is_usage_chunk(lines: list[bytes]) -> bool:
    data = [line[5:].removeprefix(b" ") for line in lines if line.startswith(b"data:")]
    joined = b"\n".join(data)
    if b"usage" not in joined or b"choices" not in joined:
        return False
    try:
        payload = json.loads(joined)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError alike
        return False
    return (
        isinstance(payload, dict)
        and payload.get("choices") == []
        and isinstance(payload.get("usage"), dict)
    )


class UsageChunkFilter:
    """Bytes in, bytes out: the same SSE stream without the usage-only chunk.

    Each event is held until its closing blank line (the client could not act on
    it sooner) and then passed on byte for byte, or dropped if it is the usage
    chunk. :meth:`flush` returns whatever is held when the upstream ends."""

    def __init__(self) -> None:
        self._pending = b""
        self._event: list[bytes] = []  # raw lines of the event so far, line ends kept
        self._lines: list[bytes] = []  # the same lines without their ends
        self.dropped = 0

    def feed(self, chunk: bytes) -> bytes:
        """The bytes of ``chunk`` the client should see now (maybe none)."""
        buffer = self._pending + chunk
        out: list[bytes] = []
        start = 0
        for match in _LINE_END.finditer(buffer):
            if match.group() == b"\r" and match.end() == len(buffer):
                break  # maybe half of a CRLF
            line = buffer[start : match.start()]
            self._event.append(buffer[start : match.end()])
            start = match.end()
            if line:
                self._lines.append(line)
                continue
            if _is_usage_chunk(self._lines):
                self.dropped += 1
            else:
                out.extend(self._event)
            self._event, self._lines = [], []
        self._pending = buffer[start:]
        return b"".join(out)

    def flush(self) -> bytes:
        """What is still held (an unfinished event) when the upstream stream ends."""
        held = b"".join(self._event) + self._pending
        self._event, self._lines, self._pending = [], [], b""
        return held
