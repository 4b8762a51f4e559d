"""Write-behind: the request path hands calls over and never waits on the database.

``LedgerWriter.submit`` puts a call on an in-memory queue and returns. One
background thread takes batches (``batch_size`` rows, or whatever arrived
within ``flush_interval``) and inserts them. Each insert runs on a second
thread and is waited for at most ``db_timeout``: when it fails or is late,
the batch goes to the spool (``llmtally.ledger.spool``) with the reason kept
in ``stats().last_error``, and batches go straight to the spool until
``retry_interval`` has passed and the previous insert has returned. Once
the database answers again the spool is replayed. A late insert that still
succeeds and its spooled copy store one row: inserts are idempotent by id.

When the spool cannot be written either (disk full), the batch stays in
memory and both are retried; the calls behind it wait in the queue. Once
``max_held`` calls wait, ``is_full()`` says so and the gateway refuses new
calls (503) until the ledger takes them again: calls already answered are
kept, new ones are turned away. ``close(timeout)`` retries for ``timeout``
seconds, then writes what is still held to a fallback file
(``llmtally.ledger.fallback``), moved into the spool by the next start.

``durable=True``: each call is appended to a journal beside the spool and
fsync'd in groups (``llmtally.ledger.journal``) before ``ack(call_id)``
resolves; the gateway completes a response only then. The journal is
replayed into the database like the spool, here and at the next start.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from llmtally.ledger.batches import take_batch
from llmtally.ledger.db_thread import DbThread, Failure
from llmtally.ledger.fallback import Fallback, default_fallback_dirs
from llmtally.ledger.journal import GroupCommit
from llmtally.ledger.rows import CallBodies, bodies_to_row, call_to_row
from llmtally.ledger.spool import Pair, Spool
from llmtally.ledger.store import Store
from llmtally.usage import Call

__all__ = ["LedgerWriter", "WriterStats"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WriterStats:
    """Counts since the writer started (rows), for /metrics and tests."""

    submitted: int
    queued: int
    written: int
    spooled: int
    replayed: int
    rejected: int
    lost: int
    spool_pending: bool
    database_up: bool
    last_error: str | None
    journaled: int = 0  # durable mode: calls fsync'd to the journal before their answer
    fallback: int = 0  # calls written to a fallback file at exit (database and spool down)
    max_held: int = 0  # the bound on ``queued``: at it, the gateway refuses new calls
    full: bool = False  # ``queued`` is at the bound
    spool_up: bool = True  # False while the spool refuses writes


_COUNTS = (
    "submitted",
    "done",
    "written",
    "spooled",
    "journaled",
    "replayed",
    "rejected",
    "fallback",
    "lost",
)


class LedgerWriter:
    """Batches calls into ``store`` from a background thread, spooling to
    ``spool_path`` while the database is down or slow."""

    def __init__(
        self,
        store: Store,
        spool_path: Path,
        *,
        batch_size: int = 500,
        flush_interval: float = 0.05,
        db_timeout: float = 2.0,
        retry_interval: float = 1.0,
        max_held: int = 10_000,
        durable: bool = False,
        fallback_dirs: Sequence[Path] | None = None,
    ) -> None:
        self.store = store
        self.spool = Spool(spool_path)
        self.rejects = Spool(spool_path.with_name(spool_path.name + ".rejected"))
        self.journal = Spool(spool_path.with_name(spool_path.name + ".journal"))
        dirs = default_fallback_dirs() if fallback_dirs is None else fallback_dirs
        self.fallback = Fallback(spool_path, dirs)
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.db_timeout = db_timeout
        self.retry_interval = retry_interval
        self.max_held = max_held
        self.durable = durable
        self._queue: queue.SimpleQueue[Pair] = queue.SimpleQueue()
        self._lock = threading.Condition()
        self._counts = dict.fromkeys(_COUNTS, 0)
        self._acks: dict[str, Future[None]] = {}
        self._no_wait: Future[None] = Future()
        self._no_wait.set_result(None)
        self._last_error: str | None = None
        self._spool_error: str | None = None  # set while the spool refuses writes
        self._holding = False  # database and spool both refuse: calls wait in memory
        self._full = False
        self._outside = 0  # calls the caller holds for us (last said to is_full)
        self._closed = False
        self._give_up_at = math.inf  # set by close(): from then on, the fallback file
        self._retry_at = 0.0
        self._replay_done: dict[Path, int] = {}  # lines of a file being replayed already in
        self._stopping = threading.Event()
        self._db = DbThread()
        self._group = (
            GroupCommit(self.journal, self._journaled, self._journal_failed) if durable else None
        )
        self._thread = threading.Thread(target=self._run, name="llmtally-ledger", daemon=True)
        self._thread.start()

    # -- the request path ---------------------------------------------------------------
    def submit(self, call: Call, bodies: CallBodies | None = None) -> None:
        """Queue ``call`` for the ledger; returns at once. A call the ledger cannot
        hold (an amount out of range) raises ValueError here, not in a batch later."""
        pair = (call_to_row(call), None if bodies is None else bodies_to_row(bodies))
        with self._lock:
            if self._closed:
                raise RuntimeError("the ledger writer is closed")
            self._counts["submitted"] += 1
            if self._group is not None:
                self._acks[call.id] = Future()
                self._group.put(pair)
            else:
                self._queue.put(pair)

    def submit_pairs(self, pairs: Sequence[Pair]) -> None:
        """Queue rows already encoded (a hand-over chunk, ``writer: process``)."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the ledger writer is closed")
            self._counts["submitted"] += len(pairs)
            for pair in pairs:
                self._queue.put(pair)

    def ack(self, call_id: str) -> Future[None]:
        """Resolves once the call submitted as ``call_id`` is stored durably (the
        journal, the database or the spool), or placed as well as the writer
        could at exit. Already resolved when the writer is not durable."""
        with self._lock:
            return self._acks.get(call_id, self._no_wait)

    def is_full(self, pending: int = 0) -> bool:
        """Whether ``max_held`` calls wait in memory, counting ``pending`` calls
        answered but not yet handed over (being priced): the gateway then refuses
        new calls rather than hold more than it can lose."""
        with self._lock:
            self._outside = pending
            change = self._check_full()
        if change:
            _log.log(*change)
        return self._full

    # -- control ------------------------------------------------------------------------
    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every call submitted so far is in the database, the journal
        or the spool."""
        with self._lock:
            return self._lock.wait_for(
                lambda: self._counts["done"] >= self._counts["submitted"], timeout
            )

    def close(self, timeout: float = 10.0) -> bool:
        """Drain the queue into the database (or the spool) and stop; True when done.
        While both refuse, retry for ``timeout`` seconds, then write what is left
        to a fallback file (moved into the spool by the next start)."""
        with self._lock:
            self._closed = True
        self._give_up_at = time.monotonic() + timeout
        if self._group is not None:
            self._group.stop(timeout + 10)  # failed groups are in the queue by now
        self._stopping.set()
        self._thread.join(timeout + self.db_timeout + 10)
        self._db.stop(min(timeout, self.db_timeout))
        with self._lock:
            waiting, self._acks = list(self._acks.values()), {}
        for future in waiting:  # nothing more can be done for them: let their requests end
            future.set_result(None)
        s = self.stats()
        if s.fallback or s.lost:
            _log.error(
                "ledger writer closed: %d calls in fallback files, %d lost", s.fallback, s.lost
            )
        return not self._thread.is_alive()

    def stats(self) -> WriterStats:
        with self._lock:
            c = dict(self._counts)
            error = self._last_error
            spool_up = self._spool_error is None
        queued = c["submitted"] - c["done"]
        return WriterStats(
            submitted=c["submitted"],
            queued=queued,
            written=c["written"],
            spooled=c["spooled"],
            replayed=c["replayed"],
            rejected=c["rejected"],
            lost=c["lost"],
            spool_pending=self.spool.pending(),
            database_up=self._retry_at == 0.0,
            last_error=error,
            journaled=c["journaled"],
            fallback=c["fallback"],
            max_held=self.max_held,
            full=queued >= self.max_held,
            spool_up=spool_up,
        )

    # -- bookkeeping (any thread) ---------------------------------------------------------
    def _check_full(self) -> tuple[int, str] | None:
        """Under the lock: note a change of fullness; the log line to write, if any."""
        held = self._counts["submitted"] - self._counts["done"] + self._outside
        full = held >= self.max_held
        if full == self._full:
            return None
        self._full = full
        if full:
            return logging.ERROR, (
                f"ledger full: {held} calls wait in memory (bound {self.max_held}); the gateway "
                "refuses new calls with 503 until they are stored "
                f"({self._last_error or 'the database has not answered yet'})"
            )
        return logging.WARNING, f"ledger accepting calls again ({held} wait in memory)"

    def _settle(self, pairs: Sequence[Pair], kind: str, count: int) -> None:
        """``pairs`` have left memory: ``count`` of them as ``kind``."""
        with self._lock:
            self._counts[kind] += count
            self._counts["done"] += len(pairs)
            self._lock.notify_all()
            acks = [self._acks.pop(row["id"], None) for row, _ in pairs] if self._acks else []
            change = self._check_full()
        for future in acks:
            if future is not None:
                future.set_result(None)
        if change:
            _log.log(*change)

    def _journaled(self, pairs: list[Pair]) -> None:
        self._settle(pairs, "journaled", len(pairs))

    def _journal_failed(self, pairs: list[Pair], exc: OSError) -> None:
        """The journal refused a group: the ordinary way for it (its acks wait)."""
        with self._lock:
            self._last_error = f"journal {self.journal.path}: {exc}"
        for pair in pairs:
            self._queue.put(pair)

    # -- the background thread -----------------------------------------------------------
    def _run(self) -> None:
        self._adopt()  # calls an earlier process left in fallback files
        self._replay()  # whatever a previous process left behind
        while True:
            batch = self._next_batch()
            if batch:
                self._write(batch)
            elif self._stopping.is_set() and self._queue.empty():
                # a timed-out get can come back empty just as calls arrive: stop only
                # once the queue is really empty (submit refuses new calls by now)
                break
            if self._ready() and self._pending():
                self._replay()
        if self._ready() and self._pending() and not self._past_deadline():
            self._replay()

    def _adopt(self) -> None:
        try:
            moved = self.fallback.adopt(self.spool)
        except OSError as exc:
            _log.error("cannot move ledger fallback files into the spool yet: %s", exc)
            return
        if moved:
            _log.warning("%d calls from ledger fallback files are in the spool", moved)

    def _pending(self) -> bool:
        return self.spool.pending() or self.journal.pending()

    def _past_deadline(self) -> bool:
        return time.monotonic() >= self._give_up_at

    def _next_batch(self) -> list[Pair]:
        return take_batch(self._queue, self.batch_size, self.flush_interval, self._stopping)

    def _ready(self) -> bool:
        """Whether to try the database now (not backing off, nothing in flight)."""
        return time.monotonic() >= self._retry_at and self._db.idle

    def _insert(self, pairs: list[Pair]) -> Failure | None:
        rows = [row for row, _ in pairs]
        bodies = [b for _, b in pairs if b is not None]
        return self._db.run(lambda: self.store.insert_rows(rows, bodies), self.db_timeout)

    def _attempt(self, pairs: list[Pair]) -> int | None:
        """Insert ``pairs``: the number of rows the database refused for their
        content (set aside in the rejects file), or None when it is unavailable."""
        failure = self._insert(pairs)
        if failure is not None and failure.permanent:
            return self._isolate(pairs, failure.reason)
        if failure is None:
            if self._retry_at:
                _log.warning("ledger database is back")
            self._retry_at = 0.0
            return 0
        self._down(failure.reason)
        return None

    def _down(self, reason: str) -> None:
        """Back off: batches go to the spool until ``retry_interval`` has passed."""
        if not self._retry_at:
            _log.warning("ledger database unavailable, spooling: %s", reason)
        self._retry_at = time.monotonic() + self.retry_interval
        with self._lock:
            self._last_error = reason

    def _isolate(self, pairs: list[Pair], reason: str) -> int | None:
        """A batch refused for its content: insert row by row, set the refused aside,
        so that one bad row can neither block the ledger nor take the others with it."""
        refused: list[Pair] = []
        for pair in pairs:
            failure = self._insert([pair]) if len(pairs) > 1 else Failure(reason, True)
            if failure is not None and not failure.permanent:
                self._down(failure.reason)  # gone meanwhile: spool the whole batch
                return None
            if failure is not None:
                refused.append(pair)
        _log.error(
            "the ledger refused %d calls, kept in %s: %s", len(refused), self.rejects.path, reason
        )
        while refused and not self._append(refused, self.rejects):
            if self._past_deadline():
                self._fall_back(refused)
                break
            self._pause()
        with self._lock:
            self._last_error = reason
            self._counts["rejected"] += len(refused)
        return len(refused)

    def _write(self, pairs: list[Pair]) -> None:
        kind, count = self._place(pairs)
        self._settle(pairs, kind, count)

    def _place(self, pairs: list[Pair]) -> tuple[str, int]:
        """Into the database, else the spool. While both refuse, ``pairs`` stay
        here and both are retried (the queue waits in memory; ``is_full`` turns
        new calls away at the bound). A closing writer stops retrying at its
        deadline and writes them to a fallback file."""
        while True:
            if self._ready() and not self._past_deadline():
                refused = self._attempt(pairs)
                if refused is not None:
                    self._held(False)
                    return "written", len(pairs) - refused
            if self._append(pairs, self.spool):
                self._held(False)
                return "spooled", len(pairs)
            if self._past_deadline():
                return self._fall_back(pairs)
            self._held(True)
            self._pause()

    def _held(self, holding: bool) -> None:
        if holding and not self._holding:
            _log.error(
                "the ledger database and spool both refuse calls; holding them in memory "
                "(at most %d before the gateway refuses new calls): %s",
                self.max_held,
                self._last_error,
            )
        elif self._holding and not holding:
            _log.warning("the ledger stores calls again")
        self._holding = holding

    def _pause(self) -> None:
        time.sleep(max(0.0, min(self.retry_interval, self._give_up_at - time.monotonic())))

    def _append(self, pairs: list[Pair], spool: Spool) -> bool:
        """One attempt to spool ``pairs``; False (and the error noted) when the disk refuses."""
        try:
            spool.append(pairs)
        except OSError as exc:
            error = f"spool {spool.path}: {exc}"
            with self._lock:
                first, self._spool_error = self._spool_error is None, error
                self._last_error = error
            if first:
                _log.error("cannot write the ledger spool: %s", error)
            return False
        if self._spool_error is not None:
            _log.warning("the ledger spool %s takes writes again", spool.path)
            with self._lock:
                self._spool_error = None
        return True

    def _fall_back(self, pairs: list[Pair]) -> tuple[str, int]:
        try:
            path = self.fallback.write(pairs)
        except OSError as exc:
            _log.error(
                "lost %d calls: the database, the spool and every fallback folder refused them "
                "(%s)",
                len(pairs),
                exc,
            )
            return "lost", len(pairs)
        _log.error(
            "the ledger database and spool refused %d calls at exit: written to %s; the next "
            "start on this spool moves them into it",
            len(pairs),
            path,
        )
        return "fallback", len(pairs)

    def _replay(self) -> None:
        """Insert spooled and journaled rows, file by file, chunk by chunk; stop at
        the first failure (the next attempt resumes after the last chunk that went in)."""
        for spool in (self.spool, self.journal):
            # a replay left unfinished, then the file itself (a journal fills up again
            # meanwhile: it waits for the next round, so the queue is not starved)
            for _ in range(2):
                path = spool.start_replay() if self._ready() else None
                if path is None:
                    break
                if not self._replay_file(spool, path):
                    return
                spool.finish_replay()
                self._replay_done.pop(path, None)

    def _replay_file(self, spool: Spool, path: Path) -> bool:
        done = self._replay_done.get(path, 0)
        chunks = spool.chunks(path, self.batch_size, skip=done)
        return all(self._replay_chunk(path, chunk, last) for chunk, last in chunks)

    def _replay_chunk(self, path: Path, chunk: list[Pair], last_line: int) -> bool:
        if self._attempt(chunk) is None:
            return False
        self._replay_done[path] = last_line + 1
        with self._lock:
            self._counts["replayed"] += len(chunk)
        return True
