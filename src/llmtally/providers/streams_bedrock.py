"""Bedrock ConverseStream responses -> usage, text and timing.

ConverseStream answers in AWS's binary event-stream framing
(https://docs.aws.amazon.com/transcribe/latest/dg/streaming-setting-up.html#streaming-event-stream
describes the frame; https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ConverseStream.html
the events): each message is a 12-byte prelude (total length, headers length,
prelude CRC32; big-endian), its headers (``:message-type``, ``:event-type``,
``:content-type``...), a JSON payload and a CRC32 of the whole message. The
events: ``messageStart``, ``contentBlockStart``, ``contentBlockDelta`` (``delta.text``,
``delta.reasoningContent.text``, ``delta.toolUse.input``), ``contentBlockStop``,
``messageStop`` (``stopReason``) and last ``metadata`` (``usage``: a TokenUsage,
read by :func:`~llmtally.providers.bedrock.parse_bedrock`). An ``exception``
message carries an error. The gateway relays the bytes untouched; this only watches.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Mapping
from typing import Any

from llmtally import fastjson
from llmtally.providers.request_facts import bedrock_finish
from llmtally.providers.streams import StreamAccumulator
from llmtally.providers.streams_sse import SSEEvent

__all__ = ["BedrockConverseStream", "MAX_MESSAGE_BYTES", "read_headers"]

MAX_MESSAGE_BYTES = 16 * 1024 * 1024  # larger: not a stream this reads
_PRELUDE = struct.Struct(">III")
# header value types -> fixed sizes (7 string and 6 bytes carry a 2-byte length)
_FIXED = {0: 0, 1: 0, 2: 1, 3: 2, 4: 4, 5: 8, 8: 8, 9: 16}


def read_headers(raw: bytes) -> dict[str, str]:
    """An event-stream message's string headers (others are skipped); ValueError
    for headers that run past their end."""
    headers, at = {}, 0
    while at < len(raw):
        size = raw[at]
        name = raw[at + 1 : at + 1 + size].decode("utf-8", "replace")
        at += 1 + size
        if at >= len(raw):
            raise ValueError("a header without its value")
        kind = raw[at]
        at += 1
        if kind in (6, 7):
            length = int.from_bytes(raw[at : at + 2], "big")
            value = raw[at + 2 : at + 2 + length]
            at += 2 + length
            if kind == 7:
                headers[name] = value.decode("utf-8", "replace")
        elif kind in _FIXED:
            at += _FIXED[kind]
        else:
            raise ValueError(f"unknown header value type {kind}")
        if at > len(raw):
            raise ValueError("a header runs past the headers' end")
    return headers


class BedrockConverseStream(StreamAccumulator):
    """Bedrock ConverseStream event-stream messages (``messageStart`` ... ``metadata``)."""

    wire = "bedrock_converse"
    provider = "bedrock"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._buffer = bytearray()
        self._broken = False  # a frame could not be read: the rest is not watched

    def feed(self, chunk: bytes) -> None:
        if self._broken:
            return
        self._buffer += chunk
        while len(self._buffer) >= _PRELUDE.size:
            total, header_bytes, _ = _PRELUDE.unpack_from(self._buffer)
            if total > MAX_MESSAGE_BYTES or header_bytes + 16 > total:
                self._broken, self.malformed = True, self.malformed + 1
                return
            if len(self._buffer) < total:
                return
            message = bytes(self._buffer[:total])
            del self._buffer[:total]
            self._message(message, header_bytes)

    def _message(self, message: bytes, header_bytes: int) -> None:
        self.events += 1
        if zlib.crc32(message[:-4]) != int.from_bytes(message[-4:], "big"):
            self.malformed += 1
            return
        try:
            headers = read_headers(message[12 : 12 + header_bytes])
            payload = fastjson.loads(message[12 + header_bytes : -4] or b"{}")
        except (ValueError, UnicodeDecodeError):  # JSONDecodeError is a ValueError
            self.malformed += 1
            return
        if not isinstance(payload, Mapping):
            self.malformed += 1
            return
        if headers.get(":message-type") == "exception":
            self.error = {"type": headers.get(":exception-type"), **payload}
            return
        self._on_event(SSEEvent(event=headers.get(":event-type", ""), data=""), payload)

    def _on_event(self, event: SSEEvent, payload: Mapping[str, Any]) -> None:
        kind = event.event
        if kind == "contentBlockDelta":
            delta = payload.get("delta")
            delta = delta if isinstance(delta, Mapping) else {}
            self._output(delta.get("text"))
            for key, field in (("reasoningContent", "text"), ("toolUse", "input")):
                inner = delta.get(key)
                if isinstance(inner, Mapping):
                    self._output(inner.get(field))
        elif kind == "messageStop":
            self._finished_because(bedrock_finish(payload))
        elif kind == "metadata":
            usage = payload.get("usage")
            if isinstance(usage, Mapping):
                self._usage, self._usage_final = usage, True
            self.finished = True
