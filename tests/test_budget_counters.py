"""Budget counters on SQLite and on a real PostgreSQL server: reserve all or
none, settle to the real cost, sweep a dead holder's reservations once,
seed a new window from the ledger, and hold under hundreds of threads and
several processes at once.

Amounts are chosen so that every expected figure is worked out by hand here.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import subprocess
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event

from llmtally.budgets.counters import BudgetCounters, Claim, Settlement
from llmtally.budgets.liveness import Process, _start_time, this_process
from llmtally.budgets.rules import Budget, Period, window_of
from llmtally.ledger import Store, open_store
from test_ledger_support import (  # noqa: F401
    db_url,
    full_call,
    pg_base_url,
    pg_schema,
    simple_call,
    store,
)

NOW = dt.datetime(2026, 12, 6, 15, 30, tzinfo=dt.UTC)
D = Decimal


class Clock:
    def __init__(self, now: dt.datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


def budget(
    amount: str, *, id: str = "b1", scope: str = "key", subject: str = "key_01",
    metric: str = "usd", period: Period = "day",
) -> Budget:  # fmt: skip
    return Budget(id, scope, subject, metric, period, D(amount))  # type: ignore[arg-type]


def claim(b: Budget, amount: str, now: dt.datetime = NOW) -> Claim:
    start, end = window_of(b.period, now)
    return Claim(b, start, end, D(amount))


@pytest.fixture
def counters(store: Store) -> BudgetCounters:  # noqa: F811
    return BudgetCounters(store, Clock())


def test_reservations_fill_a_budget_and_settling_frees_the_difference(
    counters: BudgetCounters,
) -> None:
    b = budget("1.00")
    for _ in range(3):
        assert counters.reserve("h1", [claim(b, "0.30")]) is None
    refusal = counters.reserve("h1", [claim(b, "0.30")])  # 0.90 + 0.30 > 1.00
    assert refusal is not None and refusal.claim.budget.id == "b1"
    assert (refusal.spent, refusal.reserved) == (D("0"), D("0.90"))
    assert counters.reserve("h1", [claim(b, "0.10")]) is None  # exactly 1.00: allowed
    window = claim(b, "0").window
    counters.settle("h1", [Settlement("b1", window, D("0.30"), D("0.05"))])
    assert counters.state([b])["b1"] == (D("0.05"), D("0.70"))
    assert counters.reserve("h1", [claim(b, "0.25")]) is None  # 0.05 + 0.70 + 0.25 = 1.00
    assert counters.reserve("h1", [claim(b, "0.0000000001")]) is not None


def test_a_refusal_in_one_budget_reserves_nothing_in_the_others(
    counters: BudgetCounters,
) -> None:
    roomy = budget("100", id="a-roomy")
    tight = budget("3", id="z-tight", scope="user", subject="alice", metric="requests")
    assert counters.reserve("h1", [claim(roomy, "10"), claim(tight, "1")]) is None
    assert counters.reserve("h1", [claim(roomy, "10"), claim(tight, "3")]) is not None
    state = counters.state([roomy, tight])
    assert state == {"a-roomy": (D("0"), D("10")), "z-tight": (D("0"), D("1"))}


def test_a_new_window_starts_from_what_the_ledger_holds(store: Store) -> None:  # noqa: F811
    # two calls today for key_01 (11+5 and 12+5 tokens), one yesterday, one for another key
    today = NOW.replace(hour=1)
    store.insert_many(
        [
            simple_call(1, key_id="key_01", started_at=today),
            simple_call(2, key_id="key_01", started_at=today + dt.timedelta(hours=2)),
            simple_call(3, key_id="key_01", started_at=today - dt.timedelta(days=1)),
            simple_call(4, key_id="key_02", started_at=today),
        ]
    )
    counters = BudgetCounters(store, Clock())
    tokens = budget("100", metric="tokens")
    requests = budget("100", id="b2", metric="requests")
    assert counters.state([tokens, requests]) == {"b1": (D(33), D(0)), "b2": (D(2), D(0))}
    # 33 spent: 67 more fit, 68 do not
    assert counters.reserve("h1", [claim(tokens, "68")]) is not None
    assert counters.reserve("h1", [claim(tokens, "67")]) is None
    # next month's window starts empty
    later = NOW + dt.timedelta(days=40)
    counters.clock = Clock(later)
    assert counters.state([tokens]) == {"b1": (D(0), D(0))}


ELSEWHERE = Process("another-machine/pid:[1]", 4242, 1)


def test_a_silent_holder_elsewhere_is_swept_once_and_its_late_settlement_counts_once(
    store: Store,  # noqa: F811
) -> None:
    clock = Clock()
    counters = BudgetCounters(store, clock)
    b = budget("1.00")
    window = claim(b, "0").window
    counters.heartbeat("dead", ELSEWHERE)
    counters.heartbeat("alive", ELSEWHERE)
    assert counters.reserve("dead", [claim(b, "0.40")]) is None
    assert counters.reserve("alive", [claim(b, "0.40")]) is None
    clock.now = NOW + dt.timedelta(seconds=20)
    assert counters.heartbeat("alive", ELSEWHERE)
    clock.now = NOW + dt.timedelta(seconds=30)
    assert counters.sweep(30) == []  # 30 s silent: not yet past the lease
    clock.now = NOW + dt.timedelta(seconds=31)
    assert counters.reserve("alive", [claim(b, "0.40")]) is not None  # 0.80 held
    assert counters.sweep(30) == ["dead"]
    assert counters.sweep(30) == []  # once only
    assert counters.state([b])["b1"] == (D("0"), D("0.40"))
    # the stalled holder wakes and settles: it spends, but its hold is gone
    counters.settle("dead", [Settlement("b1", window, D("0.40"), D("0.10"))])
    assert counters.state([b])["b1"] == (D("0.10"), D("0.40"))
    assert not counters.heartbeat("dead", ELSEWHERE)  # it learns it was swept
    counters.settle("alive", [Settlement("b1", window, D("0.40"), D("0.20"))])
    assert counters.state([b])["b1"] == (D("0.30"), D("0"))
    counters.release("alive")  # nothing left to give back
    assert counters.state([b])["b1"] == (D("0.30"), D("0"))


def test_a_dead_process_here_is_swept_at_once_and_a_live_one_only_when_stuck(
    store: Store,  # noqa: F811
) -> None:
    clock = Clock()
    counters = BudgetCounters(store, clock)
    b = budget("1.00")
    child = subprocess.Popen(["sleep", "30"])
    try:
        time.sleep(0.1)
        gone = Process(this_process().machine, child.pid, _start_time(child.pid))
        assert gone.alive(this_process()) is True
    finally:
        child.kill()
        child.wait()
    assert gone.alive(this_process()) is False
    counters.heartbeat("gone", gone)
    counters.heartbeat("me", this_process())
    assert counters.reserve("gone", [claim(b, "0.50")]) is None
    assert counters.reserve("me", [claim(b, "0.50")]) is None
    assert counters.sweep(30) == ["gone"]  # its process is dead: no lease to wait for
    clock.now = NOW + dt.timedelta(seconds=299)
    assert counters.sweep(30) == []  # alive here, however late its heartbeat
    clock.now = NOW + dt.timedelta(seconds=301)
    assert counters.sweep(30) == ["me"]  # ten leases silent: stuck
    assert counters.state([b])["b1"] == (D(0), D(0))


def test_release_gives_back_what_a_stopping_holder_holds(counters: BudgetCounters) -> None:
    b = budget("1.00")
    other = budget("5", id="b2", metric="requests", period="minute")
    counters.heartbeat("h1", ELSEWHERE)
    assert counters.reserve("h1", [claim(b, "0.25"), claim(other, "1")]) is None
    assert counters.reserve("h1", [claim(b, "0.25")]) is None
    counters.release("h1")
    assert counters.state([b, other]) == {"b1": (D(0), D(0)), "b2": (D(0), D(0))}


def _reserve_many(
    counters: BudgetCounters, holder: str, n: int, amount: str, cap: str = "0.50"
) -> int:
    b = budget(cap)
    admitted = 0
    lock = threading.Lock()
    barrier = threading.Barrier(n)

    def one() -> None:
        nonlocal admitted
        barrier.wait()
        if counters.reserve(holder, [claim(b, amount)]) is None:
            with lock:
                admitted += 1

    threads = [threading.Thread(target=one) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return admitted


def test_two_hundred_threads_reserve_exactly_what_fits(counters: BudgetCounters) -> None:
    # 0.50 / 0.01: 50 of 200 fit, whatever the interleaving
    assert _reserve_many(counters, "h1", 200, "0.01") == 50
    assert counters.state([budget("0.50")])["b1"] == (D(0), D("0.50"))


def _process(
    url: str, holder: str, out: multiprocessing.Queue[int], n: int = 50, cap: str = "0.50"
) -> None:
    with open_store(url) as opened:
        out.put(_reserve_many(BudgetCounters(opened, Clock()), holder, n, "0.01", cap))


@pytest.fixture
def spawned() -> Iterator[multiprocessing.context.SpawnContext]:
    yield multiprocessing.get_context("spawn")


def test_four_processes_share_one_counter(
    db_url: str,  # noqa: F811
    store: Store,  # noqa: F811
    spawned: multiprocessing.context.SpawnContext,
) -> None:
    # 4 x 50 threads against 0.50 at 0.01 each: 50 in all, not 50 each
    out: multiprocessing.Queue[int] = spawned.Queue()
    procs = [spawned.Process(target=_process, args=(db_url, f"p{i}", out)) for i in range(4)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
        assert proc.exitcode == 0
    assert sum(out.get(timeout=5) for _ in procs) == 50
    assert BudgetCounters(store, Clock()).state([budget("0.50")])["b1"] == (D(0), D("0.50"))


def test_a_counter_created_by_another_process_mid_reservation_is_tried_again(
    pg_base_url: str,  # noqa: F811
) -> None:
    """PostgreSQL: A's conditional UPDATE finds no counter row; before A reads
    it, B creates the row and commits. A must try the UPDATE again (its budget
    has room), not refuse. SQLite cannot race so: its writers take turns."""
    with pg_schema(pg_base_url) as url, open_store(url) as a, open_store(url) as b:
        first_update, b_done = threading.Event(), threading.Event()

        def pause(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if statement.startswith("UPDATE budget_counters") and not first_update.is_set():
                first_update.set()
                assert b_done.wait(10)

        event.listen(a.engine, "after_cursor_execute", pause)
        cap = budget("1.00")
        results: list[object] = []
        racing = BudgetCounters(a, Clock())
        racer = threading.Thread(
            target=lambda: results.append(racing.reserve("a", [claim(cap, "0.10")]))
        )
        racer.start()
        assert first_update.wait(10)
        assert BudgetCounters(b, Clock()).reserve("b", [claim(cap, "0.10")]) is None
        b_done.set()
        racer.join(10)
        assert results == [None]  # reserved, not refused
        assert BudgetCounters(b, Clock()).state([cap])["b1"] == (D(0), D("0.20"))
