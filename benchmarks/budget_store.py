"""Where the shared budget counters live: the ledger database or Redis (issue 12).

    benchmarks/.venv/bin/python benchmarks/budget_store.py   # --help for the sizes

A budgeted call is a reservation (one claim, its worst case) and, once recorded, a
settle. ``sqlite`` and ``postgresql`` run llmtally's ``BudgetCounters`` (a conditional
UPDATE and a hold row per claim, one transaction) on a SQLite ledger in a temporary
folder and on PostgreSQL (``--pg-url``) in a schema made for the run and dropped after
it. ``redis`` is the same counter as two Lua scripts (EVALSHA) on ``--redis-url``:
``spent + reserved + x <= cap`` then ``HINCRBY reserved`` on a counter hash plus a
per-holder hold hash, all claims or none; a settle releases only what the holder still
holds. Integer units of 1e-10 USD (the ledger's scale; Lua compares doubles, exact below
2**53 units); keys under a unique prefix, deleted after the run; no seeding of a new
window from the ledger. ``redis-aof``: the same on a redis-server started for the run
with ``appendfsync always`` (every write fsync'd, like a PostgreSQL commit). Optional:
``postgresql-async``, sessions with ``synchronous_commit=off`` (no wait for the fsync).

Per store and round (interleaved, stores in a rotating order): ``--ops`` reservations
and settles one at a time (p50/p99 of each); ``--threaded-ops`` reserve+settle cycles on
``--threads`` threads here and on ``--procs`` processes x ``--proc-threads`` threads
(cycles/s, on a counter that exists; one holder per process; llmtally's pools as they
are); the counter must then hold spent = cycles x cost, nothing reserved. Correctness,
from threads and processes: ``--attempts`` reservations at once, ``--fit`` of which fit
(admitted must equal ``--fit``), and a new window's first ``--threads`` reservations at
once with room for all (``--fresh-trials`` times; all admitted). Each figure has its ratio
to ``--baseline`` (postgresql) from the same run. Exit status 1 when a check fails.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import multiprocessing
import os
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import psycopg
import redis
from sqlalchemy.engine import make_url

from llmtally.budgets.counters import BudgetCounters, Claim, Settlement
from llmtally.budgets.rules import Budget, window_key, window_of
from llmtally.ledger import open_store

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
REDIS_DEFAULT = "redis://127.0.0.1:6379/0"
STORES = ("sqlite", "postgresql", "redis", "redis-aof", "postgresql-async")
UNITS = 10**10  # the ledger's Fixed scale: 10 places
AMOUNT = Decimal("0.0001")  # a call's worst case, reserved
COST = Decimal("0.00004")  # what it cost, settled
START, _ = window_of("total", dt.datetime.now(dt.UTC))
WINDOW = window_key(START)

# KEYS[1..n]: counter hashes (spent, reserved); KEYS[n+1]: the holder's hold hash.
# ARGV: per claim, amount, cap, hold field. All claims fit or none is taken: the index of
# the first that would be passed. Integers travel as strings (Lua numbers print as 1e+15).
RESERVE_LUA = """
local n = #KEYS - 1
for i = 1, n do
  local c = redis.call('HMGET', KEYS[i], 'spent', 'reserved')
  local used = (tonumber(c[1]) or 0) + (tonumber(c[2]) or 0)
  if used + tonumber(ARGV[3 * i - 2]) > tonumber(ARGV[3 * i - 1]) then return i end
end
for i = 1, n do
  redis.call('HINCRBY', KEYS[i], 'reserved', ARGV[3 * i - 2])
  redis.call('HINCRBY', KEYS[n + 1], ARGV[3 * i], ARGV[3 * i - 2])
end
return 0
"""
# KEYS[1]: counter, KEYS[2]: the holder's holds; ARGV: hold field, reserved, actual.
# A reservation the holder no longer holds (swept) is not released twice.
SETTLE_LUA = """
local released = '0'
if (tonumber(redis.call('HGET', KEYS[2], ARGV[1])) or 0) >= tonumber(ARGV[2]) then
  redis.call('HINCRBY', KEYS[2], ARGV[1], '-' .. ARGV[2])
  released = ARGV[2]
