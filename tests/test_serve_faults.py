"""``llmtally serve`` as a real process under faults: the database and the spool
failing together, then SIGTERM; SIGKILL in the durable mode.

The database fault is a real lock on the SQLite ledger held by this test
(``BEGIN EXCLUSIVE``): the writer's inserts time out. The spool fault is a
spool path under a regular file (``LLMTALLY_SPOOL``): every write to it fails
with an OSError, as on a full disk.
"""

from __future__ import annotations

import re
import signal
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx

from gateway_support import serve_process
from llmtally.ledger import open_store
from replay_upstream import ReplayUpstream

SPOOL_UP = "llmtally_ledger_spool_up"
BODY = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}]}


def _config(upstream: ReplayUpstream, ledger: str) -> str:
    return (
        "upstreams:\n"
        f"  openai: {{kind: openai, base_url: '{upstream.url}'}}\n"
        "routes:\n"
        "  - {match: '*', upstream: openai}\n"
        f"ledger: {ledger}\n"
    )


def _metric(page: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} (\S+)$", page, re.MULTILINE)
    assert match, f"{name} not in /metrics"
    return float(match.group(1))


def _wait(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _trace_ids(database: str) -> list[str]:
    with open_store(database) as store:
        return sorted(c.trace_id or "" for c in store.list(limit=100_000))


def _send_all(url: str, count: int, threads: int) -> dict[str, httpx.Response]:
    """``count`` calls from ``threads`` clients, each with its own trace id."""
    answers: dict[str, httpx.Response] = {}
    ids = [f"fault-{i:03d}-{uuid.uuid4().hex[:6]}" for i in range(count)]

    def client(mine: list[str]) -> None:
        with httpx.Client(base_url=url, timeout=30) as http:
            for trace in mine:
                answers[trace] = http.post(
                    "/v1/chat/completions", json=BODY, headers={"x-llmtally-trace-id": trace}
                )

    workers = [threading.Thread(target=client, args=(ids[i::threads],)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return answers


def test_database_and_spool_down_then_sigterm_lose_no_answered_call(
    replay_upstream: ReplayUpstream, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-folder"
    env = {"LLMTALLY_SPOOL": str(blocker / "spool.jsonl")}
    fallback = tmp_path / "fallback"
    fallback.mkdir()
    config = _config(
        replay_upstream, f"{{max_held_calls: 20, exit_retry_s: 1, fallback_dir: '{fallback}'}}"
    )
    holder: sqlite3.Connection | None = None
    try:
        with serve_process(tmp_path, config, env) as run:
            blocker.write_text("the spool's folder is a file: every spool write fails\n")
            holder = sqlite3.connect(run.database.removeprefix("sqlite:///"), isolation_level=None)
            holder.execute("BEGIN EXCLUSIVE")
            answers = _send_all(run.url, 60, threads=6)
            # the writer has tried both (a database insert waits up to 2 s first)
            _wait(lambda: _metric(httpx.get(f"{run.url}/metrics").text, SPOOL_UP) == 0)
            metrics = httpx.get(f"{run.url}/metrics").text
            run.process.send_signal(signal.SIGTERM)
            run.process.wait(timeout=60)
        answered = sorted(t for t, r in answers.items() if r.status_code == 200)
        refused = {t: r for t, r in answers.items() if r.status_code == 503}
        assert len(answered) + len(refused) == 60
        # at the bound (20 held) new calls were refused; the calls in flight then (at
        # most one per client) were still answered and held
        assert 20 <= len(answered) <= 26 and refused
        for response in refused.values():
            assert response.headers["retry-after"] == "5"
            error = response.json()["error"]  # OpenAI's error shape
            assert error["type"] and "cannot record calls" in error["message"]
        assert len(replay_upstream.served) == len(answered)  # refused before the upstream
        assert _metric(metrics, 'llmtally_refused_calls_total{reason="ledger_full"}') == len(
            refused
        )
        assert _metric(metrics, "llmtally_ledger_queued_calls") == len(answered)
        assert _metric(metrics, "llmtally_ledger_full") == 1
        assert run.process.returncode == 0, run.err
        assert "ledger full" in run.err and "written to" in run.err
        assert f"{len(answered)} calls in fallback files, 0 lost" in run.err
        assert len(list(fallback.iterdir())) >= 1
    finally:
        if holder is not None:
            holder.execute("COMMIT")
            holder.close()
    # recovery: the database and the disk are back; the next start replays everything
    blocker.unlink()
    with serve_process(tmp_path, config, env) as again:
        _wait(lambda: len(_trace_ids(again.database)) >= len(answered))
    assert _trace_ids(again.database) == answered  # each answered call once, no refused one
    assert list(fallback.iterdir()) == []


def test_durable_mode_sigkill_under_load_loses_no_answered_call(
    replay_upstream: ReplayUpstream, tmp_path: Path
) -> None:
    replay_upstream.delay = 0.002
    answered: list[str] = []
    stop = threading.Event()

    def client(url: str, name: int) -> None:
        with httpx.Client(base_url=url, timeout=10) as http:
            for n in range(100_000):
                if stop.is_set():
                    return
                trace = f"k{name:02d}-{n:05d}"
                try:
                    response = http.post(
                        "/v1/chat/completions", json=BODY, headers={"x-llmtally-trace-id": trace}
                    )
                    response.json()  # the whole answer arrived
                except (httpx.HTTPError, ValueError):
                    return  # the gateway is gone
                if response.status_code == 200:
                    answered.append(trace)

    config = _config(replay_upstream, "{durable: true}")
    try:
        with serve_process(tmp_path, config) as run:
            workers = [threading.Thread(target=client, args=(run.url, i)) for i in range(16)]
            for worker in workers:
                worker.start()
            _wait(lambda: len(answered) >= 300)
            run.process.send_signal(signal.SIGKILL)  # mid-traffic: no drain, no goodbye
            run.process.wait(timeout=30)
            stop.set()
            for worker in workers:
                worker.join(timeout=20)
    finally:
        stop.set()
        replay_upstream.delay = 0.0
    assert run.process.returncode == -signal.SIGKILL
    seen = set(answered)
    with serve_process(tmp_path, _config(replay_upstream, "{}")) as again:  # replays the journal
        _wait(lambda: seen <= set(_trace_ids(again.database)))
    stored = _trace_ids(again.database)
    assert len(stored) == len(set(stored))  # each call once
    # calls whose answer had not completed may be there too: at most one per client
    assert len(stored) - len(seen) <= 16
