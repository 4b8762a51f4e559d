"""Group commit for the durable mode: calls are on disk before they are answered.

``GroupCommit`` appends calls to a spool file (the journal) from its own
thread: it takes every call waiting, writes them with one write and one
``fsync``, then reports them done; calls that arrive during an ``fsync`` form
the next group, so a busy gateway pays one ``fsync`` per group, not per call.
A group the disk refuses is handed back (``on_failure``) to go the ordinary
way: database, spool, memory. The ledger writer replays the journal into the
database like a spool, so a process killed at any moment loses no call that
was reported done.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from llmtally.ledger.spool import Pair, Spool

__all__ = ["GroupCommit"]

_log = logging.getLogger(__name__)


class GroupCommit:
    """``put`` calls; ``on_done(pairs)`` once they are on disk, ``on_failure(pairs,
    error)`` when the disk refused them."""

    def __init__(
        self,
        journal: Spool,
        on_done: Callable[[list[Pair]], None],
        on_failure: Callable[[list[Pair], OSError], None],
        max_group: int = 1000,
    ) -> None:
        self.journal = journal
        self.max_group = max_group
        self.groups = 0
        self._on_done, self._on_failure = on_done, on_failure
        self._queue: queue.SimpleQueue[Pair | None] = queue.SimpleQueue()
        self._failing = False
        self._thread = threading.Thread(target=self._loop, name="llmtally-journal", daemon=True)
        self._thread.start()

    def put(self, pair: Pair) -> None:
        self._queue.put(pair)

    def stop(self, timeout: float) -> bool:
        """Commit what was put so far, then end; True when done in time."""
        self._queue.put(None)
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _loop(self) -> None:
        running = True
        while running:
            first = self._queue.get()
            if first is None:
                break
            group = [first]
            while len(group) < self.max_group:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    running = False
                    break
                group.append(item)
            self._commit(group)

    def _commit(self, group: list[Pair]) -> None:
        try:
            self.journal.append(group)
        except OSError as exc:
            if not self._failing:
                _log.error("cannot write the ledger journal %s: %s", self.journal.path, exc)
            self._failing = True
            self._on_failure(group, exc)
            return
        if self._failing:
            _log.warning("the ledger journal %s takes writes again", self.journal.path)
        self._failing = False
        self.groups += 1
        self._on_done(group)
