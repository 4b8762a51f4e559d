"""The writer process: one per ledger on the machine, fed by the hand-over.

``ledger: {writer: process}``: the serving processes append calls to chunk
files (``llmtally.ledger.handover``); this process, started (and restarted)
by the ``llmtally serve`` supervisor, takes ``writer.lock`` in the hand-over
folder (``flock``: whoever holds it is the writer; another waits for it),
then loops: the sealed chunks (``.rows``) and those of dead processes
(``.open`` files whose shared lock it can take), oldest first, up to
``batch_size`` rows, go to a ``LedgerWriter`` (pricing is done already: the
rows carry their cost; the writer inserts them with the rollups, or spools
them while the database is down); once it reports them in the database or
its fsync'd spool, the chunks are deleted. Killed in between, the next writer
reads those chunks again: inserts are idempotent by id.

Every half second its figures go to ``writer-stats.json`` beside the chunks,
which the serving processes read for ``/metrics``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from llmtally.ledger.handover import STATS_FILE, handover_dir
from llmtally.ledger.spool import Pair, Spool, fsync_dir
from llmtally.ledger.store import Store
from llmtally.ledger.writer import LedgerWriter

__all__ = ["HandoverReader", "WriterLock", "drain_handover", "run_writer_process"]

LOCK_FILE = "writer.lock"
POLL_S = 0.05  # how often an idle writer looks for chunks (a busy one looks again at once)
BATCH_WAIT_S = 0.05  # the inner writer's wait for more rows after a batch's first
ORPHAN_EVERY_S = 1.0  # how often it tests ``.open`` chunks for a dead writer (a lock each)
STATS_EVERY_S = 0.5
STALE_NEW_S = 60.0  # a ``.new`` chunk this old whose lock is free: its process died creating it
_log = logging.getLogger(__name__)


class WriterLock:
    """``flock`` on ``<hand-over>/writer.lock``: held for the writer's life,
    dropped by the kernel when its process dies, however it dies."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path = folder / LOCK_FILE
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)

    def take(self, stop: threading.Event, poll: float = 0.2) -> bool:
        """Wait for the lock until ``stop`` is set; True once held."""
        while not stop.is_set():
            if self.try_take():
                return True
            stop.wait(poll)
        return False

    def try_take(self) -> bool:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        os.ftruncate(self._fd, 0)
        os.write(self._fd, f"{os.getpid()}\n".encode())
        return True

    def close(self) -> None:
        os.close(self._fd)


def _dead_owner(path: Path) -> bool:
    """Whether no process holds ``path`` locked (its writer ended)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


class HandoverReader:
    """The chunks waiting in a hand-over folder, oldest first."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.torn = Spool(folder / "chunks")  # its reader skips (and counts) torn lines
        self._orphans_at = 0.0  # when ``.open`` chunks were last tested

    def ready(self, orphans: bool = False) -> list[Path]:
        """Sealed chunks, and (every ``ORPHAN_EVERY_S``, or when ``orphans``) those
        of processes that died while writing them."""
        try:
            entries = sorted(os.scandir(self.folder), key=lambda e: e.name)
        except OSError:
            return []
        orphans = orphans or time.monotonic() - self._orphans_at >= ORPHAN_EVERY_S
        if orphans:
            self._orphans_at = time.monotonic()
        found = []
        for entry in entries:
            path = Path(entry.path)
            if entry.name.endswith(".rows"):
                found.append(path)
            elif orphans and entry.name.endswith(".open") and _dead_owner(path):
                found.append(path)
            elif orphans and entry.name.endswith(".new"):
                self._drop_stale(path)
        return found

    def _drop_stale(self, path: Path) -> None:
        with contextlib.suppress(OSError):
            if time.time() - path.stat().st_mtime > STALE_NEW_S and _dead_owner(path):
                path.unlink()  # never written to: it is renamed before its first row

    def take(self, size: int, orphans: bool = False) -> tuple[list[Path], list[Pair]]:
        """Whole chunks, oldest first, until ``size`` rows (at least one chunk)."""
        paths: list[Path] = []
        pairs: list[Pair] = []
        for path in self.ready(orphans):
            if pairs and len(pairs) >= size:
                break
            try:
                pairs.extend(pair for _, pair in self.torn.read(path))
            except FileNotFoundError:
                continue
            paths.append(path)
        return paths, pairs

    def pending(self) -> int:
        """Chunks waiting (for /metrics)."""
        try:
            return sum(1 for e in os.scandir(self.folder) if e.name.endswith((".rows", ".open")))
        except OSError:
            return 0

    def done(self, paths: Sequence[Path]) -> None:
        for path in paths:
            path.unlink(missing_ok=True)
        if paths:
            fsync_dir(self.folder)


