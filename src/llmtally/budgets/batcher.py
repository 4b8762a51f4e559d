"""Reservations made together: one transaction, one commit, for every call waiting.

A reservation holds its budget's counter row locked until it commits, and a
commit waits for the database's disk, so one budget admits at most one call
per commit when each call has its own transaction. :class:`ReserveBatcher`
is one thread that takes every reservation waiting when it is free and makes
them in one transaction (``BudgetCounters.reserve_many``: all or none per
call, first come first served): at concurrency 1 a call waits for one commit
as before; under load, many calls share each commit.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence
from concurrent.futures import Future

from llmtally.budgets.counters import BudgetCounters, Claim, Refusal

__all__ = ["ReserveBatcher"]

_Item = tuple[Sequence[Claim], "Future[Refusal | None]"]


class ReserveBatcher:
    """Reserves for ``holder`` on one thread, in batches of up to ``batch`` calls."""

    def __init__(self, counters: BudgetCounters, holder: str, batch: int = 256) -> None:
        self.counters, self.holder, self.batch = counters, holder, batch
        self.batches = 0  # transactions made (calls / batches: the mean batch)
        self.calls = 0
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def start(self) -> ReserveBatcher:
        self._thread = threading.Thread(target=self._run, name="llmtally-reserve", daemon=True)
        self._thread.start()
        return self

    def submit(self, claims: Sequence[Claim]) -> Future[Refusal | None]:
        """The call's refusal (or None: reserved) once its batch committed; the
        database's error if it failed. A future cancelled before its batch
        starts reserves nothing."""
        future: Future[Refusal | None] = Future()
        self._queue.put((claims, future))
        return future

    def close(self) -> None:
        """Finish what was submitted, then stop."""
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        done = False
        while not done:
            items, done = self._gather()
            if items:
                self._reserve(items)

    def _gather(self) -> tuple[list[_Item], bool]:
        """The calls waiting (at least one, blocking for it), and whether to stop."""
        first = self._queue.get()
        if first is None:
            return [], True
        items = [first]
        while len(items) < self.batch:
            try:
                more = self._queue.get_nowait()
            except queue.Empty:
                break
            if more is None:
                return self._live(items), True
            items.append(more)
        return self._live(items), False

    @staticmethod
    def _live(items: list[_Item]) -> list[_Item]:
        return [item for item in items if item[1].set_running_or_notify_cancel()]

    def _reserve(self, items: list[_Item]) -> None:
        try:
            refusals = self.counters.reserve_many(self.holder, [claims for claims, _ in items])
        except BaseException as exc:  # the database's error goes to every caller
            for _, future in items:
                future.set_exception(exc)
            return
        self.batches += 1
        self.calls += len(items)
        for (_, future), refusal in zip(items, refusals, strict=True):
            future.set_result(refusal)
