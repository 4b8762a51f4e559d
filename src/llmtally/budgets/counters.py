"""Budget counters in the ledger database: reserve, settle, and leases.

Every gateway process on every machine that shares the database sees one
counter per budget and window. Admission is one conditional UPDATE per
budget (``reserved += x`` only where ``spent + reserved + x <= amount``) in a
transaction that also records what this process holds; if any budget would
be passed, the transaction rolls back and nothing is reserved. PostgreSQL
re-checks the condition on the newest row version when two processes race
(row locks, READ COMMITTED); SQLite's ``BEGIN IMMEDIATE`` serialises writers
across processes. Budgets are taken in a fixed order, and every transaction
locks a hold row before its counter, so reserving, settling and sweeping
never deadlock one another.

Settling moves a call's reservation into ``spent`` at what the call cost.
Each process is a holder with a heartbeat; when its process is gone from this
machine, or (on another machine) its heartbeat is older than the lease (it
crashed, or was SIGKILLed), any process sweeps it and releases what it held
(``llmtally.budgets.liveness``). A counter is created the first time its window
is used, starting from what the ledger already holds for that scope and
window (a budget added mid-month counts the month so far).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, select, update

from llmtally.analytics.filters import CallFilter
from llmtally.budgets.liveness import Process, this_process
from llmtally.budgets.rules import Budget, window_key, window_of
from llmtally.ledger.budget_tables import budget_counters, budget_holders, budget_holds
from llmtally.ledger.driver import dialect_insert
from llmtally.ledger.schema import Fixed, calls, gateway_keys
from llmtally.ledger.store import Store

__all__ = ["BudgetCounters", "Claim", "Refusal", "Settlement"]

_ZERO = Decimal(0)
_C, _H = budget_counters.c, budget_holds.c


def _fixed(name: str, value: Decimal) -> Any:
    return bindparam(name, value, type_=Fixed())


@dataclass(frozen=True, slots=True)
class Claim:
    """One budget's share of a reservation: ``amount`` of its metric in the
    window that starts at ``start``."""

    budget: Budget
    start: dt.datetime
    end: dt.datetime | None
    amount: Decimal

    @property
    def window(self) -> int:
        return window_key(self.start)


@dataclass(frozen=True, slots=True)
class Refusal:
    """The budget that would be passed, with its counter when asked."""

    claim: Claim
    spent: Decimal
    reserved: Decimal


@dataclass(frozen=True, slots=True)
class Settlement:
    """A finished call's share of one budget: release ``reserved``, spend ``actual``."""

    budget_id: str
    window: int
    reserved: Decimal
    actual: Decimal


