"""The hand-over: a serving process gives its calls to the writer process on disk.

``ledger: {writer: process}`` (docs/decisions.md, issue 16): the gateway's
``submit`` encodes the call as a spool line (``llmtally.ledger.spool``) and
appends it, with one ``write``, to a chunk file of its own in the hand-over
folder beside the spool (``<spool>.handover/``). The writer process
(``llmtally.ledger.writer_process``), one per ledger on the machine, reads
the chunks, inserts them in batches and deletes each chunk only once every
row of it is in the database or its (fsync'd) spool.

Chunk files: ``<ns>-<pid>-<seq>.new`` while being created, then ``.open``
while this process appends to it, holding ``flock(LOCK_SH)`` on it; every
``flush_interval`` a thread fsyncs a chunk that has rows, renames it
``.rows`` (the folder fsync'd) and closes it. The writer process reads
``.rows`` files, and ``.open`` files whose lock it can take (their process
died, SIGKILL included: the kernel drops the lock).

What is guaranteed: once ``submit`` returns, the call is in the kernel's page
cache: neither this process nor the writer process dying loses it (the
writer re-reads an unfinished chunk; inserts are idempotent by id). Within
``flush_interval`` it is also on disk (fsync): a power loss or kernel crash
loses at most the calls of the last ``flush_interval`` (today's thread mode
loses its in-memory queue the same way, and also on a process kill).
``durable=True``: ``ack(call_id)`` resolves only after the fsync, so the
gateway completes the response once the call would survive a power loss.

When the folder refuses writes (disk full), calls wait in memory and are
retried every ``retry_interval``; at ``max_held`` of them ``is_full()`` says
so and the gateway answers 503, as with the thread writer.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import time
from concurrent.futures import Future
from pathlib import Path

from llmtally.ledger.rows import CallBodies, bodies_to_row, call_to_row
from llmtally.ledger.spool import Pair, encode_lines, fsync_dir
from llmtally.ledger.writer import WriterStats
from llmtally.usage import Call

__all__ = ["STATS_FILE", "STATS_STALE_S", "Handover", "handover_dir"]

STATS_FILE = "writer-stats.json"  # the writer process's figures, for /metrics
STATS_STALE_S = 5.0  # older than this: the writer process is taken for down
_log = logging.getLogger(__name__)


def handover_dir(spool: Path) -> Path:
    """The hand-over folder of the ledger whose spool is ``spool``."""
    return spool.with_name(spool.name + ".handover")


class _Chunk:
    """The chunk file this process appends to (``.open``, locked shared)."""

    def __init__(self, folder: Path, seq: int) -> None:
        stem = f"{time.time_ns():020d}-{os.getpid()}-{seq}"
        new = folder / f"{stem}.new"
        self.path = folder / f"{stem}.open"
        self.fd = os.open(new, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_EXCL, 0o600)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_SH)
            os.replace(new, self.path)  # visible only once locked: never taken for a dead one's
        except OSError:
            os.close(self.fd)
            new.unlink(missing_ok=True)
            raise
        self.rows = 0
        self.ids: list[str] = []

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]

    def seal(self) -> None:
        """fsync, rename to ``.rows`` while still locked, close."""
        try:
            os.fsync(self.fd)
            os.replace(self.path, self.path.with_suffix(".rows"))
            fsync_dir(self.path.parent)
        finally:
            os.close(self.fd)


class Handover:
    """The serving process's side of ``writer: process``: the ``LedgerWriter``
    surface the gateway uses (submit, ack, is_full, flush, close, stats)."""

    def __init__(
        self,
        spool_path: Path,
        *,
        flush_interval: float = 0.05,
        retry_interval: float = 1.0,
        max_held: int = 10_000,
        durable: bool = False,
    ) -> None:
        self.folder = handover_dir(spool_path)
        self.flush_interval = 0.002 if durable else flush_interval
        self.retry_interval = retry_interval
        self.max_held = max_held
        self.durable = durable
        self._lock = threading.Condition()
        self._chunk: _Chunk | None = None
        self._sealing: list[_Chunk] = []  # detached, to seal outside the lock
        self._seq = 0
        self._held: list[Pair] = []  # the folder refused them: retried, bounded by max_held
        self._acks: dict[str, Future[None]] = {}
        self._no_wait: Future[None] = Future()
        self._no_wait.set_result(None)
        self._counts = {"submitted": 0, "handed": 0}
        self._error: str | None = None
        self._retry_at = 0.0
        self._outside = 0
        self._full = False
        self._closed = False
        self._cached: tuple[float, dict[str, object]] = (0.0, {})
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="llmtally-handover", daemon=True)
        self._thread.start()

    # -- the request path ---------------------------------------------------------------
    def submit(self, call: Call, bodies: CallBodies | None = None) -> None:
        """Append ``call`` to the hand-over (one write, no fsync); returns at once."""
        pair = (call_to_row(call), None if bodies is None else bodies_to_row(bodies))
        data = encode_lines([pair])
        with self._lock:
            if self._closed:
                raise RuntimeError("the ledger hand-over is closed")
            self._counts["submitted"] += 1
            if self.durable:
                self._acks[call.id] = Future()
            if self._held or not self._write(data, [pair]):
                self._held.append(pair)

    def ack(self, call_id: str) -> Future[None]:
        """Resolves once the call is fsync'd in the hand-over (durable mode)."""
        with self._lock:
            return self._acks.get(call_id, self._no_wait)

    def is_full(self, pending: int = 0) -> bool:
        """Whether ``max_held`` calls (with ``pending`` being priced) wait in memory
        because the hand-over folder refuses writes."""
        with self._lock:
            self._outside = pending
            self._note_full()
            return self._full

    # -- control ------------------------------------------------------------------------
    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every call submitted so far is sealed in a ``.rows`` chunk."""
        deadline = time.monotonic() + timeout
        while True:
            self._seal()
            with self._lock:
                self._flush_held()
                if not self._held and self._chunk is None and not self._sealing:
                    return True
                if time.monotonic() >= deadline:
                    return False
                self._lock.wait(min(self.retry_interval, max(0.0, deadline - time.monotonic())))

    def close(self, timeout: float = 10.0) -> bool:
        """Seal what was handed over; calls the folder still refuses after
        ``timeout`` are logged as lost (the disk is full)."""
        with self._lock:
            self._closed = True
        done = self.flush(timeout)
        self._stopping.set()
        self._thread.join(timeout + 10)
        with self._lock:
            waiting, self._acks = list(self._acks.values()), {}
            lost = len(self._held)
        for future in waiting:
            future.set_result(None)
        if lost:
            _log.error("ledger hand-over closed: %d calls lost (%s)", lost, self._error)
        return done

    def stats(self) -> WriterStats:
        """This process's counts with the writer process's figures (its stats file)."""
        with self._lock:
            c, held, error = dict(self._counts), len(self._held), self._error
        w = self._writer_stats()
        up = bool(w)
        last = error or (
            None if up else f"the ledger writer process has not reported for {STATS_STALE_S:.0f} s"
        )
        return WriterStats(
            submitted=c["submitted"],
            queued=held + _int(w, "queued"),
            written=_int(w, "written"),
            spooled=_int(w, "spooled"),
            replayed=_int(w, "replayed"),
            rejected=_int(w, "rejected"),
            lost=_int(w, "lost"),
            spool_pending=bool(w.get("spool_pending", False)),
            database_up=bool(w.get("database_up", False)),
            last_error=last or _str(w.get("last_error")),
            journaled=c["handed"] if self.durable else 0,
            fallback=_int(w, "fallback"),
            max_held=self.max_held,
            full=held >= self.max_held,
            spool_up=error is None and bool(w.get("spool_up", True)),
        )

    # -- under the lock -------------------------------------------------------------------
    def _write(self, data: bytes, pairs: list[Pair]) -> bool:
        if self._retry_at and time.monotonic() < self._retry_at:
            return False
        try:
            if self._chunk is None:
                self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
                self._seq += 1
                self._chunk = _Chunk(self.folder, self._seq)
            self._chunk.write(data)
        except OSError as exc:
            self._refused(exc)
            return False
        self._chunk.rows += len(pairs)
        if self.durable:
            self._chunk.ids.extend(row["id"] for row, _ in pairs)
        self._counts["handed"] += len(pairs)
        if self._error is not None:
            _log.warning("the ledger hand-over %s takes writes again", self.folder)
            self._error = None
            self._retry_at = 0.0
        return True

    def _refused(self, exc: OSError) -> None:
        first = self._error is None
        self._error = f"hand-over {self.folder}: {exc}"
        self._retry_at = time.monotonic() + self.retry_interval
        if first:
            _log.error("cannot write the ledger hand-over: %s", self._error)
        if self._chunk is not None:  # a write that tore a line: end this chunk here
            self._sealing.append(self._chunk)
            self._chunk = None

    def _seal(self) -> None:
        """Seal the current chunk and any set aside, outside the lock (fsync takes
        milliseconds that ``submit`` need not wait for); then resolve their acks."""
        with self._lock:
            chunks, self._sealing = self._sealing, []
            if self._chunk is not None and self._chunk.rows:
                chunks.append(self._chunk)
                self._chunk = None
        for chunk in chunks:
            try:
                chunk.seal()
            except OSError as exc:  # its rows are in the file: the writer takes it once we exit
                _log.error("cannot seal ledger hand-over chunk %s: %s", chunk.path, exc)
        if chunks:
            with self._lock:
                for chunk in chunks:
                    for call_id in chunk.ids:
                        future = self._acks.pop(call_id, None)
                        if future is not None:
                            future.set_result(None)

    def _flush_held(self) -> None:
        if not self._held or (self._retry_at and time.monotonic() < self._retry_at):
            return
        self._retry_at = 0.0
        held, self._held = self._held, []
        if not self._write(encode_lines(held), held):
            self._held = held + self._held
        self._lock.notify_all()

    def _note_full(self) -> None:
        full = len(self._held) + self._outside >= self.max_held
        if full != self._full:
            self._full = full
            if full:
                _log.error(
                    "ledger full: %d calls wait in memory (bound %d); the gateway refuses new "
                    "calls with 503 until the hand-over takes them (%s)",
                    len(self._held),
                    self.max_held,
                    self._error,
                )
            else:
                _log.warning("ledger accepting calls again")

    # -- the sealing thread -----------------------------------------------------------------
    def _run(self) -> None:
        while not self._stopping.wait(self.flush_interval):
            self._seal()
            with self._lock:
                self._flush_held()
                self._note_full()

    def _writer_stats(self) -> dict[str, object]:
        """The writer process's last figures, re-read at most every half second;
        empty when missing or older than ``STATS_STALE_S``."""
        now = time.monotonic()
        at, cached = self._cached
        if now - at < 0.5:
            return cached
        path = self.folder / STATS_FILE
        try:
            fresh = time.time() - path.stat().st_mtime < STATS_STALE_S
            data = json.loads(path.read_text()) if fresh else {}
        except (OSError, ValueError):
            data = {}
        result = data if isinstance(data, dict) else {}
        self._cached = (now, result)
        return result


def _int(data: dict[str, object], key: str) -> int:
    value = data.get(key, 0)
    return value if isinstance(value, int) else 0


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None
