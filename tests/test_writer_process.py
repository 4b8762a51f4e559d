"""``ledger: {writer: process}``: the serving processes hand calls over on disk
(``llmtally.ledger.handover``) and one writer process per ledger inserts them
(``llmtally.ledger.writer_process``).

Through ``llmtally serve --workers 2`` against the replay upstream: every
answered call is stored once (SQLite and PostgreSQL); SIGKILL to the writer
process mid-traffic loses nothing (the supervisor starts it again and it
re-reads the chunks it had not finished); SIGKILL to a serving worker
mid-traffic (durable mode, so an answer is complete only once its call is
fsync'd in the hand-over) loses none of the calls it answered. In process:
chunks are deleted once inserted, a chunk of a dead process is taken, and a
hand-over that refuses writes turns new calls away with 503 at ``max_held``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

from gateway_support import LLMTALLY, ServeRun, free_port, live_gateway, serve_process, wait_up
from llmtally.catalog import Catalog
from llmtally.ledger import open_store
from llmtally.ledger.handover import Handover, handover_dir
from llmtally.ledger.rows import call_to_row
from llmtally.ledger.spool import encode_lines
from llmtally.ledger.writer_process import LOCK_FILE, run_writer_process
from llmtally.usage import Call, new_ulid
from replay_upstream import ReplayUpstream
from test_ledger_support import db_url, pg_base_url  # noqa: F401

CHAT = [
    {"role": "developer", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Hello!"},
]
BODY = {"model": "gpt-4o", "messages": CHAT, "max_tokens": 10}


def _wait(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == parent:
                    found.append(int(entry.name))
    return sorted(found)


def _spool(tmp_path: Path) -> Path:
    return tmp_path / "spool" / "ledger-spool.jsonl"


def _comm(pid: int) -> str:
    return Path(f"/proc/{pid}/comm").read_text().strip()


def _writer_pid(tmp_path: Path) -> int:
    """The pid the writer process wrote into its lock file (0 before it has)."""
    try:
        text = (handover_dir(_spool(tmp_path)) / LOCK_FILE).read_text().strip()
    except FileNotFoundError:  # a writer starting again may not have made it yet
        return 0
    return int(text) if text else 0


@contextlib.contextmanager
def serve_process_writer(
    tmp_path: Path,
    upstream: ReplayUpstream,
    database: str | None = None,
    durable: bool = False,
) -> Iterator[ServeRun]:
    """``llmtally serve --workers 2`` with ``ledger: {writer: process}``."""
    config = tmp_path / "llmtally.yaml"
    config.write_text(
        "upstreams:\n"
        f"  openai: {{kind: openai, base_url: '{upstream.url}'}}\n"
        "routes:\n"
        "  - {match: '*', upstream: openai}\n"
        f"ledger: {{writer: process, durable: {str(durable).lower()}, "
        f"fallback_dir: '{tmp_path / 'fallback'}'}}\n"
    )
    port = free_port()
    database = database or f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    env = {"LLMTALLY_HOME": str(tmp_path / "home"), "LLMTALLY_SPOOL": str(_spool(tmp_path))}
    process = subprocess.Popen(
        [LLMTALLY, "serve", "--port", str(port), "--config", str(config)]
        + ["--database-url", database, "--workers", "2"],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    run = ServeRun(f"http://127.0.0.1:{port}", database, process)
    try:
        wait_up(run.url, process)
        _wait(lambda: len(_children(process.pid)) == 3)  # two workers and the writer
        _wait(lambda: _writer_pid(tmp_path) in _children(process.pid))
        yield run
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
        run.out, run.err = out.decode(), err.decode()


def _traces(database: str) -> list[str]:
    with open_store(database) as store:
        return sorted(c.trace_id or "" for c in store.list(limit=100_000))


class Traffic:
    """``clients`` threads posting calls, each with its own trace id, until stopped;
    a call counts as answered only on a 200."""

    def __init__(self, url: str, clients: int = 8) -> None:
        self.url = url
        self.answered: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._client, args=(i,)) for i in range(clients)]

    def __enter__(self) -> Traffic:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def wait_for(self, more: int) -> None:
        target = len(self.answered) + more
        _wait(lambda: len(self.answered) >= target)

    def _client(self, name: int) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            trace = f"t{name:02d}-{n:05d}"
            # a new connection each time: a worker killed mid-call cuts only that call
            try:
                response = httpx.post(
                    f"{self.url}/v1/chat/completions",
                    json=BODY,
                    headers={"x-llmtally-trace-id": trace},
                    timeout=30,
                )
            except httpx.HTTPError:
                continue  # cut by a killed worker: not answered
            if response.status_code == 200:
                self.answered.append(trace)


def _stop(run: ServeRun) -> None:
    run.process.send_signal(signal.SIGTERM)
    run.process.wait(timeout=60)
    assert run.process.returncode == 0, run.process.stderr.read() if run.process.stderr else ""


def test_calls_through_the_gateway_are_stored_once(
    replay_upstream: ReplayUpstream,
    tmp_path: Path,
    db_url: str,  # noqa: F811
) -> None:
    with serve_process_writer(tmp_path, replay_upstream, db_url) as run:
        with Traffic(run.url) as traffic:
            traffic.wait_for(200)
        _wait(lambda: len(_traces(run.database)) >= len(traffic.answered))
        # /metrics (either worker) reports the writer process's figures: every
        # answered call written by it, the database up, nothing queued
        written = f"llmtally_ledger_written_calls_total {float(len(traffic.answered))}"
        _wait(lambda: written in httpx.get(f"{run.url}/metrics").text)
        scrape = httpx.get(f"{run.url}/metrics").text
        _stop(run)
    assert "llmtally_ledger_database_up 1.0" in scrape
    assert "llmtally_ledger_queued_calls 0.0" in scrape
    assert "Traceback" not in run.err
    assert _traces(run.database) == sorted(traffic.answered)  # each answered call, once
    folder = handover_dir(_spool(tmp_path))
    assert sorted(p.suffix for p in folder.iterdir()) == [".json", ".lock"]  # chunks all gone


def test_the_writer_process_killed_mid_traffic_loses_nothing(
    replay_upstream: ReplayUpstream, tmp_path: Path
) -> None:
    with serve_process_writer(tmp_path, replay_upstream) as run:
        with Traffic(run.url) as traffic:
            traffic.wait_for(100)
            first = _writer_pid(tmp_path)
            named = _comm(first)
            os.kill(first, signal.SIGKILL)
            traffic.wait_for(100)  # answered while no writer runs, or its successor
            _wait(lambda: _writer_pid(tmp_path) not in (0, first))
            second = _writer_pid(tmp_path)
            successor = _comm(second)
            workers = {_comm(pid) for pid in _children(run.process.pid) if pid != second}
            traffic.wait_for(100)
        _stop(run)
    assert f"the ledger writer (pid {first}) ended unexpectedly (killed by signal 9)" in run.err
    assert _traces(run.database) == sorted(traffic.answered)
    # ps and top tell the writer apart from the workers (named by prctl PR_SET_NAME)
    assert named == successor == "llmtally-writer"
    assert workers == {"llmtally"}


def test_a_serving_worker_killed_mid_traffic_loses_none_it_answered(
    replay_upstream: ReplayUpstream, tmp_path: Path
) -> None:
    with serve_process_writer(tmp_path, replay_upstream, durable=True) as run:
        writer = _writer_pid(tmp_path)
        victim = next(pid for pid in _children(run.process.pid) if pid != writer)
        with Traffic(run.url) as traffic:
            traffic.wait_for(100)
            os.kill(victim, signal.SIGKILL)
            _wait(lambda: victim not in _children(run.process.pid))
            _wait(lambda: len(_children(run.process.pid)) == 3)  # started again
            traffic.wait_for(100)
        _stop(run)
    assert f"(pid {victim}) ended unexpectedly (killed by signal 9)" in run.err
    stored = _traces(run.database)
    assert len(stored) == len(set(stored))  # none twice
    assert set(traffic.answered) <= set(stored)  # every answered call
    # and perhaps calls the kill cut before their answer completed (recorded, then
    # the response held for the fsync): at most one per client, 8 clients
    assert len(set(stored) - set(traffic.answered)) <= 8


def _call(trace: str) -> Call:
    return Call(
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


def test_a_dead_processes_open_chunk_is_taken_and_deleted(tmp_path: Path) -> None:
    """A chunk left ``.open`` (its process died: nobody holds its lock) is read;
    a sealed one too; both are deleted once stored, and nothing is stored twice."""
    spool = _spool(tmp_path)
    folder = handover_dir(spool)
    folder.mkdir(parents=True)
    calls = [_call(f"c{i}") for i in range(3)]
    (folder / "00000000000000000001-1-1.open").write_bytes(
        encode_lines([(call_to_row(c), None) for c in calls[:2]])
    )
    # a sealed chunk repeating one call: a writer killed after inserting it, before deleting
    (folder / "00000000000000000002-1-2.rows").write_bytes(
        encode_lines([(call_to_row(c), None) for c in calls[1:]])
    )
    database = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    stop = threading.Event()
    with open_store(database) as store:
        thread = threading.Thread(
            target=run_writer_process, args=(store, spool, stop), kwargs={"fallback_dirs": []}
        )
        thread.start()
        try:
            _wait(lambda: not list(folder.glob("*.open")) and not list(folder.glob("*.rows")))
        finally:
            stop.set()
            thread.join(timeout=30)
    assert _traces(database) == ["c0", "c1", "c2"]  # 2 + 2 lines, c1 twice: 3 calls


def test_a_hand_over_that_refuses_writes_answers_503_at_its_bound(
    replay_upstream: ReplayUpstream, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")  # the hand-over folder would be under a file: every write fails
    handover = Handover(blocker / "spool.jsonl", max_held=2)
    config = {
        "upstreams": {"openai": {"kind": "openai", "base_url": replay_upstream.url}},
        "routes": [{"match": "*", "upstream": "openai"}],
    }
    try:
        with live_gateway(config, Catalog.load(), recorder=handover) as (url, _):
            codes = []
            for _ in range(2):
                codes.append(httpx.post(f"{url}/v1/chat/completions", json=BODY).status_code)
                _wait(lambda: handover.stats().queued >= len(codes))  # held in memory
            refused = httpx.post(f"{url}/v1/chat/completions", json=BODY)
            stats = handover.stats()
    finally:
        handover.close(timeout=0)
    assert codes == [200, 200]
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "5"
    assert (stats.queued, stats.full, stats.spool_up) == (2, True, False)
    assert stats.last_error is not None and "not-a-folder" in stats.last_error


def test_a_start_in_thread_mode_inserts_what_a_process_run_left(
    replay_upstream: ReplayUpstream, tmp_path: Path
) -> None:
    """Back to ``writer: thread`` with chunks still in the hand-over: the start
    inserts them (none twice: c1 is in both chunks, as after a writer killed
    between its insert and the chunk's deletion) and deletes the chunks."""
    spool = _spool(tmp_path)
    folder = handover_dir(spool)
    folder.mkdir(parents=True)
    calls = [_call(f"left-{i}") for i in range(3)]
    (folder / "00000000000000000001-1-1.open").write_bytes(
        encode_lines([(call_to_row(c), None) for c in calls[:2]])
    )
    (folder / "00000000000000000002-1-2.rows").write_bytes(
        encode_lines([(call_to_row(c), None) for c in calls[1:]])
    )
    config = (
        "upstreams:\n"
        f"  openai: {{kind: openai, base_url: '{replay_upstream.url}'}}\n"
        "routes:\n"
        "  - {match: '*', upstream: openai}\n"
    )
    with serve_process(tmp_path, config, env={"LLMTALLY_SPOOL": str(spool)}) as run:
        _wait(lambda: len(_traces(run.database)) >= 3)
        _wait(lambda: not list(folder.glob("*.open")) and not list(folder.glob("*.rows")))
    assert _traces(run.database) == ["left-0", "left-1", "left-2"]  # 2 + 2 lines, one shared
