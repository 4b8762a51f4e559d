"""Budgets and rate limits on the request path: reserve, then settle.

At admission every budget that covers the call (its key, the key's team, its
user, feature and tags) reserves the call's worst case (dollars, tokens, one
request) in the shared counters, all or none. A claim that fits in this
process's spare for its budget (reserved in the counters ahead of the calls,
``llmtally.budgets.allotment``) is admitted on the event loop at once; the
others are reserved, each with a top-up for the spare, together with every
call waiting on one thread (``llmtally.budgets.batcher``), so the event loop
never waits on the database. The worst case of a large body is worked out on a
small thread pool. When the call is recorded, its reservation is settled
to what it cost, in batches on one thread. Dollar budgets count USD, the
ledger's pivot: a call priced in another currency (CNY) is reserved and settled
in USD at the rate of its UTC day (``llmtally.currency.pivot``), as the ledger
stores it; with no rate for that day it cannot be bounded, so a dollar budget
refuses it, and one admitted before its rate went missing keeps its
reservation. A heartbeat thread renews this
process's lease, sweeps the holders that stopped and reloads the budgets.

When the counters cannot be reached, a budgeted call is refused with a 503
(``on_store_down: refuse``, the default) or let through marked
``budget_unchecked`` (``allow``); never silently unlimited.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import math
import os
import queue
import socket
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Literal

from sqlalchemy.exc import SQLAlchemyError

from llmtally.budgets.allotment import IDLE_S, SMALL_BODY, Allotments, Ask
from llmtally.budgets.batcher import ReserveBatcher
from llmtally.budgets.book import BudgetBook
from llmtally.budgets.counters import BudgetCounters, Claim, Refusal, Settlement
from llmtally.budgets.rules import Budget, Subject, window_of
from llmtally.budgets.worst_case import Call as Request
from llmtally.budgets.worst_case import WorstCase, worst_case
from llmtally.currency.pivot import PIVOT, usd_amount
from llmtally.gateway.config import Upstream
from llmtally.gateway.keys import Denied
from llmtally.gateway.recording import Exchange, attribution
from llmtally.ledger.schema import check_fixed
from llmtally.meter import decimal_text
from llmtally.usage import Call, new_ulid

if TYPE_CHECKING:
    from llmtally.catalog import Catalog
    from llmtally.ledger.store import Store

__all__ = ["BUDGET_UNCHECKED", "BudgetGate", "Hold", "OnStoreDown"]

BUDGET_UNCHECKED = "budget_unchecked"  # the call's flag when the counters were down

OnStoreDown = Literal["refuse", "allow"]
_log = logging.getLogger("llmtally.budgets")
_DOWN = (SQLAlchemyError, OSError)
_BATCH = 500
_BATCH_WAIT_S = 0.02
_STORE_DOWN_RETRY_S = 5


@dataclass(slots=True)
class Hold:
    """A call's reservation, settled once when the call is recorded."""

    gate: BudgetGate
    claims: tuple[Claim, ...]
    unchecked: bool = False  # the store was down and the config lets calls through
    settled: bool = field(default=False)
    recorded: bool = field(default=False)  # handed to be recorded, which settles it

    def settle(self, call: Call) -> None:
        if not self.settled:
            self.settled = True
            self.gate.settle(self, call)

    def release_unless_recorded(self) -> None:
        """Give the reservation back if the call will not be recorded (the
        request ended some other way), so none is ever left held."""
        if not (self.recorded or self.settled):
            self.settled = True
            self.gate.release(self.claims)


def _shown(metric: str, amount: Decimal) -> str:
    """An amount in a refusal: exact dollars (cents at least), or a whole count."""
    if metric != "usd":
        return f"{amount:,.0f}"
    text = decimal_text(amount)
    whole, _, cents = text.partition(".")
    return f"${whole}.{cents.ljust(2, '0')}"


