"""A response on its way through the gateway: a stream's watcher (its usage
read as it passes, the usage chunk the client did not ask for hidden) and the
two ways a stream ends early."""

from __future__ import annotations

import time

from llmtally.providers.adjust import UsageChunkFilter
from llmtally.providers.streams import StreamAccumulator
from llmtally.providers.wires import Wire

__all__ = ["ClientGone", "StreamCut", "Streaming"]


class StreamCut(Exception):
    """The upstream stream broke after the response had started."""

    def __init__(self, sent: bytes) -> None:
        super().__init__("upstream stream cut")
        self.sent = sent


class ClientGone(Exception):
    """The client disconnected mid-stream."""

    def __init__(self, sent: bytes) -> None:
        super().__init__("client disconnected")
        self.sent = sent


class Streaming:
    """A stream on its way through: what it says, and what the client may see."""

    def __init__(self, wire: Wire, provider: str, hide_usage_chunk: bool) -> None:
        self.accumulator: StreamAccumulator = wire.accumulator(provider, clock=time.perf_counter)
        self.filter = UsageChunkFilter() if hide_usage_chunk else None

    def feed(self, chunk: bytes) -> bytes:
        self.accumulator.feed(chunk)
        return self.filter.feed(chunk) if self.filter else chunk

    def flush(self) -> bytes:
        return self.filter.flush() if self.filter else b""