end
redis.call('HINCRBY', KEYS[1], 'spent', ARGV[3])
redis.call('HINCRBY', KEYS[1], 'reserved', '-' .. released)
return 1
"""


@dataclass(frozen=True)
class Spec:
    """How a process reaches one store (picklable for the worker processes)."""

    name: str
    url: str
    prefix: str = ""  # Redis keys


def _budget(budget_id: str, cap: Decimal) -> Budget:
    return Budget(budget_id, "key", "bench", "usd", "total", cap)


class SqlTarget:
    """llmtally's own counters (``BudgetCounters``) on one ledger."""

    def __init__(self, url: str, holder: str) -> None:
        self.store = open_store(url)
        self.counters = BudgetCounters(self.store)
        self.holder = holder
        self.counters.heartbeat(holder)

    def reserve(self, budget_id: str, cap: Decimal, amount: Decimal) -> bool:
        claim = Claim(_budget(budget_id, cap), START, None, amount)
        return self.counters.reserve(self.holder, [claim]) is None

    def settle(self, budget_id: str, reserved: Decimal, actual: Decimal) -> None:
        self.counters.settle(self.holder, [Settlement(budget_id, WINDOW, reserved, actual)])

    def state(self, budget_id: str) -> tuple[Decimal, Decimal]:
        return self.counters.state([_budget(budget_id, Decimal(1))])[budget_id]

    def describe(self) -> str:
        if self.store.dialect == "sqlite":
            return f"{sqlite3.sqlite_version}, WAL, synchronous=NORMAL"
        with self.store.engine.connect() as conn:
            found = conn.exec_driver_sql(
                "SELECT current_setting('server_version'), current_setting('fsync'), "
                "current_setting('synchronous_commit')"
            ).one()
        return "{}, fsync={}, synchronous_commit={}".format(*found)

    def rest(self) -> None:
        """Close the idle connections between runs (the server is shared)."""
        self.store.engine.dispose()

    close = rest


class RedisTarget:
    """The same counter as Lua scripts on Redis."""

    def __init__(self, url: str, prefix: str, holder: str) -> None:
        self.client = redis.Redis.from_url(url)
        self.prefix, self.holds = prefix, f"{prefix}holds:{holder}"
        self._reserve = self.client.register_script(RESERVE_LUA)
        self._settle = self.client.register_script(SETTLE_LUA)

    def _counter(self, budget_id: str) -> str:
        return f"{self.prefix}counter:{budget_id}:{WINDOW}"

    def reserve(self, budget_id: str, cap: Decimal, amount: Decimal) -> bool:
        args = [str(int(amount * UNITS)), str(int(cap * UNITS)), f"{budget_id}:{WINDOW}"]
        return bool(self._reserve(keys=[self._counter(budget_id), self.holds], args=args) == 0)

    def settle(self, budget_id: str, reserved: Decimal, actual: Decimal) -> None:
        args = [f"{budget_id}:{WINDOW}", str(int(reserved * UNITS)), str(int(actual * UNITS))]
        self._settle(keys=[self._counter(budget_id), self.holds], args=args)

    def state(self, budget_id: str) -> tuple[Decimal, Decimal]:
        spent, reserved = self.client.hmget(self._counter(budget_id), "spent", "reserved")
        return Decimal(int(spent or 0)) / UNITS, Decimal(int(reserved or 0)) / UNITS

    def describe(self) -> str:
        info, conf = self.client.info("server"), self.client.config_get("*")
        return (
            f"{info['redis_version']}, appendonly={conf['appendonly']}, "
            f"appendfsync={conf['appendfsync']}, save={conf['save']!r}"
        )

    def rest(self) -> None:
        """Nothing to close: one connection per thread, kept."""

    def close(self) -> None:
        self.client.close()


Target = SqlTarget | RedisTarget


