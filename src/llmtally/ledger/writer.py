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
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

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


class _Failure(NamedTuple):
    reason: str
    permanent: bool  # the database refuses these rows; retrying them cannot help


def _refuses_content(exc: Exception) -> bool:
    """Whether ``exc`` is about the rows (bad data), not the database being away."""
    from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, StatementError

    if isinstance(exc, DataError | IntegrityError):
        return True
    return isinstance(exc, StatementError) and not isinstance(exc, DBAPIError)


class _DbThread:
    """Runs one database call at a time on its own daemon thread, so that a
    call that hangs (a dead TCP peer, a held lock) never stalls the writer."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], None], Future[None]] | None] = (
            queue.SimpleQueue()
        )
        self._idle = threading.Event()
        self._idle.set()
        self._thread = threading.Thread(target=self._loop, name="llmtally-ledger-db", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while (job := self._jobs.get()) is not None:
            fn, future = job
            try:
                fn()
                future.set_result(None)
            except BaseException as exc:  # handed to the waiting writer, which spools
                future.set_exception(exc)
            finally:
                self._idle.set()

    @property
    def idle(self) -> bool:
        return self._idle.is_set()

    def run(self, fn: Callable[[], None], timeout: float) -> _Failure | None:
        """None when ``fn`` ran within ``timeout``; else why it did not."""
        if not self._idle.is_set():
            return _Failure("the previous database call has not returned yet", False)
        future: Future[None] = Future()
        self._idle.clear()
        self._jobs.put((fn, future))
        try:
            future.result(timeout)
        except TimeoutError:
            return _Failure(f"the database did not answer within {timeout:g} s", False)
        except Exception as exc:  # any driver or database error: the caller spools
            return _Failure(f"{type(exc).__name__}: {exc}".strip(), _refuses_content(exc))
        return None

    def stop(self, timeout: float) -> None:
        self._jobs.put(None)
        self._thread.join(timeout)


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
    ) -> None:
        self.store = store
        self.spool = Spool(spool_path)
        self.rejects = Spool(spool_path.with_name(spool_path.name + ".rejected"))
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.db_timeout = db_timeout
        self.retry_interval = retry_interval
        self._queue: queue.SimpleQueue[Pair] = queue.SimpleQueue()
        self._lock = threading.Condition()
        self._counts = dict.fromkeys(
            ("submitted", "done", "written", "spooled", "replayed", "rejected", "lost"), 0
        )
        self._last_error: str | None = None
        self._retry_at = 0.0
        self._replay_done = 0  # lines of the file being replayed already in the database
        self._stopping = threading.Event()
        self._db = _DbThread()
        self._thread = threading.Thread(target=self._run, name="llmtally-ledger", daemon=True)
        self._thread.start()

    # -- the request path ---------------------------------------------------------------
    def submit(self, call: Call, bodies: CallBodies | None = None) -> None:
        """Queue ``call`` for the ledger; returns at once. A call the ledger cannot
        hold (an amount out of range) raises ValueError here, not in a batch later."""
        if self._stopping.is_set():
            raise RuntimeError("the ledger writer is closed")
        pair = (call_to_row(call), None if bodies is None else bodies_to_row(bodies))
        with self._lock:
            self._counts["submitted"] += 1
        self._queue.put(pair)

    # -- control ------------------------------------------------------------------------
    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every call submitted so far is in the database or the spool."""
        with self._lock:
            return self._lock.wait_for(
                lambda: self._counts["done"] >= self._counts["submitted"], timeout
            )

    def close(self, timeout: float = 10.0) -> bool:
        """Drain the queue into the database (or the spool) and stop; True when done."""
        self._stopping.set()
        self._thread.join(timeout)
        self._db.stop(min(timeout, self.db_timeout))
        return not self._thread.is_alive()

    def stats(self) -> WriterStats:
        with self._lock:
            c = dict(self._counts)
            error = self._last_error
        return WriterStats(
            submitted=c["submitted"],
            queued=c["submitted"] - c["done"],
            written=c["written"],
            spooled=c["spooled"],
            replayed=c["replayed"],
            rejected=c["rejected"],
            lost=c["lost"],
            spool_pending=self.spool.pending(),
            database_up=self._retry_at == 0.0,
            last_error=error,
        )

    # -- the background thread -----------------------------------------------------------
    def _run(self) -> None:
        self._replay()  # whatever a previous process left behind
        while True:
            batch = self._next_batch()
            if batch:
                self._write(batch)
            elif self._stopping.is_set() and self._queue.empty():
                # a timed-out get can come back empty just as calls arrive: stop only
                # once the queue is really empty (submit refuses new calls by now)
                break
            if self._ready() and self.spool.pending():
                self._replay()
        if self._ready() and self.spool.pending():
            self._replay()

    def _next_batch(self) -> list[Pair]:
        try:
            batch = [self._queue.get(timeout=self.flush_interval)]
        except queue.Empty:
            return []
        deadline = time.monotonic() + self.flush_interval
        while len(batch) < self.batch_size:
            remaining = 0.0 if self._stopping.is_set() else deadline - time.monotonic()
            try:
                batch.append(
                    self._queue.get(timeout=remaining)
                    if remaining > 0
                    else self._queue.get_nowait()
                )
            except queue.Empty:
                break
        return batch

    def _ready(self) -> bool:
        """Whether to try the database now (not backing off, nothing in flight)."""
        return time.monotonic() >= self._retry_at and self._db.idle

    def _insert(self, pairs: list[Pair]) -> _Failure | None:
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
            failure = self._insert([pair]) if len(pairs) > 1 else _Failure(reason, True)
            if failure is not None and not failure.permanent:
                self._down(failure.reason)  # gone meanwhile: spool the whole batch
                return None
            if failure is not None:
                refused.append(pair)
        _log.error(
            "the ledger refused %d calls, kept in %s: %s", len(refused), self.rejects.path, reason
        )
        self._append_to_spool(refused, self.rejects)
        with self._lock:
            self._last_error = reason
            self._counts["rejected"] += len(refused)
        return len(refused)

    def _write(self, pairs: list[Pair]) -> None:
        refused = self._attempt(pairs) if self._ready() else None
        if refused is not None:
            kind, count = "written", len(pairs) - refused
        else:
            kind, count = self._append_to_spool(pairs, self.spool), len(pairs)
        with self._lock:
            self._counts[kind] += count
            self._counts["done"] += len(pairs)
            self._lock.notify_all()

    def _append_to_spool(self, pairs: list[Pair], spool: Spool) -> str:
        """Spool ``pairs``; while the disk refuses, retry (the queue waits in memory)."""
        while pairs:
            try:
                spool.append(pairs)
                return "spooled"
            except OSError as exc:
                with self._lock:
                    self._last_error = f"spool {spool.path}: {exc}"
                if self._stopping.is_set():
                    _log.error(
                        "lost %d calls: database and spool both failed (%s)", len(pairs), exc
                    )
                    return "lost"
                _log.error("cannot write the ledger spool, retrying: %s", exc)
                time.sleep(self.retry_interval)
        return "spooled"

    def _replay(self) -> None:
        """Insert spooled rows, file by file, chunk by chunk; stop at the first failure
        (the next attempt resumes after the last chunk that went in)."""
        while self._ready() and (path := self.spool.start_replay()) is not None:
            chunk: list[Pair] = []
            last = self._replay_done - 1
            for number, pair in self.spool.read(path, skip=self._replay_done):
                chunk.append(pair)
                last = number
                if len(chunk) >= self.batch_size:
                    if not self._replay_chunk(chunk, last):
                        return
                    chunk = []
            if chunk and not self._replay_chunk(chunk, last):
                return
            self.spool.finish_replay()
            self._replay_done = 0

    def _replay_chunk(self, chunk: list[Pair], last_line: int) -> bool:
        if self._attempt(chunk) is None:
            return False
        self._replay_done = last_line + 1
        with self._lock:
            self._counts["replayed"] += len(chunk)
        return True
