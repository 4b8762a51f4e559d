"""One database call at a time, on a thread of its own, waited for with a timeout."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import NamedTuple

__all__ = ["DbThread", "Failure"]


class Failure(NamedTuple):
    reason: str
    permanent: bool  # the database refuses these rows; retrying them cannot help


def _refuses_content(exc: Exception) -> bool:
    """Whether ``exc`` is about the rows (bad data), not the database being away."""
    from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, StatementError

    if isinstance(exc, DataError | IntegrityError | UnicodeError):
        return True  # UnicodeError: a string no database encoding can hold
    return isinstance(exc, StatementError) and not isinstance(exc, DBAPIError)


class DbThread:
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

    def run(self, fn: Callable[[], None], timeout: float) -> Failure | None:
        """None when ``fn`` ran within ``timeout``; else why it did not."""
        if not self._idle.is_set():
            return Failure("the previous database call has not returned yet", False)
        future: Future[None] = Future()
        self._idle.clear()
        self._jobs.put((fn, future))
        try:
            future.result(timeout)
        except TimeoutError:
            return Failure(f"the database did not answer within {timeout:g} s", False)
        except Exception as exc:  # any driver or database error: the caller spools
            return Failure(f"{type(exc).__name__}: {exc}".strip(), _refuses_content(exc))
        return None

    def stop(self, timeout: float) -> None:
        self._jobs.put(None)
        self._thread.join(timeout)