def open_target(spec: Spec, holder: str) -> Target:
    if spec.name.startswith("redis"):
        return RedisTarget(spec.url, spec.prefix, holder)
    return SqlTarget(spec.url, holder)


def cycles(target: Target, budget_id: str, cap: Decimal, n: int) -> int:
    """Reserve and settle ``n`` calls; how many were admitted."""
    done = 0
    for _ in range(n):
        if target.reserve(budget_id, cap, AMOUNT):
            target.settle(budget_id, AMOUNT, COST)
            done += 1
    return done


def attempts(target: Target, budget_id: str, cap: Decimal, n: int) -> int:
    """Try ``n`` reservations, settling none; how many were admitted."""
    return sum(target.reserve(budget_id, cap, AMOUNT) for _ in range(n))


JOBS = {"cycles": cycles, "attempts": attempts}


def threaded(
    job: str, target: Target, budget_id: str, cap: Decimal, counts: list[int]
) -> tuple[threading.Event, Callable[[], tuple[int, list[str]]]]:
    """Start one thread per count, each waiting on the event returned; a join that sums
    what was admitted and lists the errors that stopped a thread."""
    go, admitted, errors, lock = threading.Event(), [0], [], threading.Lock()

    def run(n: int) -> None:
        go.wait()
        try:
            got = JOBS[job](target, budget_id, cap, n)
        except Exception as exc:  # counted and shown: the run fails its checks
            errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}")
            return
        with lock:
            admitted[0] += got

    threads = [threading.Thread(target=run, args=(n,)) for n in counts]
    for thread in threads:
        thread.start()

    def join() -> tuple[int, list[str]]:
        for thread in threads:
            thread.join()
        return admitted[0], errors

    return go, join


def split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def worker(specs: list[Spec], commands: Any, results: Any, barrier: Any) -> None:
    """A process of ``--proc-threads`` threads: one target per store, one holder."""
    targets = {spec.name: open_target(spec, f"bench-{os.getpid()}") for spec in specs}
    results.put("ready")
    while (command := commands.get()) is not None:
        store, job, budget_id, cap, counts = command
        go, join = threaded(job, targets[store], budget_id, cap, counts)
        barrier.wait()
        go.set()
        results.put(join())
        targets[store].rest()
    for target in targets.values():
        target.close()


