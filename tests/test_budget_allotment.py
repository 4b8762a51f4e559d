"""Local allotments (issue 16) on SQLite and on PostgreSQL: a process reserves
budget ahead of its calls (a spare) and admits from it without the database;
the budget is never passed, spares go back at close, when idle and when their
window ends, and a top-up refused near the limit falls back to exact claims.

Every call is ``openai_chat``'s request (gpt-4o, 19 prompt tokens, our offline
count) with ``max_tokens=10``: its worst case, its claim, is
19 x $2.50/1M + 10 x $10/1M = $0.0001475. Chunks (``allotment.py``): a chunk is
min(256 x claim, 1% x budget); on a $100 budget that is 256 x 0.0001475 = $0.03776
(256 calls), on a $0.10 budget 1% = $0.001 (6 calls and a bit). A budget's first
call in a while goes to the database exactly; only the next ones ask chunks.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import multiprocessing
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from llmtally.budgets.book import BudgetBook
from llmtally.budgets.counters import BudgetCounters, Claim, Refusal
from llmtally.budgets.rules import Budget, Subject, window_key, window_of
from llmtally.budgets.worst_case import Call as Request
from llmtally.catalog import Catalog
from llmtally.gateway.budget_gate import BudgetGate, Hold
from llmtally.gateway.keys import Denied
from llmtally.ledger import Store, open_store
from llmtally.ledger.budget_tables import budget_counters
from llmtally.meter import cost
from llmtally.providers.wires import OPENAI_CHAT
from llmtally.usage import Call, Usage, new_ulid
from test_ledger_support import db_url, pg_base_url, store  # noqa: F401

D = Decimal
CLAIM = D("0.0001475")  # 19 x 2.50/1M + 10 x 10/1M
ANSWERED = D("0.0000875")  # what a 19 + 4 token answer costs: 19 x 2.50/1M + 4 x 10/1M
CHAT = [
    {"role": "developer", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Hello!"},
]
REQUEST = Request(
    wire=OPENAI_CHAT,
    provider="openai",
    model="gpt-4o",
    request={"model": "gpt-4o", "messages": CHAT, "max_tokens": 10},
    raw_size=160,
)
ALICE = Subject(user="alice")
DAY = dt.datetime(2026, 12, 6, 15, 30, tzinfo=dt.UTC)


class Clock:
    def __init__(self, now: dt.datetime = DAY) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


@functools.cache
def _catalog() -> Catalog:
    return Catalog.load()


def _answer(output_tokens: int, now: dt.datetime) -> Call:
    usage = Usage(input_tokens=19, output_tokens=output_tokens)
    price = _catalog().price_at("openai", "gpt-4o", now)
    return Call(
        id=new_ulid(), started_at=now, provider="openai", model_requested="gpt-4o",
        model_served="gpt-4o", endpoint="/v1/chat/completions", status=200,
        latency_ms=1.0, usage=usage, cost=cost(usage, price),
    )  # fmt: skip


def _counted(gate: BudgetGate) -> list[int]:
    """Count the database's reservation transactions (reserve_many calls)."""
    made = [0]
    inner = gate.counters.reserve_many

    def counting(holder: str, calls: Any) -> list[Refusal | None]:
        made[0] += 1
        return inner(holder, calls)

    gate.counters.reserve_many = counting  # type: ignore[method-assign]
    return made