class BudgetCounters:
    """The counters of one ledger ``Store`` (SQLite or PostgreSQL)."""

    def __init__(self, store: Store, clock: Callable[[], dt.datetime] | None = None) -> None:
        self.store = store
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))

    def _write(self) -> Connection:
        return self.store.engine.connect().execution_options(llmtally_write=True)

    # -- admission ---------------------------------------------------------
    def reserve(self, holder: str, claims: Sequence[Claim]) -> Refusal | None:
        """Reserve every claim, or none: the first budget that would be passed."""
        return self.reserve_many(holder, [claims])[0]

    def reserve_many(self, holder: str, calls: Sequence[Sequence[Claim]]) -> list[Refusal | None]:
        """Reserve each call's claims, all or none per call, first come first
        served, in one transaction (one commit for the lot); each call's refusal
        or None. Hold rows are locked before counters, as settle and sweep do."""
        refused: list[Refusal | None] = [None] * len(calls)
        by_key: dict[tuple[str, int], list[tuple[int, Claim]]] = {}
        for i, claims in enumerate(calls):
            for claim in claims:
                by_key.setdefault((claim.budget.id, claim.window), []).append((i, claim))
        keys = sorted(by_key)
        with self._write() as conn, conn.begin():
            for key in keys:
                self._hold(conn, holder, *key, sum((c.amount for _, c in by_key[key]), _ZERO))
            taken: dict[int, list[Claim]] = {}
            for key in keys:
                live = [(i, c) for i, c in by_key[key] if refused[i] is None]
                if live and self._take(conn, live[0][1], sum((c.amount for _, c in live), _ZERO)):
                    for i, claim in live:
                        taken.setdefault(i, []).append(claim)
                    continue
                for i, claim in live:  # not all fit: one by one, in arrival order
                    if self._take(conn, claim, claim.amount):
                        taken.setdefault(i, []).append(claim)
                        continue
                    refused[i] = self._refusal(conn, claim)
                    for earlier in taken.pop(i, []):
                        self._untake(conn, earlier)
            self._unhold_refused(conn, holder, calls, refused)
        return refused

    def _unhold_refused(
        self,
        conn: Connection,
        holder: str,
        calls: Sequence[Sequence[Claim]],
        refused: Sequence[Refusal | None],
    ) -> None:
        back: dict[tuple[str, int], Decimal] = {}
        for claims, refusal in zip(calls, refused, strict=True):
            for claim in claims if refusal is not None else ():
                key = (claim.budget.id, claim.window)
                back[key] = back.get(key, _ZERO) + claim.amount
        for key, amount in sorted(back.items()):
            self._hold(conn, holder, *key, -amount)

    def _take(self, conn: Connection, claim: Claim, amount: Decimal) -> bool:
        """Add ``amount`` to the reserved of ``claim``'s counter if it fits."""
        stmt = (
            update(budget_counters)
            .where(_C.budget_id == claim.budget.id, _C.window == claim.window)
            .where(
                _C.spent + _C.reserved + _fixed("amount", amount)
                <= _fixed("cap", claim.budget.amount)
            )
            .values(reserved=_C.reserved + _fixed("more", amount))
        )
        if conn.execute(stmt).rowcount == 1:
            return True
        # No row matched: it does not fit, or the counter did not exist when the
        # UPDATE began (maybe another process has created it since). A row read
        # now that shows no room settles it; otherwise a second UPDATE (a new
        # snapshot) tells which.
        found = self._counter(conn, claim)
        if found is None:
            self._create(conn, claim)
        elif sum(found, amount) > claim.budget.amount:
            return False
        return conn.execute(stmt).rowcount == 1

    @staticmethod
    def _untake(conn: Connection, claim: Claim) -> None:
        conn.execute(
            update(budget_counters)
            .where(_C.budget_id == claim.budget.id, _C.window == claim.window)
            .values(reserved=_C.reserved - _fixed("less", claim.amount))
        )

    def _counter(self, conn: Connection, claim: Claim) -> tuple[Decimal, Decimal] | None:
        row = conn.execute(
            select(_C.spent, _C.reserved).where(
                _C.budget_id == claim.budget.id, _C.window == claim.window
            )
        ).first()
        return None if row is None else (row.spent, row.reserved)

    def _create(self, conn: Connection, claim: Claim) -> None:
        spent = seed(conn, claim.budget, claim.start, claim.end)
        values = {"budget_id": claim.budget.id, "window": claim.window}
        stmt = dialect_insert(self.store.dialect, budget_counters).values(
            **values, spent=spent, reserved=_ZERO
        )
        conn.execute(stmt.on_conflict_do_nothing(index_elements=["budget_id", "window"]))

    def _refusal(self, conn: Connection, claim: Claim) -> Refusal:
        spent, reserved = self._counter(conn, claim) or (_ZERO, _ZERO)
        return Refusal(claim, spent, reserved)

    def _hold(
        self, conn: Connection, holder: str, budget_id: str, window: int, amount: Decimal
    ) -> None:
        row = {"holder_id": holder, "budget_id": budget_id, "window": window, "amount": amount}
        stmt = dialect_insert(self.store.dialect, budget_holds).values(**row)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["holder_id", "budget_id", "window"],
                set_={"amount": budget_holds.c.amount + _fixed("more", amount)},
            )
        )

    # -- completion --------------------------------------------------------
    def settle(self, holder: str, items: Iterable[Settlement]) -> None:
        """Move reservations into spend, in one transaction. A reservation this
        holder no longer has (swept while it was stalled) is not released twice."""
        merged: dict[tuple[str, int], tuple[Decimal, Decimal]] = {}
        for item in items:
            reserved, actual = merged.get((item.budget_id, item.window), (_ZERO, _ZERO))
            merged[item.budget_id, item.window] = (reserved + item.reserved, actual + item.actual)
        if not merged:
            return
        with self._write() as conn, conn.begin():
            ordered = sorted(merged.items())
            released = [  # hold rows first, then counters: the order reserve locks in
                reserved if self._unhold(conn, holder, budget_id, window, reserved) else _ZERO
                for (budget_id, window), (reserved, _) in ordered
            ]
            for ((budget_id, window), (_, actual)), free in zip(ordered, released, strict=True):
                conn.execute(
                    update(budget_counters)
                    .where(_C.budget_id == budget_id, _C.window == window)
                    .values(
                        spent=_C.spent + _fixed("actual", actual),
                        reserved=_C.reserved - _fixed("released", free),
                    )
                )

    @staticmethod
    def _unhold(
        conn: Connection, holder: str, budget_id: str, window: int, amount: Decimal
    ) -> bool:
        if amount == 0:
            return True
        stmt = (
            update(budget_holds)
            .where(_H.holder_id == holder, _H.budget_id == budget_id, _H.window == window)
            .where(_H.amount >= _fixed("least", amount))
            .values(amount=_H.amount - _fixed("less", amount))
        )
        return bool(conn.execute(stmt).rowcount == 1)

    # -- leases ------------------------------------------------------------
    def heartbeat(self, holder: str, process: Process | None = None) -> bool:
        """Renew ``holder``'s lease and drop its emptied holds; False when it had
        been swept (it is registered again, from ``process``)."""
        now = self.clock()
        where = process or this_process()
        with self._write() as conn, conn.begin():
            renewed = conn.execute(
                update(budget_holders).where(budget_holders.c.id == holder).values(heartbeat_at=now)
            ).rowcount
            if renewed == 0:
                conn.execute(
                    budget_holders.insert().values(
                        id=holder,
                        started_at=now,
                        heartbeat_at=now,
                        machine=where.machine,
                        pid=where.pid,
                        pid_started=where.started,
                    )
                )
            conn.execute(delete(budget_holds).where(_H.holder_id == holder, _H.amount == 0))
        return renewed == 1

    def sweep(self, lease_s: float, here: Process | None = None) -> list[str]:
        """Release what dead holders held; the holders swept. A holder on this
        machine is dead when its process is; elsewhere, when silent for over
        ``lease_s`` seconds (or, on this machine, ten leases: a stuck process).
        Safe from several processes at once: the holder row's delete is the claim."""
        here = here or this_process()
        now = self.clock()
        with self.store.engine.connect() as conn:
            rows = conn.execute(select(budget_holders)).all()
        swept = []
        for row in rows:
            process = Process(row.machine, row.pid or 0, row.pid_started)
            alive = process.alive(here)
            silent = (now - _aware(row.heartbeat_at)).total_seconds()
            dead = alive is False or silent > lease_s * (10 if alive else 1)
            if dead and self._release(row.id, row.heartbeat_at):
                swept.append(row.id)
        return swept

    def release(self, holder: str) -> None:
        """Give back everything ``holder`` holds (a process shutting down)."""
        self._release(holder, None)

    def _release(self, holder: str, beat: dt.datetime | None) -> bool:
        """Release ``holder`` (only if its heartbeat is still ``beat``, when given)."""
        with self._write() as conn, conn.begin():
            claim = delete(budget_holders).where(budget_holders.c.id == holder)
            if beat is not None:
                claim = claim.where(budget_holders.c.heartbeat_at <= beat)
            if conn.execute(claim).rowcount == 0 and beat is not None:
                return False
            # the hold rows first, then the counters: the order reserve and settle lock in
            holds = conn.execute(
                delete(budget_holds)
                .where(_H.holder_id == holder)
                .returning(_H.budget_id, _H.window, _H.amount)
            ).all()
            for budget_id, window, amount in sorted(holds):
                conn.execute(
                    update(budget_counters)
                    .where(_C.budget_id == budget_id, _C.window == window)
                    .values(reserved=_C.reserved - _fixed("released", amount))
                )
        return True

    # -- reading -----------------------------------------------------------
    def state(self, budgets: Sequence[Budget]) -> dict[str, tuple[Decimal, Decimal]]:
        """Each budget's (spent, reserved) in its current window; a window not
        used yet shows what the ledger holds for it."""
        now = self.clock()
        found: dict[str, tuple[Decimal, Decimal]] = {}
        with self.store.engine.connect() as conn:
            for budget in budgets:
                start, end = window_of(budget.period, now)
                row = conn.execute(
                    select(_C.spent, _C.reserved).where(
                        _C.budget_id == budget.id, _C.window == window_key(start)
                    )
                ).first()
                found[budget.id] = (
                    (row.spent, row.reserved) if row else (seed(conn, budget, start, end), _ZERO)
                )
        return found


def _aware(at: dt.datetime) -> dt.datetime:
    """SQLite gives back naive datetimes (stored in UTC)."""
    return at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)


def seed(conn: Connection, budget: Budget, start: dt.datetime, end: dt.datetime | None) -> Decimal:
    """What the ledger holds for ``budget``'s scope in the window [start, end)."""
    query = select(_measure(budget)).select_from(calls)
    window = CallFilter(since=start, until=end)
    if budget.scope == "team":
        members = select(gateway_keys.c.id).where(gateway_keys.c.team == budget.subject)
        query = query.where(calls.c.key_id.in_(members))
    else:
        field = {"key": "key", "user": "user", "feature": "feature", "tag": "tag"}[budget.scope]
        window = CallFilter(since=start, until=end, **{field: budget.subject})
    total = conn.execute(window.apply(query, conn.dialect.name)).scalar()
    return _ZERO if total is None else Decimal(total)


def _measure(budget: Budget) -> Any:
    if budget.metric == "usd":
        return func.sum(calls.c.cost_total)
    if budget.metric == "requests":
        return func.count()
    return func.sum(calls.c.input_tokens + calls.c.output_tokens)
