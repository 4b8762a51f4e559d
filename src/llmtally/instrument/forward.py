"""Instrumented calls sent to a running gateway (``POST /llmtally/v1/calls``), so
that many processes share one ledger without each holding a database connection.

``Forwarder.submit`` converts the call to its ledger row and puts it on a queue;
it never blocks and never raises into the application. One background thread
sends batches (``batch_size`` rows, or what arrived within ``interval``) with
the standard library's ``http.client``, gzip-compressed when large, as the
exact rows a local ledger would store (:mod:`llmtally.gateway.call_ingest`).

When the gateway cannot take them (no connection, a timeout, 5xx, 429), the
batch is appended to a spool file (JSONL, the ledger writer's format,
:mod:`llmtally.ledger.spool`) and the gateway is left alone for a backoff
(doubling to ``max_backoff``, or its ``Retry-After``); then the spool is sent
again, and batches go straight to the spool meanwhile. The spool of a process
that died is taken over and sent by the next process that forwards from the
same folder. The gateway stores rows by call id, so sending twice adds nothing.

Any other 4xx is a bug (a bad row, a wrong key): a refused batch is split to
find the rows the gateway refuses; those go to ``<spool>.rejected`` and are
counted in ``STATS`` (``forward_rejected``) and logged, never retried forever.
"""

from __future__ import annotations

import gzip
import http.client
import json
import logging
import os
import queue
import re
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from llmtally.instrument.record import STATS
from llmtally.ledger.batches import take_batch
from llmtally.ledger.rows import call_to_row, row_to_json
from llmtally.ledger.spool import Spool, pid_alive
from llmtally.usage import Call

__all__ = ["Forwarder", "default_spool"]

CALLS_PATH = "/llmtally/v1/calls"  # llmtally.gateway.call_ingest.CALLS_PATH
_GZIP_ABOVE = 16 * 1024  # bytes of JSON
_MAX_BATCH_BYTES = 3 * 1024 * 1024  # under the gateway's 4 MiB (CallLimits)
_FIRST_BACKOFF = 0.25  # seconds
_SPOOL = re.compile(r"forward-spool-(\d+)(?:\.adopted-(\d+))?\.jsonl")
_log = logging.getLogger("llmtally.instrument")

Row = dict[str, Any]  # a calls row (llmtally.ledger.rows.call_to_row)


class _Unavailable(Exception):
    """The gateway cannot take the batch now (retry later)."""

    def __init__(self, why: str, retry_after: float | None = None) -> None:
        super().__init__(why)
        self.retry_after = retry_after


class _Rejected(Exception):
    """The gateway refused the batch for what it holds (a 4xx other than 429)."""

    def __init__(self, status: int, why: str) -> None:
        super().__init__(f"the gateway refused forwarded calls: HTTP {status}: {why}")
        self.status = status


def default_spool() -> Path:
    from llmtally.config import data_home

    return data_home() / f"forward-spool-{os.getpid()}.jsonl"


def _claim(base: Path) -> list[Spool]:
    """The spool a dead forwarding process left (``base`` and its ``.replaying``
    part), renamed to ours: one process wins each file."""
    found = _SPOOL.fullmatch(base.name)
    if found is None or int(found[1]) == os.getpid() or pid_alive(int(found[1])):
        return []
    mine = base.with_name(f"forward-spool-{os.getpid()}.adopted-{found[2] or found[1]}.jsonl")
    taken = []
    for suffix in ("", ".replaying"):
        try:
            (base.with_name(base.name + suffix)).rename(mine.with_name(mine.name + suffix))
        except OSError:  # absent, or another process took it first
            continue
        taken.append(suffix)
    return [Spool(mine)] if taken else []


def _reason(body: bytes) -> str:
    try:
        message = json.loads(body)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = body[:200].decode("utf-8", "replace")
    return str(message)[:500]


