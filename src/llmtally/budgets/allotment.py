"""Local allotments: budget reserved in the database ahead of the calls that use it.

A budgeted call used to pay a database transaction (and two thread hops) at
admission. Here each process keeps, per budget and window, a *spare*: an
amount it has already reserved in the shared counters (inside its hold row
and the counter's ``reserved``) but not yet given to any call. A call whose
every claim fits in its spares is admitted on the event loop, with no
database and no thread hop; otherwise its claims go to the database as
before, each asking for a *chunk* more (the top-up), which becomes spare.

Nothing can be overspent: a spare is reserved in the database, so the sum over
processes of spent + in flight + spare stays within every budget. The cost:
near a window's end a call may be refused while another process holds idle
spare (less than one chunk plus one call, for at most ``IDLE_S``). A chunk is
``min(CHUNK_CALLS x claim, SPARE_FRACTION x budget)`` and none at all when
that is less than one claim, so small budgets stay exact call by call. Only a
budget in use asks for chunks (one that went to the database within
``IDLE_S``): a lone call reserves exactly its claim. A
top-up the budget refuses marks it *tight* (no chunks for ``TIGHT_S`` or the
rest of its window); only one top-up per budget is in flight at a time, so
a burst cannot pile chunks up. Spares go back at close, when their window
ends, and after ``IDLE_S`` unused.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

from llmtally.budgets.counters import Claim, Settlement

__all__ = [
    "CHUNK_CALLS",
    "IDLE_S",
    "SMALL_BODY",
    "SPARE_FRACTION",
    "TIGHT_S",
    "Allotments",
    "Ask",
]

CHUNK_CALLS = 256  # a chunk holds at most this many calls like the one that asked
SPARE_FRACTION = Decimal("0.01")  # and at most this share of the budget
IDLE_S = 2.0  # a spare unused this long goes back
TIGHT_S = 10.0  # after a refused top-up: exact claims only, this long (or the window)
SMALL_BODY = 16 * 1024  # bodies up to this size are planned on the event loop

_ZERO = Decimal(0)
_Key = tuple[str, int]


def _key(claim: Claim) -> _Key:
    return claim.budget.id, claim.window


@dataclass(slots=True)
class _Spare:
    amount: Decimal
    end: dt.datetime | None  # the window's end
    used_at: float  # monotonic seconds: last taken from or topped up


@dataclass(frozen=True, slots=True)
class Ask:
    """A claim to reserve in the database, with the chunk asked on top of it."""

    claim: Claim
    chunk: Decimal

    @property
    def asked(self) -> Claim:
        return (
            self.claim
            if not self.chunk
            else replace(self.claim, amount=self.claim.amount + self.chunk)
        )


class Allotments:
    """One process's spares. Used from the event loop (take, ask, topped) and
    from the heartbeat thread (expired, drain): every method takes the lock."""

    def __init__(
        self, idle_s: float = IDLE_S, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.idle_s, self.monotonic = idle_s, monotonic
        self._lock = threading.Lock()
        self._spare: dict[_Key, _Spare] = {}
        self._tight: dict[_Key, float] = {}  # until (monotonic)
        self._pending: set[_Key] = set()  # a top-up in flight
        self._asked: dict[_Key, float] = {}  # last went to the database (monotonic)

    def take(self, claims: Sequence[Claim]) -> tuple[list[Claim], list[Claim]]:
        """Deduct from the spares each claim that fits in its own: (covered, the rest)."""
        covered: list[Claim] = []
        rest: list[Claim] = []
        now = self.monotonic()
        with self._lock:
            for claim in claims:
                spare = self._spare.get(_key(claim))
                if spare is not None and spare.amount >= claim.amount:
                    spare.amount -= claim.amount
                    spare.used_at = now
                    covered.append(claim)
                else:
                    rest.append(claim)
        return covered, rest

    def put_back(self, claims: Sequence[Claim]) -> None:
        """Claims taken from the spares for a call that was then refused: they are
        still reserved in the database, so they are spare again."""
        self._add([(c, c.amount) for c in claims])

    def ask(self, claims: Sequence[Claim]) -> list[Ask]:
        """The top-ups to ask with ``claims`` (chunk 0 where none applies)."""
        now = self.monotonic()
        asks: list[Ask] = []
        with self._lock:
            for claim in claims:
                key = _key(claim)
                warm = self._asked.get(key, -math.inf) > now - self.idle_s
                self._asked[key] = now
                chunk = min(CHUNK_CALLS * claim.amount, SPARE_FRACTION * claim.budget.amount)
                if (
                    not warm
                    or chunk < claim.amount
                    or key in self._pending
                    or self._tight.get(key, 0) > now
                ):
                    chunk = _ZERO
                else:
                    self._pending.add(key)
                asks.append(Ask(claim, chunk))
        return asks

    def topped(self, asks: Sequence[Ask], reserved: bool) -> None:
        """The top-ups of ``asks`` ended: their chunks are spare when ``reserved``."""
        with self._lock:
            for ask in asks:
                if ask.chunk:
                    self._pending.discard(_key(ask.claim))
        if reserved:
            self._add([(a.claim, a.chunk) for a in asks if a.chunk])

    def tight(self, claim: Claim) -> None:
        """No chunks for ``claim``'s budget and window for ``TIGHT_S``."""
        with self._lock:
            self._tight[_key(claim)] = self.monotonic() + TIGHT_S

    def _add(self, amounts: Sequence[tuple[Claim, Decimal]]) -> None:
        now = self.monotonic()
        with self._lock:
            for claim, amount in amounts:
                spare = self._spare.setdefault(_key(claim), _Spare(_ZERO, claim.end, now))
                spare.amount += amount
                spare.used_at = now

    def expired(self, now: dt.datetime) -> list[Settlement]:
        """Give back the spares whose window ended or that sat unused ``idle_s``."""
        moment = self.monotonic()
        idle_since = moment - self.idle_s
        with self._lock:
            gone = [
                key
                for key, spare in self._spare.items()
                if (spare.end is not None and spare.end <= now) or spare.used_at <= idle_since
            ]
            self._tight = {k: t for k, t in self._tight.items() if t > moment}
            self._asked = {k: t for k, t in self._asked.items() if t > idle_since}
            return self._pop(gone)

    def drain(self) -> list[Settlement]:
        """Give back every spare (the process is closing)."""
        with self._lock:
            return self._pop(list(self._spare))

    def spare(self, budget_id: str, window: int) -> Decimal:
        with self._lock:
            found = self._spare.get((budget_id, window))
            return _ZERO if found is None else found.amount

    def _pop(self, keys: Sequence[_Key]) -> list[Settlement]:
        back = [(key, self._spare.pop(key).amount) for key in keys]
        return [Settlement(b, w, amount, _ZERO) for (b, w), amount in back if amount]
