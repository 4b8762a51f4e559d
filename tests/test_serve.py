"""``llmtally serve`` as a real process: calls land in the ledger, SIGTERM drains it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import openai
from typer.testing import CliRunner

from gateway_support import free_port
from llmtally.cli import app
from llmtally.ledger import open_store
from replay_upstream import ReplayUpstream

LLMTALLY = str(Path(sys.executable).parent / "llmtally")


def _wait_up(url: str, process: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        if process.poll() is not None:
            raise AssertionError(
                f"llmtally serve exited: {process.stderr.read() if process.stderr else ''!r}"
            )
        try:
            httpx.get(f"{url}/v1/models", timeout=0.5)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise AssertionError("llmtally serve did not start")


def test_serve_records_every_call_and_drains_on_sigterm(
    replay_upstream: ReplayUpstream, tmp_path: Path
) -> None:
    config = tmp_path / "llmtally.yaml"
    config.write_text(
        "upstreams:\n"
        f"  openai: {{kind: openai, base_url: '{replay_upstream.url}'}}\n"
        "routes:\n"
        "  - {match: '*', upstream: openai}\n"
    )
    port = free_port()
    database = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    env = {**os.environ, "LLMTALLY_HOME": str(tmp_path / "home")}
    process = subprocess.Popen(
        [LLMTALLY, "serve", "--port", str(port), "--config", str(config)]
        + ["--database-url", database],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_up(url, process)
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="sk-test", max_retries=0)
        for _ in range(20):
            client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "Hi"}]
            )
        client.close()
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err.decode()
    assert f"llmtally gateway: http://localhost:{port}" in out.decode()
    with open_store(database) as store:
        calls = store.list(limit=100)
    assert len(calls) == 20 and len({c.id for c in calls}) == 20
    assert all(c.status == 200 and c.cost is not None for c in calls)
    listed = CliRunner().invoke(app, ["calls", "--json"], env={"LLMTALLY_DATABASE_URL": database})
    assert listed.exit_code == 0, listed.output
    assert len(json.loads(listed.stdout)) == 20


def test_serve_refuses_a_public_address(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["serve", "--host", "0.0.0.0"], env={"LLMTALLY_HOME": str(tmp_path)}
    )
    assert result.exit_code == 2
    assert "loopback only" in result.stderr


def test_sigterm_under_load_keeps_every_completed_call(
    replay_upstream: ReplayUpstream, tmp_path: Path
) -> None:
    replay_upstream.delay = 0.005  # a little time in flight per call
    config = tmp_path / "llmtally.yaml"
    config.write_text(
        "upstreams:\n"
        f"  openai: {{kind: openai, base_url: '{replay_upstream.url}'}}\n"
        "routes:\n"
        "  - {match: '*', upstream: openai}\n"
    )
    port = free_port()
    database = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    process = subprocess.Popen(
        [LLMTALLY, "serve", "--port", str(port), "--config", str(config)]
        + ["--database-url", database],
        env={**os.environ, "LLMTALLY_HOME": str(tmp_path / "home")},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    completed: list[int] = []
    stop = threading.Event()

    def client() -> None:
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
        _wait_up(url, process)
        workers = [threading.Thread(target=client) for _ in range(8)]
        for worker in workers:
            worker.start()
        while len(completed) < 100:
            time.sleep(0.01)
        process.send_signal(signal.SIGTERM)  # mid-traffic
        _, err = process.communicate(timeout=60)
        stop.set()
        for worker in workers:
            worker.join(timeout=10)
    finally:
        stop.set()
        replay_upstream.delay = 0.0
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err.decode()
    with open_store(database) as store:
        rows = store.count()
    # every call a client got an answer for is in the ledger (a call answered just
    # as the connection closed may be recorded without its client seeing it)
    assert rows >= len(completed) >= 100
    assert rows - len(completed) <= 8