def _wait(what: Callable[[], object], expected: object, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while (found := what()) != expected:
        assert time.monotonic() < deadline, (found, expected)
        time.sleep(0.02)


def _counter(store: Store, budget: Budget, window: int) -> tuple[Decimal, Decimal]:  # noqa: F811
    with store.engine.connect() as conn:
        row = conn.execute(
            select(budget_counters.c.spent, budget_counters.c.reserved).where(
                budget_counters.c.budget_id == budget.id, budget_counters.c.window == window
            )
        ).one()
    return D(row.spent), D(row.reserved)


async def _calls(gate: BudgetGate, n: int, output_tokens: int, now: dt.datetime) -> int:
    admitted = 0
    for _ in range(n):
        held = await gate.reserve(ALICE, REQUEST)
        if isinstance(held, Hold):
            admitted += 1
            held.settle(_answer(output_tokens, now))
        else:
            assert isinstance(held, Denied) and held.status == 429, held
    return admitted


def test_a_large_budget_admits_from_its_spare_and_spends_what_the_calls_cost(
    store: Store,  # noqa: F811
) -> None:
    budget = BudgetBook(store).add("user", "alice", "usd", "day", D(100))
    clock = Clock()
    gate = BudgetGate(store, Catalog.load(), clock=clock, idle_s=3600).start()
    made = _counted(gate)
    window = window_key(window_of("day", DAY)[0])
    try:
        assert asyncio.run(_calls(gate, 200, 4, DAY)) == 200
        # call 1 exact (first in a while); call 2 asks 1 + 256 claims; 3-200 from the
        # spare: 2 transactions
        assert made == [2]
        left = 58 * CLAIM  # 256 - 198 claims of the chunk: 0.008555
        assert gate.allotments.spare(budget.id, window) == left
        # settled: 200 x 0.0000875 spent; only the spare is still reserved
        _wait(lambda: _counter(store, budget, window), (200 * ANSWERED, left))
    finally:
        gate.close()
    # closed: the spare went back
    assert _counter(store, budget, window) == (D("0.0175"), D(0))  # 200 x 0.0000875


def test_an_idle_spare_goes_back(store: Store) -> None:  # noqa: F811
    budget = BudgetBook(store).add("user", "alice", "usd", "day", D(100))
    gate = BudgetGate(store, Catalog.load(), refresh_s=0.1, idle_s=0.5).start()
    now = dt.datetime.now(dt.UTC)
    window = window_key(window_of("day", now)[0])
    try:
        assert asyncio.run(_calls(gate, 2, 4, now)) == 2  # the second asks a chunk
        assert gate.allotments.spare(budget.id, window) == 256 * CLAIM
        # not closed: unused for 0.5 s, the spare (256 claims, $0.03776) goes back
        _wait(lambda: _counter(store, budget, window), (2 * ANSWERED, D(0)))
        assert gate.allotments.spare(budget.id, window) == 0
    finally:
        gate.close()


def test_a_refused_top_up_falls_back_to_the_exact_claim(store: Store) -> None:  # noqa: F811
    budget = BudgetBook(store).add("user", "alice", "usd", "day", D("0.10"))
    start, end = window_of("day", DAY)
    # another process holds all but two claims: 0.10 - 2 x 0.0001475 = 0.099705
    other = BudgetCounters(store, Clock())
    assert other.reserve("other", [Claim(budget, start, end, D("0.099705"))]) is None
    gate = BudgetGate(store, Catalog.load(), clock=Clock(), idle_s=3600).start()
    made = _counted(gate)

    async def three() -> list[Hold | Denied | None]:
        return [await gate.reserve(ALICE, REQUEST) for _ in range(3)]

    try:
        first, second, third = asyncio.run(three())
        # 1: exact (1 transaction); 2: asks 0.0001475 + 0.001, refused, then
        # exactly 0.0001475, which fits to the cent (2 more); 3: the budget is
        # tight now, so exact, and refused (1 more)
        assert isinstance(first, Hold) and isinstance(second, Hold)
        assert isinstance(third, Denied) and third.status == 429
        assert "is $0.10: $0.00 spent and $0.10 reserved" in third.message
        assert "this call may use $0.0001475" in third.message
        assert made == [4]
        assert gate.allotments.spare(budget.id, window_key(start)) == 0
        assert _counter(store, budget, window_key(start)) == (D(0), D("0.10"))
        first.release_unless_recorded()
        second.release_unless_recorded()
    finally:
        gate.close()
    assert _counter(store, budget, window_key(start)) == (D(0), D("0.099705"))


def test_a_new_window_gives_the_old_windows_spare_back(store: Store) -> None:  # noqa: F811
    budget = BudgetBook(store).add("user", "alice", "usd", "day", D(100))
    clock = Clock()
    gate = BudgetGate(store, Catalog.load(), clock=clock, refresh_s=0.1, idle_s=3600).start()
    old = window_key(window_of("day", DAY)[0])
    try:
        assert asyncio.run(_calls(gate, 2, 4, DAY)) == 2
        _wait(lambda: _counter(store, budget, old), (2 * ANSWERED, 256 * CLAIM))
        clock.now = DAY + dt.timedelta(days=1)  # never idle (3600 s): the window ended
        _wait(lambda: _counter(store, budget, old), (2 * ANSWERED, D(0)))
        assert gate.allotments.spare(budget.id, old) == 0
    finally:
        gate.close()


# -- two processes, hundreds of calls at once -------------------------------------------

BIG = D("0.10")  # chunks of 1% = $0.001 apply (0.001 >= 0.0001475)
FITS = 677  # 677 x 0.0001475 = 0.0998575 <= 0.10; 678 x 0.0001475 = 0.100005 > 0.10
# the documented bound: a process may be refused while another holds less than a
# chunk plus one claim (0.0011475: 7 claims) as spare, and the last room may be
# split between a spare and the counter (under 2 claims): 9 calls at most
SLACK = 9


def _process(url: str, out: Any, ready: Any, calls: int, workers: int) -> None:
    with open_store(url) as opened:
        gate = BudgetGate(opened, Catalog.load(), refresh_s=0.2).start()
        made = _counted(gate)

        async def worker(now: dt.datetime) -> int:
            return await _calls(gate, calls // workers, 10, now)  # each spends its claim

        async def run() -> int:
            now = dt.datetime.now(dt.UTC)
            return sum(await asyncio.gather(*(worker(now) for _ in range(workers))))

        try:
            ready.wait(60)
            out.put((asyncio.run(run()), made[0]))
        finally:
            gate.close()


@pytest.fixture
def spawned() -> Iterator[multiprocessing.context.SpawnContext]:
    yield multiprocessing.get_context("spawn")


def test_two_processes_never_overspend_with_spares(
    db_url: str,  # noqa: F811
    store: Store,  # noqa: F811
    spawned: multiprocessing.context.SpawnContext,
) -> None:
    budget = BudgetBook(store).add("user", "alice", "usd", "day", BIG)
    out: Any = spawned.Queue()
    ready = spawned.Barrier(2)
    procs = [spawned.Process(target=_process, args=(db_url, out, ready, 400, 16)) for _ in range(2)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(240)
        assert proc.exitcode == 0
    results = [out.get(timeout=5) for _ in procs]
    admitted = sum(a for a, _ in results)  # of 800 asked
    # fewer transactions than calls admitted: spares admitted some without one
    assert sum(t for _, t in results) < admitted
    assert FITS - SLACK <= admitted <= FITS
    # both closed: every spare went back; each call spent its claim
    now = dt.datetime.now(dt.UTC)
    spent, reserved = _counter(store, budget, window_key(window_of("day", now)[0]))
    assert (spent, reserved) == (admitted * CLAIM, D(0))
    assert spent <= BIG