def run_writer_process(
    store: Store,
    spool: Path,
    stop: threading.Event,
    *,
    fallback_dirs: Sequence[Path] | None = None,
    batch_size: int = 500,
    exit_retry_s: float = 5.0,
) -> bool:
    """Be the writer of the ledger whose spool is ``spool`` until ``stop`` is set;
    False when ``stop`` came before the lock did."""
    folder = handover_dir(spool)
    lock = WriterLock(folder)
    try:
        if not lock.take(stop):
            return False
        _log.info("ledger writer process %d writes %s", os.getpid(), folder)
        writer = LedgerWriter(
            store,
            spool,
            batch_size=batch_size,
            flush_interval=BATCH_WAIT_S,
            fallback_dirs=fallback_dirs,
        )
        try:
            _loop(writer, HandoverReader(folder), stop, batch_size)
        finally:
            writer.close(timeout=exit_retry_s)
            _publish(writer, HandoverReader(folder))
        return True
    finally:
        lock.close()


def drain_handover(store: Store, spool: Path) -> int | None:
    """Insert the chunks a ``writer: process`` run left behind (a start in thread
    mode does this, straight into ``store``: no spool of its own, so it never
    shares one; chunks the database refuses stay for the next start). None when
    a writer process holds the lock (it inserts them), else the rows drained."""
    folder = handover_dir(spool)
    if not folder.is_dir() or not HandoverReader(folder).ready(orphans=True):
        return 0
    lock = WriterLock(folder)
    try:
        if not lock.try_take():
            return None
        reader = HandoverReader(folder)
        drained = 0
        while True:
            paths, pairs = reader.take(500, orphans=True)
            if not paths:
                return drained
            try:
                store.insert_rows([row for row, _ in pairs], [b for _, b in pairs if b])
            except Exception as exc:  # noqa: BLE001 - any database failure: keep the chunks
                _log.error("cannot insert the calls left in %s yet: %s", folder, exc)
                return drained
            reader.done(paths)
            drained += len(pairs)
    finally:
        lock.close()


def _loop(writer: LedgerWriter, reader: HandoverReader, stop: threading.Event, size: int) -> None:
    published = 0.0
    while not stop.is_set():
        if time.monotonic() - published >= STATS_EVERY_S:
            _publish(writer, reader)
            published = time.monotonic()
        paths, pairs = reader.take(size)
        if not paths:
            stop.wait(POLL_S)
            continue
        writer.submit_pairs(pairs)
        while not writer.flush(timeout=STATS_EVERY_S):  # database and spool both refuse
            _publish(writer, reader)
            if stop.is_set():
                return  # its chunks stay: the next writer reads them again
        reader.done(paths)


def _publish(writer: LedgerWriter, reader: HandoverReader) -> None:
    """The figures for /metrics, replaced atomically."""
    data = asdict(writer.stats())
    data["handover_chunks"] = reader.pending()
    data["pid"] = os.getpid()
    path = reader.folder / STATS_FILE
    tmp = path.with_suffix(".tmp")
    try:
        tmp.write_text(json.dumps(data))
        os.replace(tmp, path)
    except OSError as exc:
        _log.warning("cannot write the ledger writer's figures to %s: %s", path, exc)
