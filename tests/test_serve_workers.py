"""``llmtally serve --workers N`` as real processes on a SQLite ledger (the
budget also on PostgreSQL), against the replay upstream: both workers answer on
the one port, every call is recorded once, a key's budget is shared, SIGTERM
drains, a killed worker is started again, a killed parent's workers drain, and
leftover spools of other runs are replayed.

Which worker answered is read from the kernel, not from the gateway: each
request goes on a client of one keep-alive connection, and the server end of
that connection is a socket that one worker holds (``/proc/<pid>/fd`` names its
inode, ``/proc/net/tcp`` the connection's ports); each response is checked to
have come on that same connection. Connections are opened until each worker
has accepted its half, since which worker accepts is up to the kernel and
asyncio (in a burst one worker may take them all).

Budget figures, worked out by hand (tests/test_budget_gateway.py): the
``openai_chat`` transcript on gpt-4o with ``max_tokens=10`` is 19 prompt tokens
x $2.50/1M + 10 output tokens x $10/1M = $0.0001475, worst case and real; a
$0.0015 budget takes 10 of them ($0.001475; 11 would be $0.0016225).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import os
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from gateway_support import LLMTALLY, ServeRun, free_port, wait_up
from llmtally.budgets.book import BudgetBook
from llmtally.budgets.counters import BudgetCounters
from llmtally.ledger import open_store
from llmtally.ledger.fallback import Fallback
from llmtally.ledger.keys import KeyStore
from llmtally.ledger.rows import call_to_row
from llmtally.ledger.spool import Pair, Spool
from llmtally.usage import Call, new_ulid
from replay_upstream import ReplayUpstream
from test_ledger_support import db_url, pg_base_url  # noqa: F401

CHAT = [
    {"role": "developer", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Hello!"},
]
BODY = {"model": "gpt-4o", "messages": CHAT, "max_tokens": 10}
EACH = Decimal("0.0001475")


@contextlib.contextmanager
def serve_workers(
    tmp_path: Path, upstream: ReplayUpstream, database: str | None = None, workers: int = 2
) -> Iterator[ServeRun]:
    """``llmtally serve --workers N`` on a ledger (SQLite in ``tmp_path`` unless
    given) with its own spool; SIGTERM at the end unless it ended already."""
    config = tmp_path / "llmtally.yaml"
    config.write_text(
        "upstreams:\n"
        f"  openai: {{kind: openai, base_url: '{upstream.url}'}}\n"
        "routes:\n"
        "  - {match: '*', upstream: openai}\n"
        f"ledger: {{fallback_dir: '{tmp_path / 'fallback'}'}}\n"
        "http: {keep_alive_s: 120}\n"  # the test's connections stay open between uses
    )
    port = free_port()
    database = database or f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    env = {"LLMTALLY_HOME": str(tmp_path / "home"), "LLMTALLY_SPOOL": str(_spool(tmp_path))}
    process = subprocess.Popen(
        [LLMTALLY, "serve", "--port", str(port), "--config", str(config)]
        + ["--database-url", database, "--workers", str(workers)],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    run = ServeRun(f"http://127.0.0.1:{port}", database, process)
    try:
        wait_up(run.url, process)
        _wait(lambda: len(_children(process.pid)) == (workers if workers > 1 else 0))
        yield run
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
        run.out, run.err = out.decode(), err.decode()


def _spool(tmp_path: Path) -> Path:
    return tmp_path / "spool" / "ledger-spool.jsonl"


def _wait(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _children(parent: int) -> list[int]:
    """The processes whose parent is ``parent`` (the workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                # pid (comm) state ppid ...: comm may hold spaces, so split after ')'
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == parent:
                    found.append(int(entry.name))
    return sorted(found)


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in (Path("/proc") / str(pid) / "fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    return inodes


def _owners(port: int, workers: list[int]) -> dict[int, int]:
    """The worker holding each established connection to ``port``, by the
    connection's client port."""
    owner = {inode: pid for pid in workers for inode in _socket_inodes(pid)}
    found = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
        if int(local.split(":")[1], 16) == port and state == "01" and inode in owner:
            found[int(remote.split(":")[1], 16)] = owner[inode]  # 01: ESTABLISHED
    return found


def _client_port(response: httpx.Response) -> int:
    return int(response.extensions["network_stream"].get_extra_info("client_addr")[1])


def _traces(database: str) -> list[str]:
    with open_store(database) as store:
        return sorted(c.trace_id or "" for c in store.list(limit=100_000))


@dataclasses.dataclass
class Pinned:
    client: httpx.AsyncClient  # of one connection
    port: int  # its client end
    worker: int  # the pid of the worker that accepted it


@dataclasses.dataclass
class Burst:
    answered: dict[str, int] = dataclasses.field(default_factory=dict)  # trace id -> worker
    refused: Counter[int] = dataclasses.field(default_factory=Counter)  # budget 429s by worker
    store_busy: int = 0  # 503s for a budget store that did not answer in time, sent again

    def by_worker(self) -> Counter[int]:
        return Counter(self.answered.values()) + self.refused


async def _pinned(run: ServeRun, each: int, headers: dict[str, str]) -> list[Pinned]:
    """Clients of one connection each, ``each`` per worker: opened ten at a time
    until every worker has accepted ``each`` (the spares are closed)."""
    workers = _children(run.process.pid)
    kept: dict[int, list[Pinned]] = {pid: [] for pid in workers}
    spare: list[httpx.AsyncClient] = []
    for _ in range(200):
        if min(map(len, kept.values())) >= each:
            break
        clients = [
            httpx.AsyncClient(
                base_url=run.url,
                headers=headers,
                timeout=60,
                limits=httpx.Limits(max_connections=1, keepalive_expiry=300),
            )
            for _ in range(10)
        ]
        answers = await asyncio.gather(*(c.get("/v1/models") for c in clients))
        owners = _owners(int(run.url.rsplit(":", 1)[1]), workers)
        for client, answer in zip(clients, answers, strict=True):
            assert answer.status_code == 200, answer.text
            pinned = Pinned(client, _client_port(answer), owners[_client_port(answer)])
            if len(kept[pinned.worker]) < each:
                kept[pinned.worker].append(pinned)
            else:
                spare.append(client)
    await asyncio.gather(*(client.aclose() for client in spare))
    assert min(map(len, kept.values())) == each, {w: len(c) for w, c in kept.items()}
    return [pinned for pair in zip(*kept.values(), strict=True) for pinned in pair]  # alternate


async def _send(pinned: Pinned, trace: str, burst: Burst) -> None:
    for _ in range(10):
        answer = await pinned.client.post(
            "/v1/chat/completions", json=BODY, headers={"x-llmtally-trace-id": trace}
        )
        assert _client_port(answer) == pinned.port  # on the connection that worker accepted
        if answer.status_code == 503 and "budget store" in answer.text:
            # SQLite under load: a reservation that waited past the busy timeout
            # is refused whole (nothing reserved), fail closed: send it again
            burst.store_busy += 1
            continue
        if answer.status_code == 429:
            assert answer.json()["error"]["code"] == "insufficient_quota", answer.text
            burst.refused[pinned.worker] += 1
            return
        assert answer.status_code == 200, answer.text
        burst.answered[trace] = pinned.worker
        return
    raise AssertionError("the budget store stayed busy")


async def _burst(run: ServeRun, n: int, key: str | None = None) -> Burst:
    """``n`` requests at once, each with its own trace id, half on each worker."""
    headers = {"authorization": f"Bearer {key}"} if key else {}
    clients = await _pinned(run, n // 2, headers)
    burst = Burst()
    try:
        traces = [f"w-{i:03d}-{uuid.uuid4().hex[:6]}" for i in range(len(clients))]
        await asyncio.gather(*map(_send, clients, traces, [burst] * len(clients)))
    finally:
        await asyncio.gather(*(pinned.client.aclose() for pinned in clients))
    return burst


def test_two_workers_answer_on_one_port_and_record_each_call_once(
    replay_upstream: ReplayUpstream, tmp_path: Path
) -> None:
    with serve_workers(tmp_path, replay_upstream) as run:
        workers = _children(run.process.pid)
        burst = asyncio.run(_burst(run, 200))
        with open_store(run.database) as store, store.engine.connect() as conn:
            holders = conn.exec_driver_sql("SELECT id FROM budget_holders").all()
        holder_pids = sorted(int(row[0].split(":")[1]) for row in holders)  # host:pid:ulid
        run.process.send_signal(signal.SIGTERM)
        run.process.wait(timeout=60)
    assert burst.by_worker() == {workers[0]: 100, workers[1]: 100}  # both answered
    assert len(burst.answered) == 200
    assert holder_pids == workers  # each worker has its own budget holder
    assert run.process.returncode == 0, run.err
    assert f"2 workers on one port (pids {workers[0]}, {workers[1]})" in run.err
    assert _traces(run.database) == sorted(burst.answered)  # each call once, none lost
    assert _children(run.process.pid) == []


def test_a_budget_is_shared_by_the_workers(
    replay_upstream: ReplayUpstream,
    tmp_path: Path,
    db_url: str,  # noqa: F811
) -> None:
    with open_store(db_url) as store:
        made = KeyStore(store).create("burst", Decimal("0.0015"), "day")
    with serve_workers(tmp_path, replay_upstream, db_url) as run:
        burst = asyncio.run(_burst(run, 200, made.secret))
        run.process.send_signal(signal.SIGTERM)
        run.process.wait(timeout=60)
    admitted = Counter(burst.answered.values())
    print(f"admitted by worker: {dict(admitted)}; store busy, sent again: {burst.store_busy}")
    assert run.process.returncode == 0, run.err
    # each worker answered 100, enough to admit 10 on its own: with counters of
    # their own they would admit up to 20 together
    assert sorted(burst.by_worker().values()) == [100, 100]
    assert len(burst.answered) == 10  # what fits, on both workers together
    assert len(replay_upstream.served) == 10  # the 190 refused never went upstream
    with open_store(db_url) as store:
        paid = [c for c in store.list(limit=1000) if c.status == 200]
        [budget] = [b for b in BudgetBook(store).all() if b.subject == made.key.id]
        state = BudgetCounters(store).state([budget])[budget.id]
    assert sorted(c.trace_id or "" for c in paid) == sorted(burst.answered)
    assert sum((c.cost.total for c in paid if c.cost), Decimal(0)) == 10 * EACH  # 0.001475
    assert state == (Decimal("0.001475"), Decimal(0))  # spent, nothing left reserved


def test_sigterm_mid_traffic_drains_every_worker(
    replay_upstream: ReplayUpstream, tmp_path: Path
) -> None:
    replay_upstream.delay = 0.01
    answered: list[str] = []
    stop = threading.Event()

    def client(url: str, name: int) -> None:
        with httpx.Client(base_url=url, timeout=30) as http:
            for n in range(100_000):
                trace = f"t{name:02d}-{n:05d}"
                try:
                    response = http.post(
                        "/v1/chat/completions", json=BODY, headers={"x-llmtally-trace-id": trace}
                    )
                except httpx.HTTPError:
                    return  # the gateway stopped taking calls
                if response.status_code == 200:
                    answered.append(trace)
                if stop.is_set():
                    return

    with serve_workers(tmp_path, replay_upstream) as run:
        clients = [threading.Thread(target=client, args=(run.url, i)) for i in range(16)]
        for thread in clients:
            thread.start()
        _wait(lambda: len(answered) >= 200)
        run.process.send_signal(signal.SIGTERM)  # calls in flight on both workers
        run.process.wait(timeout=60)
        stop.set()
        for thread in clients:
            thread.join(timeout=30)
    assert run.process.returncode == 0, run.err
    assert "Traceback" not in run.err
    assert _traces(run.database) == sorted(answered)  # every answered call, once


def test_a_killed_worker_is_started_again(replay_upstream: ReplayUpstream, tmp_path: Path) -> None:
    with serve_workers(tmp_path, replay_upstream) as run:
        first, second = _children(run.process.pid)
        os.kill(second, signal.SIGKILL)
        _wait(
            lambda: (
                len(_children(run.process.pid)) == 2 and second not in _children(run.process.pid)
            )
        )
        [again] = set(_children(run.process.pid)) - {first}
        wait_up(run.url, run.process)
        burst = asyncio.run(_burst(run, 50))
        run.process.send_signal(signal.SIGTERM)
        run.process.wait(timeout=60)
    assert burst.by_worker() == {first: 25, again: 25}  # the new worker answers too
    assert run.process.returncode == 0, run.err
    assert (
        f"worker 1 (pid {second}) ended unexpectedly (killed by signal 9); "
        f"started it again as pid {again}"
    ) in run.err
    assert _traces(run.database) == sorted(burst.answered)


def test_workers_drain_when_the_parent_is_killed(
    replay_upstream: ReplayUpstream, tmp_path: Path
) -> None:
    with serve_workers(tmp_path, replay_upstream) as run:
        workers = _children(run.process.pid)
        burst = asyncio.run(_burst(run, 100))
        run.process.send_signal(signal.SIGKILL)  # no time to pass anything on
        run.process.wait(timeout=30)
        # the kernel sends the workers SIGTERM: they drain and end
        _wait(lambda: not any(Path(f"/proc/{pid}").exists() for pid in workers))
    assert burst.by_worker() == {workers[0]: 50, workers[1]: 50}
    assert _traces(run.database) == sorted(burst.answered)


def _left_call(trace: str) -> Pair:
    call = Call(
        id=new_ulid(),
        started_at=dt.datetime.now(dt.UTC),
        provider="openai",
        model_requested="gpt-4o",
        model_served="gpt-4o",
        endpoint="/v1/chat/completions",
        status=200,
        latency_ms=12.0,
        trace_id=trace,
    )
    return call_to_row(call), None


@pytest.mark.parametrize(
    ("workers", "spools", "fallback"),
    [
        # a run without --workers left its spool, one with --workers 6 worker 3's spool
        # and worker 5's fallback file; worker 1's journal is its successor's own
        (2, ["", ".w3", ".w1.journal"], ".w5"),
        # --workers 1 is one process as before, which replays what workers left too
        (1, [".w0", ".w3.journal", ".journal"], ".w1"),
    ],
    ids=["workers-2", "workers-1"],
)
def test_leftover_spools_of_other_runs_are_replayed(
    replay_upstream: ReplayUpstream,
    tmp_path: Path,
    workers: int,
    spools: list[str],
    fallback: str,
) -> None:
    spool = _spool(tmp_path)
    for suffix in spools:
        Spool(spool.with_name(spool.name + suffix)).append([_left_call(f"left{suffix}")])
    folder = tmp_path / "fallback"  # the config's ledger.fallback_dir
    folder.mkdir()
    Fallback(spool.with_name(spool.name + fallback), [folder]).write([_left_call("fallback")])
    expected = sorted([*(f"left{suffix}" for suffix in spools), "fallback"])
    with serve_workers(tmp_path, replay_upstream, workers=workers) as run:
        _wait(lambda: len(_traces(run.database)) == 4)
    assert run.process.returncode == 0, run.err
    assert _traces(run.database) == expected
    assert list(spool.parent.iterdir()) == [] and list(folder.iterdir()) == []


@pytest.mark.parametrize("workers", ["0", "65"])
def test_workers_out_of_range_are_refused(tmp_path: Path, workers: str) -> None:
    done = subprocess.run(
        [LLMTALLY, "serve", "--port", str(free_port()), "--workers", workers],
        env={**os.environ, "LLMTALLY_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stdout == ""  # refused before the banner
    assert (
        f"error: --workers {workers}: give the number of gateway processes to run on the "
        "port, from 1 to 64"
    ) in " ".join(done.stderr.split())
