"""``llmtally serve --workers N``: N gateway processes answering on one port.

The parent binds the listening socket (``llmtally.gateway.listen``), starts the
local model servers once, then forks the workers before it starts any thread;
each worker builds its own gateway (app, ledger writer, key gate, budget gate,
dashboard) and serves on the inherited socket, and the kernel hands each new
connection to one of them. Budgets and the ledger are shared through the
database; alerts are evaluated by worker 0 only (claims in the ledger would keep
several evaluators from sending an alert twice; one spares the queries).

Each worker writes its own spool (``<spool>.w<i>``, its journal and fallback
files beside it), so two writers never share a file. Worker 0, or the only
process without ``--workers``, replays what earlier runs left under the spool
names no worker of this run uses (``Leftovers``).

SIGTERM or SIGINT to the parent is passed on to every worker as SIGTERM; each
finishes its requests in flight and drains its writer; the parent exits once
all have, 0 when every worker exited 0. A parent that dies (SIGKILL) has the
kernel send its workers SIGTERM (Linux), so none serves on alone. A worker that
ends while the parent is not stopping is reported on stderr and started again
with the same index (its spool is replayed by its successor); more than
``MAX_RESTARTS`` such ends within ``RESTART_WINDOW_S`` stop all workers and the
parent exits 1.

With ``ledger: {writer: process}`` the parent also forks the ledger's writer
process (``writer``) before the workers, and starts it again whenever it ends
while the parent is not stopping (its own restart count, same bound). When
stopping, the writer gets SIGTERM only once every worker has ended, so it
inserts what they handed over while draining.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    import socket

    from llmtally.ledger import Store

__all__ = [
    "MAX_WORKERS",
    "Leftovers",
    "Supervisor",
    "check_workers",
    "leftover_spools",
    "worker_spool",
]

MAX_WORKERS = 64
WRITER = -1  # the writer process's index among the children
WRITER_NAME = "llmtally-writer"  # its /proc/PID/comm (ps, top), so it can be told apart
MAX_RESTARTS = 5
RESTART_WINDOW_S = 60.0
POLL_S = 0.1
_SIGNALS = {signal.SIGTERM, signal.SIGINT}
_log = logging.getLogger(__name__)


def check_workers(count: int) -> None:
    """ValueError unless ``count`` is a number of workers ``llmtally serve`` runs."""
    if not 1 <= count <= MAX_WORKERS:
        raise ValueError(
            f"--workers {count}: give the number of gateway processes to run on the port, "
            f"from 1 to {MAX_WORKERS}"
        )


def worker_spool(spool: Path, worker: int | None) -> Path:
    """The spool of ``worker`` (``None``: the only process, which keeps ``spool``)."""
    return spool if worker is None else spool.with_name(f"{spool.name}.w{worker}")


def leftover_spools(spool: Path, own: Collection[Path], dirs: Sequence[Path]) -> list[Path]:
    """The spool names, other than ``own``, under which earlier runs left calls
    (a spool, its journal, a replay left unfinished or a fallback file)."""
    from llmtally.ledger.fallback import Fallback
    from llmtally.ledger.spool import Spool

    names = [spool, *(worker_spool(spool, i) for i in range(MAX_WORKERS))]
    return [
        path
        for path in names
        if path not in own
        and (
            Spool(path).pending()
            or Spool(path.with_name(path.name + ".journal")).pending()
            or bool(Fallback(path, dirs).found())
        )
    ]


class Leftovers:
    """Replays leftover spools into the ledger on a thread, one writer each,
    while the gateway serves; ``close`` waits for the one under way."""

    def __init__(
        self,
        store: Store,
        spools: Sequence[Path],
        dirs: Sequence[Path],
        handover: Path | None = None,
    ) -> None:
        self.store, self.spools, self.dirs = store, list(spools), list(dirs)
        self.handover = handover  # a spool whose ``writer: process`` hand-over to drain
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="llmtally-leftovers", daemon=True)

    def start(self) -> Leftovers:
        if self.spools or self.handover is not None:
            self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        from llmtally.ledger import LedgerWriter
        from llmtally.ledger.writer_process import drain_handover

        if self.handover is not None:
            drained = drain_handover(self.store, self.handover)
            if drained:
                _log.warning("inserted %d calls a writer process had not yet", drained)
        for path in self.spools:
            if self._stop.is_set():
                return
            writer = LedgerWriter(self.store, path, fallback_dirs=self.dirs)
            writer.close()  # it replays what is there when it starts, then stops
            replayed, left = writer.stats().replayed, writer.stats().spool_pending
            _log.warning(
                "replayed %d calls an earlier run left in %s%s",
                replayed,
                path,
                "; some are still there (the next start tries again)" if left else "",
            )


def _say(message: str) -> None:
    print(f"llmtally serve: {message}", file=sys.stderr, flush=True)


def _how(code: int) -> str:
    return f"killed by signal {-code}" if code < 0 else f"exit code {code}"


class Supervisor:
    """Forks ``count`` workers, each running ``serve(index)``, and watches them."""

    def __init__(
        self,
        count: int,
        serve: Callable[[int], None],
        listener: socket.socket | None,
        writer: Callable[[], None] | None = None,
    ) -> None:
        check_workers(count)
        self.count, self.serve, self.listener = count, serve, listener
        self.writer = writer
        self.pids: dict[int, int] = {}  # pid -> worker index (WRITER: the writer process)
        self.parent = os.getpid()
        self.code = 0
        self._stopping = False
        self._writer_told = False
        self._ends: dict[bool, list[float]] = {False: [], True: []}  # unexpected ends

    def run(self) -> int:
        """Start the workers and wait for them all to end; the exit code."""
        previous = {sig: signal.signal(sig, self._on_signal) for sig in _SIGNALS}
        try:
            if self.writer is not None:
                _say(f"ledger writer process pid {self._start(WRITER)}")
            for index in range(self.count):
                self._start(index)
            workers = [str(pid) for pid, index in self.pids.items() if index != WRITER]
            _say(f"{self.count} workers on one port (pids {', '.join(workers)})")
            while self.pids:
                time.sleep(POLL_S)
                self._reap()
                self._stop_writer_last()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return self.code

    def stop(self) -> None:
        """Ask every worker to finish (SIGTERM); no worker is started after this."""
        if self._stopping:
            return
        self._stopping = True
        if self.listener is not None:
            self.listener.close()  # the workers hold their own copies until they end
        for pid, index in self.pids.items():
            if index != WRITER:  # the writer drains what they hand over at their exit
                self._signal(pid)

    def _stop_writer_last(self) -> None:
        """Once stopping and every worker has ended: SIGTERM to the writer."""
        if not self._stopping or self._writer_told:
            return
        if all(index == WRITER for index in self.pids.values()):
            self._writer_told = True
            for pid in self.pids:
                self._signal(pid)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stop()

    def _signal(self, pid: int) -> None:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:  # ended already: reaped next
            pass

    def _start(self, index: int) -> int:
        sys.stdout.flush()  # or a worker would print the parent's buffered lines again
        sys.stderr.flush()
        # no signal between the fork and a worker's own handlers (it would run ours)
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
        try:
            pid = os.fork()
            if pid == 0:
                self._worker(index, mask)
            self.pids[pid] = index
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        if self._stopping and (index != WRITER or self._writer_told):
            self._signal(pid)  # the signal came while this one was being started
        return pid

    def _worker(self, index: int, mask: Collection[int]) -> NoReturn:
        code = 1
        try:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            _end_with_parent(self.parent)
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            if index == WRITER and self.writer is not None:
                _name_process(WRITER_NAME)
                self.writer()
            else:
                self.serve(index)
            code = 0
        except SystemExit as exc:
            code = _exit_code(exc.code)
        except BaseException:
            traceback.print_exc()
        finally:
            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)  # never the parent's exit handlers or finally blocks

    def _reap(self) -> None:
        for pid in list(self.pids):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                self._ended(pid, os.waitstatus_to_exitcode(status))

    def _ended(self, pid: int, code: int) -> None:
        index = self.pids.pop(pid)
        who = "the ledger writer" if index == WRITER else f"worker {index}"
        if self._stopping:
            if code != 0:
                _say(f"{who} (pid {pid}) ended with {_how(code)}")
                self.code = 1
            return
        now = time.monotonic()
        ends = [t for t in self._ends[index == WRITER] if now - t < RESTART_WINDOW_S] + [now]
        self._ends[index == WRITER] = ends
        if len(ends) > MAX_RESTARTS:
            _say(
                f"{who} (pid {pid}) ended unexpectedly ({_how(code)}); it ended "
                f"{len(ends)} times within {RESTART_WINDOW_S:.0f} s: stopping"
            )
            self.code = 1
            self.stop()
            return
        again = self._start(index)
        _say(
            f"{who} (pid {pid}) ended unexpectedly ({_how(code)}); started it again as pid {again}"
        )


def _end_with_parent(parent: int) -> None:
    """SIGTERM this worker when the parent dies (SIGKILL gives it no time to pass
    the signal on), so that it drains rather than serving on alone (Linux)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # it died before the line above
        os.kill(os.getpid(), signal.SIGTERM)


def _name_process(name: str) -> None:
    """The process's name as ps, top and /proc/PID/comm show it (Linux; 15 bytes)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_name = 15
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(pr_set_name, name.encode()[:15], 0, 0, 0)


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1
