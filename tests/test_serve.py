"""``llmtally serve`` as a real process: calls land in the ledger, SIGTERM drains it."""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path

import httpx
import openai
import pytest
from typer.testing import CliRunner

from gateway_support import free_port, serve_process
from llmtally.cli import app
from llmtally.ledger import open_store
from replay_upstream import ReplayUpstream

# Both HTTP servers (``http.server``): uvicorn's, and the raw one (issue 16).
SERVERS = pytest.mark.parametrize("server", ["uvicorn", "raw"])


def _config(upstream: ReplayUpstream, server: str = "uvicorn") -> str:
    return (
        "upstreams:\n"
        f"  openai: {{kind: openai, base_url: '{upstream.url}'}}\n"
        "routes:\n"
        "  - {match: '*', upstream: openai}\n"
        f"http: {{server: {server}}}\n"
    )


@SERVERS
def test_serve_records_every_call_and_drains_on_sigterm(
    replay_upstream: ReplayUpstream, tmp_path: Path, server: str
) -> None:
    hi = [{"role": "user", "content": "Hi"}]
    with serve_process(tmp_path, _config(replay_upstream, server)) as run:
        client = openai.OpenAI(base_url=f"{run.url}/v1", api_key="sk-test", max_retries=0)
        for _ in range(20):
            client.chat.completions.create(model="gpt-4o", messages=hi)
        stream = client.chat.completions.create(  # openai_chat_stream_usage's request
            model="gpt-4o-mini", messages=hi, stream=True, stream_options={"include_usage": True}
        )
        chunks = list(stream)
        client.close()
    assert run.process.returncode == 0, run.err
    assert chunks[-1].usage is not None  # the SSE stream relayed to its last event
    port = run.url.rsplit(":", 1)[1]
    assert f"llmtally gateway: http://localhost:{port}" in run.out
    with open_store(run.database) as store:
        calls = store.list(limit=100)
    assert len(calls) == 21 and len({c.id for c in calls}) == 21
    assert all(c.status == 200 and c.cost is not None for c in calls)
    assert sum(c.ttft_ms is not None for c in calls) == 1  # the stream's first token
    listed = CliRunner().invoke(
        app, ["calls", "--json"], env={"LLMTALLY_DATABASE_URL": run.database}
    )
    assert listed.exit_code == 0, listed.output
    assert len(json.loads(listed.stdout)) == 21


def test_serve_refuses_a_public_address(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["serve", "--host", "0.0.0.0"], env={"LLMTALLY_HOME": str(tmp_path)}
    )
    assert result.exit_code == 2
    assert "loopback only" in result.stderr


@SERVERS
def test_sigterm_under_load_keeps_every_completed_call(
    replay_upstream: ReplayUpstream, tmp_path: Path, server: str
) -> None:
    replay_upstream.delay = 0.005  # a little time in flight per call
    completed: list[int] = []
    stop = threading.Event()

    def client(url: str) -> None:
        with httpx.Client(base_url=url, timeout=10) as http:
            while not stop.is_set():
                try:
                    response = http.post(
                        "/v1/chat/completions",
                        json={"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}]},
                    )
                except httpx.HTTPError:
                    return  # the gateway has stopped taking requests
                if response.status_code == 200:
                    completed.append(1)

    try:
        with serve_process(tmp_path, _config(replay_upstream, server)) as run:
            workers = [threading.Thread(target=client, args=(run.url,)) for _ in range(8)]
            for worker in workers:
                worker.start()
            while len(completed) < 100:
                time.sleep(0.01)
            run.process.send_signal(signal.SIGTERM)  # mid-traffic
            run.process.wait(timeout=60)
            stop.set()
            for worker in workers:
                worker.join(timeout=10)
    finally:
        stop.set()
        replay_upstream.delay = 0.0
    assert run.process.returncode == 0, run.err
    with open_store(run.database) as store:
        rows = store.count()
    # every call a client got an answer for is in the ledger (a call answered just
    # as the connection closed may be recorded without its client seeing it)
    assert rows >= len(completed) >= 100
    assert rows - len(completed) <= 8


def test_an_alert_rule_on_a_missing_budget_stops_serve_with_one_line(tmp_path: Path) -> None:
    config = tmp_path / "llmtally.yaml"
    config.write_text("alerts: {rules: [{name: gone, budget: no-such-budget}]}\n")
    for workers in ("1", "2"):
        result = CliRunner().invoke(
            app,
            ["serve", "--port", str(free_port()), "--config", str(config), "--workers", workers,
             "--database-url", f"sqlite:///{tmp_path / 'ledger.sqlite3'}"],
            env={"LLMTALLY_HOME": str(tmp_path)},
        )  # fmt: skip
        assert result.exit_code == 1, result.output
        assert result.stderr.startswith(
            "error: the config's alerts: alert rule 'gone': no budget 'no-such-budget'"
        ), result.stderr
        assert "Traceback" not in result.output