class Processes:
    """``procs`` worker processes, started once and reused for every run."""

    def __init__(self, specs: list[Spec], procs: int, threads: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.threads = threads
        self.results = ctx.Queue()
        self.barrier = ctx.Barrier(procs + 1)
        self.queues = [ctx.Queue() for _ in range(procs)]
        self.procs = [
            ctx.Process(target=worker, args=(specs, q, self.results, self.barrier))
            for q in self.queues
        ]
        for proc in self.procs:
            proc.start()
        for _ in self.procs:
            assert self.results.get(timeout=120) == "ready"

    def run(self, store: str, job: str, budget_id: str, cap: Decimal, total: int) -> Run:
        for q, share in zip(self.queues, split(total, len(self.queues)), strict=True):
            q.put((store, job, budget_id, cap, split(share, self.threads)))
        self.barrier.wait(timeout=120)
        began = time.perf_counter()
        got = [self.results.get(timeout=300) for _ in self.queues]
        seconds = time.perf_counter() - began
        return Run(sum(n for n, _ in got), seconds, [e for _, errors in got for e in errors])

    def close(self) -> None:
        for q in self.queues:
            q.put(None)
        for proc in self.procs:
            proc.join(30)


@dataclass
class Run:
    admitted: int
    seconds: float
    errors: list[str]

    def failed(self) -> str:
        return f"; {len(self.errors)} threads stopped: {self.errors[0]}" if self.errors else ""

    def holds(self, n: int, state: tuple[Decimal, Decimal]) -> bool:
        """``n`` reservations admitted, no error, and the counter holds exactly them."""
        return self.admitted == n and state == (Decimal(0), AMOUNT * n) and not self.errors

    def verdict(self, ok: bool) -> str:
        return ("ok" if ok else "WRONG") + self.failed()


def in_process(target: Target, job: str, budget_id: str, cap: Decimal, total: int, n: int) -> Run:
    go, join = threaded(job, target, budget_id, cap, split(total, n))
    time.sleep(0.05)  # every thread waiting on the event
    began = time.perf_counter()
    go.set()
    admitted, errors = join()
    seconds = time.perf_counter() - began
    target.rest()
    return Run(admitted, seconds, errors)


@contextlib.contextmanager
def pg_schema(base_url: str, options: str = "") -> Iterator[str]:
    """A fresh schema, dropped afterwards; yields a URL whose search_path is that schema."""
    schema = f"llmtally_bench_{uuid.uuid4().hex[:12]}"
    admin = make_url(base_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}{options}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@contextlib.contextmanager
def redis_aof_server(folder: str) -> Iterator[str]:
    """A redis-server of our own that fsyncs every write (appendfsync always)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    args = ["--port", str(port), "--bind", "127.0.0.1", "--dir", folder, "--save", ""]
    args += ["--appendonly", "yes", "--appendfsync", "always", "--daemonize", "no"]
    binary = shutil.which("redis-server") or "redis-server"
    proc = subprocess.Popen([binary, *args], stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        for _ in range(200):
            with contextlib.suppress(redis.ConnectionError), redis.Redis.from_url(url) as client:
                if client.ping():
                    break
            time.sleep(0.05)
        else:
            raise RuntimeError("redis-server (appendfsync always) did not start in 10 s")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def drop_redis_keys(url: str, prefix: str) -> None:
    with redis.Redis.from_url(url) as client:
        for key in list(client.scan_iter(match=f"{prefix}*", count=1000)):
            client.delete(key)


@contextlib.contextmanager
def stores(names: list[str], pg_url: str, redis_url: str) -> Iterator[list[Spec]]:
    with contextlib.ExitStack() as stack:
        folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="llmtally-budget-"))
        prefix = f"llmtally-bench:{uuid.uuid4().hex[:12]}:"
        specs = []
        for name in names:
            if name == "sqlite":
                url = f"sqlite:///{folder}/ledger.sqlite3"
            elif name.startswith("postgresql"):
                async_ = " -csynchronous_commit=off" if name.endswith("async") else ""
                url = stack.enter_context(pg_schema(pg_url, async_))
            elif name == "redis":
                url = redis_url
                stack.callback(drop_redis_keys, url, prefix)
            else:
                os.mkdir(f"{folder}/redis-aof")
                url = stack.enter_context(redis_aof_server(f"{folder}/redis-aof"))
            specs.append(Spec(name, url, prefix))
        for spec in specs:  # migrate each ledger once, before the workers open it
            open_target(spec, "bench-setup").close()
        yield specs


@dataclass
class Figures:
    reserve: list[float] = field(default_factory=list)  # seconds per reservation, c=1
    settle: list[float] = field(default_factory=list)
    threads: list[float] = field(default_factory=list)  # cycles/s, one per round
    procs: list[float] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)  # failed invariants


def new_budget() -> str:
    return f"b-{uuid.uuid4().hex[:12]}"


@dataclass
class Bench:
    """One store's runs: its target in this process, the worker processes, the figures."""

    name: str
    target: Target
    pool: Processes
    args: Any
    figures: Figures = field(default_factory=Figures)

    def latency(self) -> None:
        budget_id, cap, f = new_budget(), AMOUNT * (self.args.ops + 100), self.figures
        cycles(self.target, budget_id, cap, 20)  # warm-up: the counter row, pools, plans
        for _ in range(self.args.ops):
            began = time.perf_counter()
            admitted = self.target.reserve(budget_id, cap, AMOUNT)
            reserved = time.perf_counter()
            self.target.settle(budget_id, AMOUNT, COST)
            f.reserve.append(reserved - began)
            f.settle.append(time.perf_counter() - reserved)
            if not admitted:
                f.checks.append("a c=1 reservation was refused")

    def ready_budget(self, cap: Decimal) -> str:
        """A new budget whose counter exists (a window's first use is checked apart)."""
        budget_id = new_budget()
        cycles(self.target, budget_id, cap, 1)
        return budget_id

    def round(self) -> str:
        self.latency()
        args, f = self.args, self.figures
        total, cap = args.threaded_ops, AMOUNT * (args.threaded_ops + 2)
        ran = self.modes("cycles", lambda: self.ready_budget(cap), cap, total)
        for (what, budget_id, run), rates in zip(ran, (f.threads, f.procs), strict=True):
            expected = (COST * (run.admitted + 1), Decimal(0))  # + the cycle that made it
            got = self.target.state(budget_id)
            if run.admitted != total or got != expected or run.errors:
                f.checks.append(f"{what}: {run.admitted} of {total}, counter {got}{run.failed()}")
            rates.append(run.admitted / run.seconds)
        return (
            f"{self.name} reserve p50 {percentile(f.reserve[-args.ops :], 0.5):.3f} ms, "
            f"{f.threads[-1]:,.0f} cycles/s at {args.threads} threads, "
            f"{f.procs[-1]:,.0f} at {args.procs}x{args.proc_threads}"
        )

    def modes(
        self, job: str, budget: Callable[[], str], cap: Decimal, total: int
    ) -> list[tuple[str, str, Run]]:
        """``job`` on the threads of this process, then on the processes, each on a budget
        of its own: (what, budget id, run)."""
        args, found = self.args, []
        for what in (f"{args.threads} threads", f"{args.procs}x{args.proc_threads} processes"):
            budget_id = budget()
            if what.endswith("processes"):
                run = self.pool.run(self.name, job, budget_id, cap, total)
            else:
                run = in_process(self.target, job, budget_id, cap, total, args.threads)
            found.append((what, budget_id, run))
        return found

    def first_use(self) -> list[str]:
        """A window's first reservations at once, with room for every one: none refused."""
        lines, n, trials = [], self.args.threads, self.args.fresh_trials
        for trial in range(trials):
            for what, budget_id, run in self.modes("attempts", new_budget, AMOUNT * 10 * n, n):
                ok = run.holds(n, self.target.state(budget_id))
                if not ok or trial == trials - 1:
                    lines.append(
                        f"  {self.name:<10} {what:<16} trial {trial + 1}: admitted "
                        f"{run.admitted} of {n} (expected {n}): {run.verdict(ok)}"
                    )
        return lines

    def exactly(self) -> list[str]:
        """--attempts reservations at once, --fit of which fit: admitted must be --fit."""
        lines, args, cap = [], self.args, AMOUNT * self.args.fit
        for what, budget_id, run in self.modes("attempts", new_budget, cap, args.attempts):
            spent, reserved = self.target.state(budget_id)
            lines.append(
                f"  {self.name:<10} {what:<16} admitted {run.admitted} of {args.attempts} "
                f"(expected {args.fit}); counter spent {spent:f}, reserved {reserved:f} "
                f"(expected 0, {cap:f}): {run.verdict(run.holds(args.fit, (spent, reserved)))}"
            )
        return lines


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000


def latency_lines(figures: dict[str, Figures], base_name: str) -> list[str]:
    base = figures[base_name]
    lines = [
        f"c=1, one thread, {len(base.reserve):,} reservations and settles per store "
        f"(ratio: store / {base_name}):"
    ]
    for name, f in figures.items():
        cells, pairs = [], (("reserve", f.reserve, base.reserve), ("settle", f.settle, base.settle))
        for what, mine, ref in pairs:
            for q in (0.5, 0.99):
                value, b = percentile(mine, q), percentile(ref, q)
                cells.append(f"{what} p{int(q * 100)} {value:.3f} ms ({value / b:.2f}x)")
        lines.append(f"  {name:<10} " + ", ".join(cells))
    return lines


def throughput_lines(figures: dict[str, Figures], base_name: str, args: Any) -> list[str]:
    base, lines = figures[base_name], []
    for label, attr in (
        (f"{args.threads} threads in one process", "threads"),
        (f"{args.procs} processes x {args.proc_threads} threads", "procs"),
    ):
        lines.append(
            f"throughput, {label}: reserve+settle cycles/s, median of rounds "
            f"(ratio: median of per-round ratios store / {base_name}):"
        )
        for name, f in figures.items():
            mine, ref = getattr(f, attr), getattr(base, attr)
            ratios = [m / r for m, r in zip(mine, ref, strict=True)]
            lines.append(
                f"  {name:<10} {statistics.median(mine):8,.0f} cycles/s "
                f"({statistics.median(ratios):.2f}x, range {min(ratios):.2f}x-{max(ratios):.2f}x)"
            )
    return lines


SIZES = [
    ("--ops", 300, "c=1 reservations and settles per store and round"),
    ("--threaded-ops", 500, "reserve+settle cycles per throughput run"),
    ("--threads", 64, "threads in this process"),
    ("--procs", 4, "worker processes"),
    ("--proc-threads", 16, "threads per worker process"),
    ("--attempts", 1000, "correctness: reservations tried at once"),
    ("--fit", 250, "correctness: how many of them the budget holds"),
    ("--fresh-trials", 5, "correctness: a new window's first use, trials per store"),
    ("--rounds", 3, "interleaved rounds"),
]


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for flag, default, text in SIZES:
        parser.add_argument(flag, type=int, default=default, help=text)
    parser.add_argument("--stores", default=",".join(STORES[:4]), help=f"of {','.join(STORES)}")
    parser.add_argument("--baseline", default="postgresql")
    parser.add_argument(
        "--pg-url", default=os.environ.get("LLMTALLY_TEST_POSTGRES_URL", PG_DEFAULT)
    )
    parser.add_argument("--redis-url", default=REDIS_DEFAULT)
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.stores.split(",") if n.strip()]
    unknown = set(names) - set(STORES)
    if unknown or args.baseline not in names:
        parser.error(f"--stores: some of {', '.join(STORES)}, including --baseline")
    args.names = names
    return args