def _actual(claim: Claim, call: Call) -> Decimal:
    """What the recorded call used of ``claim``'s metric."""
    metric = claim.budget.metric
    if metric == "requests":
        return Decimal(1)
    if metric == "tokens":
        return Decimal(call.usage.input_tokens + call.usage.output_tokens)
    cost = call.cost
    if cost is not None:
        if cost.price.currency == PIVOT:
            return cost.total
        return _in_usd(claim, call, cost.total, cost.price.currency)
    # not priced: a failed call billed nothing; an answered one keeps its reservation
    return Decimal(0) if call.status >= 400 else claim.amount


def _in_usd(claim: Claim, call: Call, amount: Decimal, billed: str) -> Decimal:
    """A call billed in another currency, in USD as the ledger stores it (the
    rate of its UTC day, the ledger's 10 places); with no rate it keeps its
    reservation (never counted as free)."""
    usd = usd_amount(amount, billed, call.started_at)
    return claim.amount if usd is None else check_fixed(usd)


def _asked_for(asks: Sequence[Ask], refused: Claim) -> Ask:
    """The ask whose budget and window a refusal names."""
    key = (refused.budget.id, refused.window)
    return next(a for a in asks if (a.claim.budget.id, a.claim.window) == key)


class BudgetGate:
    def __init__(
        self,
        store: Store,
        catalog: Catalog,
        *,
        lease_s: float = 30.0,
        refresh_s: float = 1.0,
        on_store_down: OnStoreDown = "refuse",
        clock: Callable[[], dt.datetime] | None = None,
        threads: int = 4,
        idle_s: float = IDLE_S,
    ) -> None:
        self.book, self.catalog = BudgetBook(store), catalog
        self.counters = BudgetCounters(store, clock)
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.lease_s, self.refresh_s, self.on_store_down = lease_s, refresh_s, on_store_down
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{new_ulid()}"
        self.budgets: tuple[Budget, ...] = ()
        self.teams: dict[str, str] = {}
        self._registered = False  # the first heartbeat registers this holder
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="llmtally-budget")
        self._batcher = ReserveBatcher(self.counters, self.holder)
        self.allotments = Allotments(idle_s)
        self._settle_queue: queue.SimpleQueue[list[Settlement] | None] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- admission ---------------------------------------------------------
    def covering(self, who: Subject) -> list[Budget]:
        return [b for b in self.budgets if b.covers(who)]

    def team_of(self, key_id: str | None) -> str | None:
        return None if key_id is None else self.teams.get(key_id)

    async def reserve_for(
        self, ex: Exchange, upstream: Upstream, size: int
    ) -> Hold | Denied | None:
        """Reserve the gateway call ``ex`` (its raw body ``size`` bytes) in every
        budget that covers it; a call let through unchecked is flagged so. With no
        budget in force (as last loaded) it answers None before reading the call, as
        ``reserve`` would: one added later holds from the next refresh on, as before."""
        if not self.budgets:
            return None
        who = attribution(ex.headers, ex.request_json)
        subject = Subject(
            key_id=ex.key_id,
            team=self.team_of(ex.key_id),
            user=who["user"],
            feature=who["feature"],
            tags=who["tags"],
        )
        request = Request(
            wire=ex.wire,
            provider=ex.provider,
            model=ex.model_requested,
            request=ex.request_json,
            raw_size=size,
            usd_per_hour=upstream.usd_per_hour,
            timeout_s=upstream.timeout_s,
            started_at=ex.started_at,
        )
        held = await self.reserve(subject, request)
        if isinstance(held, Hold) and held.unchecked:
            ex.flags.append(BUDGET_UNCHECKED)
        return held

    async def reserve(self, who: Subject, request: Request) -> Hold | Denied | None:
        """Reserve the call's worst case in every budget that covers it (None:
        none does), or the refusal in the client's shape."""
        budgets = self.covering(who)
        if not budgets:
            return None
        if request.raw_size <= SMALL_BODY:  # cheap to count: no thread hop
            planned = self._plan(budgets, request)
        else:
            loop = asyncio.get_running_loop()
            planned = await loop.run_in_executor(self._pool, self._plan, budgets, request)
        if isinstance(planned, Denied):
            return planned
        claims, bound, now = planned
        covered, rest = self.allotments.take(claims)
        if rest:
            try:
                refusal = await self._reserve_rest(rest)
            except _DOWN as exc:
                self.allotments.put_back(covered)
                return self._store_down(exc)
            except BaseException:
                self.allotments.put_back(covered)
                raise
            if refusal is not None:
                self.allotments.put_back(covered)
                return self._refuse(refusal, bound, now)
        return Hold(self, tuple(claims))

    async def _reserve_rest(self, rest: list[Claim]) -> Refusal | None:
        """Reserve the claims the spares do not cover, each with its top-up; a
        refused top-up marks its budget tight and is tried again exactly (unless
        the refusal's own figures show the exact claim cannot fit either)."""
        asks = self.allotments.ask(rest)
        reserved = False
        try:
            refusal = await self._submit([ask.asked for ask in asks])
            reserved = refusal is None
        finally:
            self.allotments.topped(asks, reserved)
        if refusal is None:
            return None
        refused = _asked_for(asks, refusal.claim)
        if not refused.chunk:
            return Refusal(refused.claim, refusal.spent, refusal.reserved)
        self.allotments.tight(refused.claim)
        if refusal.spent + refusal.reserved + refused.claim.amount > refused.claim.budget.amount:
            return Refusal(refused.claim, refusal.spent, refusal.reserved)
        return await self._submit(rest)

    async def _submit(self, claims: list[Claim]) -> Refusal | None:
        future = self._batcher.submit(claims)
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:  # reserved all the same? give it back
            future.add_done_callback(lambda done: self._orphaned(done, claims))
            raise

    def _plan(
        self, budgets: list[Budget], request: Request
    ) -> tuple[list[Claim], WorstCase | None, dt.datetime] | Denied:
        """Each budget's claim on the call's worst case, or why it has none."""
        now = self.clock()
        needs_bound = any(b.metric != "requests" for b in budgets)
        bound = worst_case(request, self.catalog, now) if needs_bound else None
        claims: list[Claim] = []
        for budget in budgets:
            amount = self._amount(budget, bound)
            if amount is None:
                assert bound is not None
                return Denied(
                    403,
                    f"{budget.describe()} cannot hold a call to {request.model} whose cost "
                    f"cannot be bounded ({bound.why}); {bound.fix}",
                    code="budget_unbounded",
                )
            start, end = window_of(budget.period, now)
            claims.append(Claim(budget, start, end, amount))
        return claims, bound, now

    def _orphaned(self, done: Future[Refusal | None], claims: list[Claim]) -> None:
        """A reservation whose caller went away before hearing of it: released."""
        if not done.cancelled() and done.exception() is None and done.result() is None:
            self.release(claims)

    def release(self, claims: Sequence[Claim]) -> None:
        """Give reservations back unspent (queued with the settlements)."""
        zero = Decimal(0)
        self._settle_queue.put([Settlement(c.budget.id, c.window, c.amount, zero) for c in claims])

    @staticmethod
    def _amount(budget: Budget, bound: WorstCase | None) -> Decimal | None:
        if budget.metric == "requests":
            return Decimal(1)
        assert bound is not None
        if budget.metric == "tokens":
            return Decimal(bound.tokens)
        return bound.usd

    def _store_down(self, exc: BaseException) -> Hold | Denied:
        why = str(getattr(exc, "orig", None) or exc).splitlines()[0][:200]
        _log.warning("budgets: the counters cannot be reached: %s: %s", type(exc).__name__, why)
        if self.on_store_down == "allow":
            return Hold(self, (), unchecked=True)
        return Denied(
            503,
            "the budget store cannot be reached, so budgeted calls are refused "
            "(budgets.on_store_down: refuse)",
            code="budget_store_unavailable",
            retry_after=_STORE_DOWN_RETRY_S,
        )

    def _refuse(self, refusal: Refusal, bound: WorstCase | None, now: dt.datetime) -> Denied:
        claim, budget = refusal.claim, refusal.claim.budget
        show = functools.partial(_shown, budget.metric)
        why = f" ({bound.why})" if budget.metric != "requests" and bound is not None else ""
        if claim.amount > budget.amount:  # waiting cannot help: no Retry-After
            return Denied(
                403,
                f"{budget.describe()} is {show(budget.amount)}, and this call alone may use "
                f"{show(claim.amount)}{why}: it can never fit; ask for fewer output tokens",
                code="exceeds_budget",
            )
        message = (
            f"{budget.describe()} is {show(budget.amount)}: {show(refusal.spent)} spent and "
            f"{show(refusal.reserved)} reserved by calls in flight, and this call may use "
            f"{show(claim.amount)}{why}"
        )
        wait = None if claim.end is None else math.ceil((claim.end - now).total_seconds())
        if claim.end is not None:
            message += f"; the window renews at {claim.end:%Y-%m-%d %H:%M:%S} UTC"
        code = "insufficient_quota" if budget.metric == "usd" else "rate_limit_exceeded"
        return Denied(429, message, code=code, retry_after=max(wait, 1) if wait else None)

    # -- settlement ----------------------------------------------------------
    def settle(self, hold: Hold, call: Call) -> None:
        """Queue the settlement of ``hold`` at ``call``'s real use; returns at once."""
        items = [Settlement(c.budget.id, c.window, c.amount, _actual(c, call)) for c in hold.claims]
        if items:
            self._settle_queue.put(items)

    def _settle_loop(self) -> None:
        pending: list[Settlement] = []
        done = False
        while not done:
            done = self._gather(pending)
            if pending:
                try:
                    self.counters.settle(self.holder, pending)
                    pending = []
                except _DOWN as exc:
                    _log.warning("budgets: settling %d failed, retrying: %s", len(pending), exc)
                    if done:
                        _log.error("budgets: %d settlements could not be written", len(pending))
                    else:
                        self._stop.wait(1.0)

    def _gather(self, pending: list[Settlement]) -> bool:
        """Add the queued settlements to ``pending`` (a batch); True at the end."""
        try:
            first = self._settle_queue.get(timeout=None if not pending else _BATCH_WAIT_S)
        except queue.Empty:
            return False
        if first is None:
            return True
        pending.extend(first)
        while len(pending) < _BATCH:
            try:
                more = self._settle_queue.get(timeout=_BATCH_WAIT_S)
            except queue.Empty:
                return False
            if more is None:
                return True
            pending.extend(more)
        return False

    # -- the background ------------------------------------------------------
    def refresh(self) -> None:
        """Reload the budgets and teams; renew this process's lease; sweep the
        leases of processes that stopped."""
        self.budgets = tuple(self.book.all())
        self.teams = self.book.teams()
        if not self.counters.heartbeat(self.holder) and self._registered:
            self.allotments.drain()  # released with the holds: no longer reserved
            _log.error(
                "budgets: this process's reservations were released while it ran (its "
                "heartbeat was over budgets.lease_s late): budgets may be passed by what "
                "it had in flight; raise budgets.lease_s"
            )
        self._registered = True
        for holder in self.counters.sweep(self.lease_s):
            _log.warning("budgets: released the reservations of %s (it stopped)", holder)

    def start(self) -> BudgetGate:
        self.refresh()
        self._stop.clear()
        self._batcher.start()
        for target, name in (
            (self._run, "llmtally-budgets"),
            (self._settle_loop, "llmtally-settle"),
        ):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.refresh_s):
            try:
                self.refresh()
            except _DOWN as exc:
                _log.warning("budgets: refresh failed, keeping the last state: %s", exc)
            self._give_back(self.allotments.expired(self.clock()))

    def _give_back(self, spares: list[Settlement]) -> None:
        """Return spares to the counters, with the settlements."""
        if spares:
            self._settle_queue.put(spares)

    def close(self) -> None:
        """Settle everything queued, then give back what this process holds."""
        self._pool.shutdown(wait=True)
        self._batcher.close()
        self._give_back(self.allotments.drain())
        if self._batcher.batches:
            _log.info(
                "budgets: %d reservations made in %d transactions",
                self._batcher.calls,
                self._batcher.batches,
            )
        self._settle_queue.put(None)
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
        self._threads = []
        try:
            self.counters.release(self.holder)
        except _DOWN as exc:
            _log.warning(
                "budgets: could not release this process's holds (the lease will): %s", exc
            )
