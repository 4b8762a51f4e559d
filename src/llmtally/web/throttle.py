"""Failed admin-token attempts per client address: after ``limit`` failures in
``window_s`` seconds, every attempt from that address waits (429 with
``Retry-After``) until the oldest of them is older than the window.

A correct token is refused too while an address waits: otherwise a guesser
would still learn which guess was right. Memory is bounded: at most
``max_addresses`` addresses are remembered, the least recently failed dropped first.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

__all__ = ["LOGIN_LIMIT", "LOGIN_WINDOW_S", "LoginThrottle"]

LOGIN_LIMIT = 5
LOGIN_WINDOW_S = 60.0


class LoginThrottle:
    def __init__(
        self,
        limit: int = LOGIN_LIMIT,
        window_s: float = LOGIN_WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
        max_addresses: int = 10_000,
    ) -> None:
        self.limit, self.window_s, self.max_addresses = limit, window_s, max_addresses
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, address: str) -> int | None:
        """Whole seconds ``address`` must wait before its next attempt; None: go ahead."""
        with self._lock:
            failures = self._recent(address, self._clock())
            if failures is None or len(failures) < self.limit:
                return None
            return max(1, math.ceil(failures[0] + self.window_s - self._clock()))

    def failed(self, address: str) -> None:
        now = self._clock()
        with self._lock:
            failures = self._recent(address, now) or deque()
            failures.append(now)
            while len(failures) > self.limit:
                failures.popleft()
            self._failures[address] = failures
            self._failures.move_to_end(address)
            while len(self._failures) > self.max_addresses:
                self._failures.popitem(last=False)

    def succeeded(self, address: str) -> None:
        with self._lock:
            self._failures.pop(address, None)

    def _recent(self, address: str, now: float) -> deque[float] | None:
        """The address's failures within the window (forgotten when none is)."""
        failures = self._failures.get(address)
        if failures is None:
            return None
        while failures and failures[0] <= now - self.window_s:
            failures.popleft()
        if not failures:
            del self._failures[address]
            return None
        return failures