def load() -> str:
    return f"{os.cpu_count()} cores, load average " + ", ".join(f"{x:.1f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    began = time.perf_counter()
    with stores(args.names, args.pg_url, args.redis_url) as specs:
        targets = {spec.name: open_target(spec, f"bench-{os.getpid()}") for spec in specs}
        print(f"python {sys.version.split()[0]}, redis-py {redis.__version__}, {load()}")
        for name, target in targets.items():
            print(f"  {name:<10} {target.describe()}", flush=True)
        pool = Processes(specs, args.procs, args.proc_threads)
        benches = {n: Bench(n, targets[n], pool, args) for n in args.names}
        try:
            for r in range(args.rounds):
                order = args.names[r % len(specs) :] + args.names[: r % len(specs)]
                done = [benches[n].round() for n in order]
                print(f"  round {r + 1}: " + "; ".join(done), flush=True)
            lines = [f"correctness: {args.attempts} concurrent reservations, {args.fit} fit:"]
            lines += [line for bench in benches.values() for line in bench.exactly()]
            lines.append(
                f"a window's first use: {args.threads} reservations at once on a new counter "
                f"with room for all, {args.fresh_trials} trials (failures and the last shown):"
            )
            lines += [line for bench in benches.values() for line in bench.first_use()]
        finally:
            pool.close()
            for target in targets.values():
                target.close()
    figures = {name: bench.figures for name, bench in benches.items()}
    lines = (
        latency_lines(figures, args.baseline)
        + throughput_lines(figures, args.baseline, args)
        + lines
    )
    failed = [f"{name}: {check}" for name, f in figures.items() for check in f.checks]
    wrong = sum("WRONG" in line for line in lines) + len(failed)
    lines += [f"invariant failed: {check}" for check in failed]
    lines.append(f"{wrong} checks failed; {time.perf_counter() - began:.0f} s in all; {load()}")
    print("\n".join(lines))
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