class Forwarder:
    """Sends calls to the gateway at ``url`` with gateway key ``key`` (when it
    requires keys), spooling to ``spool_path`` while it cannot take them."""

    def __init__(
        self,
        url: str,
        key: str | None = None,
        spool_path: Path | None = None,
        *,
        batch_size: int = 500,
        interval: float = 0.2,
        timeout: float = 5.0,
        max_backoff: float = 10.0,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"the gateway URL must be http(s)://host[:port], got {url!r}")
        self._https, self._netloc = parts.scheme == "https", parts.netloc
        self._target = parts.path.rstrip("/") + CALLS_PATH
        self._headers = {"content-type": "application/json", "user-agent": "llmtally-forward"}
        if key:
            self._headers["authorization"] = f"Bearer {key}"
        path = spool_path or default_spool()
        self.spool = Spool(path)
        self.rejects = Spool(path.with_name(path.name + ".rejected"))
        self.batch_size, self.interval, self.timeout = batch_size, interval, timeout
        self.max_backoff = max_backoff
        self._adopted: list[Spool] = []
        self._replay_done: dict[Path, int] = {}  # lines of a file being replayed already sent
        self._conn: http.client.HTTPConnection | None = None
        self._queue: queue.SimpleQueue[Row] = queue.SimpleQueue()
        self._lock = threading.Condition()
        self.counts = dict.fromkeys(("submitted", "done", "sent", "spooled", "rejected"), 0)
        self.counts["lost"] = 0
        self._backoff, self._retry_at = _FIRST_BACKOFF, 0.0
        self._closed, self._give_up_at = False, float("inf")
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="llmtally-forward", daemon=True)
        self._thread.start()

    # -- the application's side (through the instrumentation's worker) --------------------
    def submit(self, call: Call) -> None:
        """Queue ``call`` for the gateway; returns at once."""
        row = call_to_row(call)
        with self._lock:
            if self._closed:
                raise RuntimeError("the forwarder is closed")
            self.counts["submitted"] += 1
        self._queue.put(row)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every call submitted so far is sent, spooled or set aside."""
        with self._lock:
            return self._lock.wait_for(
                lambda: self.counts["done"] >= self.counts["submitted"], timeout
            )

    def close(self, timeout: float = 10.0) -> bool:
        """Send what is queued (and the spool, if the gateway answers) within
        ``timeout`` seconds; what is left stays in the spool for the next start."""
        with self._lock:
            self._closed = True
        self._give_up_at = time.monotonic() + timeout
        self._stopping.set()
        self._thread.join(timeout + self.timeout + 5)
        if self._conn is not None:
            self._conn.close()
        return not self._thread.is_alive()

    # -- the background thread ---------------------------------------------------------
    def _run(self) -> None:
        self._adopt()
        while True:
            batch = self._next_batch()
            if batch:
                self._handle(batch)
            elif self._stopping.is_set() and self._queue.empty():
                break
            if self._ready() and self._pending():
                self._replay()
        if self._ready() and self._pending():
            self._replay()

    def _adopt(self) -> None:
        folder = self.spool.path.parent
        try:
            names = {p.name.removesuffix(".replaying") for p in folder.glob("forward-spool-*")}
            for name in sorted(names):
                self._adopted.extend(_claim(folder / name))
        except OSError:
            STATS.error("forward_adopt")

    def _next_batch(self) -> list[Row]:
        return take_batch(self._queue, self.batch_size, self.interval, self._stopping)

    def _handle(self, batch: list[Row]) -> None:
        left = batch
        try:
            if self._ready():
                left = self._deliver(batch)
        except Exception:  # never let the thread die: keep the rows
            STATS.error("forward")
        if left:
            self._keep(left)
        with self._lock:
            self.counts["done"] += len(batch)
            self._lock.notify_all()

    def _keep(self, rows: Sequence[Row]) -> None:
        try:
            self.spool.append([(row, None) for row in rows])
        except OSError:
            STATS.error("forward_spool")
            self._count("lost", len(rows))
            return
        self._count("spooled", len(rows))

    def _count(self, kind: str, n: int) -> None:
        with self._lock:
            self.counts[kind] += n

    def _ready(self) -> bool:
        now = time.monotonic()
        return now >= self._retry_at and now < self._give_up_at

    def _pending(self) -> bool:
        return self.spool.pending() or bool(self._adopted)

    # -- sending ---------------------------------------------------------------------
    def _deliver(self, rows: list[Row]) -> list[Row]:
        """Send ``rows``; the ones the gateway could not take now (to keep). A batch
        it refuses for its content is split until the refused rows are alone."""
        body = _encode(rows)
        try:
            if len(rows) > 1 and len(body) > _MAX_BATCH_BYTES:
                raise _Rejected(413, "too large to send whole")
            self._post(body)
        except _Unavailable as exc:
            self._down(exc)
            return rows
        except _Rejected as exc:
            if len(rows) == 1 or exc.status not in (400, 413):
                self._reject(rows, exc)
                return []
            half = len(rows) // 2
            left = self._deliver(rows[:half])
            return left + rows[half:] if left else self._deliver(rows[half:])
        self._up(len(rows))
        return []

    def _post(self, body: bytes) -> None:
        headers = dict(self._headers)
        if len(body) > _GZIP_ABOVE:
            body, headers["content-encoding"] = gzip.compress(body, 5), "gzip"
        try:
            conn = self._connection()
            conn.request("POST", self._target, body, headers)
            response = conn.getresponse()
            answer = response.read(64 * 1024)
        except (OSError, http.client.HTTPException) as exc:
            self._drop_connection()
            raise _Unavailable(f"{type(exc).__name__}: {exc}") from exc
        if response.status == 200:
            return
        self._drop_connection()  # its body may not have been read to the end
        if response.status == 429 or response.status >= 500:
            raise _Unavailable(
                f"HTTP {response.status}", _seconds(response.getheader("retry-after"))
            )
        raise _Rejected(response.status, _reason(answer))

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            timeout = max(0.5, min(self.timeout, self._give_up_at - time.monotonic()))
            kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._conn = kind(self._netloc, timeout=timeout)
        return self._conn

    def _drop_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _up(self, sent: int) -> None:
        if self._retry_at:
            _log.warning("llmtally forwarding: the gateway takes calls again")
        self._backoff, self._retry_at = _FIRST_BACKOFF, 0.0
        self._count("sent", sent)

    def _down(self, exc: _Unavailable) -> None:
        if not self._retry_at:
            _log.warning("llmtally forwarding: the gateway is unavailable, spooling: %s", exc)
        wait = max(self._backoff, min(exc.retry_after or 0.0, 60.0))
        self._backoff = min(self._backoff * 2, self.max_backoff)
        self._retry_at = time.monotonic() + wait

    def _reject(self, rows: Sequence[Row], why: _Rejected) -> None:
        # logged once per refused batch, with the gateway's reason (no traceback), and counted
        kept = f"{len(rows)} forwarded calls kept in {self.rejects.path}"
        STATS.error("forward_rejected", f"{why}; {kept}")
        try:
            self.rejects.append([(row, None) for row in rows])
        except OSError:
            STATS.error("forward_spool")
            self._count("lost", len(rows))
        self._count("rejected", len(rows))

    # -- the spool -------------------------------------------------------------------
    def _replay(self) -> None:
        """Send the spooled rows (ours, then adopted files), chunk by chunk; stop at
        the first chunk the gateway cannot take (resumed after the last one sent)."""
        for spool in [self.spool, *self._adopted]:
            path = spool.start_replay()
            if path is not None:
                if not self._replay_file(spool, path):
                    return
                spool.finish_replay()
                self._replay_done.pop(path, None)
            if spool is not self.spool:
                self._adopted.remove(spool)

    def _replay_file(self, spool: Spool, path: Path) -> bool:
        done = self._replay_done.get(path, 0)
        chunks = spool.chunks(path, self.batch_size, skip=done)
        return all(self._replay_chunk(path, [row for row, _ in c], last) for c, last in chunks)

    def _replay_chunk(self, path: Path, chunk: list[Row], last_line: int) -> bool:
        if not self._ready() or self._deliver(chunk):
            return False
        self._replay_done[path] = last_line + 1
        return True


def _encode(rows: Sequence[Row]) -> bytes:
    document = {"calls": [row_to_json(row) for row in rows]}
    return json.dumps(document, separators=(",", ":")).encode()


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None
