"""Taking a batch off a queue: the first item as soon as one comes (or nothing
after ``interval``), then whatever else arrives within ``interval`` of it, up to
``size``; once ``stopping`` is set, only what is already there. Shared by the
ledger's writer and the instrumentation's forwarder."""

from __future__ import annotations

import queue
import threading
import time
from typing import TypeVar

__all__ = ["take_batch"]

T = TypeVar("T")


def take_batch(
    source: queue.SimpleQueue[T], size: int, interval: float, stopping: threading.Event
) -> list[T]:
    try:
        batch = [source.get(timeout=interval)]
    except queue.Empty:
        return []
    deadline = time.monotonic() + interval
    while len(batch) < size:
        remaining = 0.0 if stopping.is_set() else deadline - time.monotonic()
        try:
            batch.append(source.get(timeout=remaining) if remaining > 0 else source.get_nowait())
        except queue.Empty:
            break
    return batch
