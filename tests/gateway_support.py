"""What the gateway tests share: a recorder that keeps calls, and a live gateway."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from llmtally.catalog import Catalog
from llmtally.gateway.app import Gateway, Recorder
from llmtally.gateway.config import GatewayConfig
from llmtally.ledger.rows import CallBodies
from llmtally.usage import Call


class ListRecorder:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.bodies: list[CallBodies | None] = []

    def submit(self, call: Call, bodies: CallBodies | None = None) -> None:
        self.calls.append(call)
        self.bodies.append(bodies)

    def next_call(self, before: int) -> Call:
        """The call recorded after ``before`` calls: the gateway records after it
        has answered, so a test waits for it (the request path never does)."""
        for _ in range(500):
            if len(self.calls) > before:
                return self.calls[before]
            time.sleep(0.01)
        raise AssertionError("the gateway recorded no call")


def openai_and_claude(url: str) -> dict[str, Any]:
    """A gateway config: ``claude-*`` to an Anthropic upstream at ``url``, the rest
    to an OpenAI one at the same ``url`` (a replay server answers both)."""
    return {
        "upstreams": {
            "openai": {"kind": "openai", "base_url": url},
            "anthropic": {"kind": "anthropic", "base_url": url},
        },
        "routes": [
            {"match": "claude-*", "upstream": "anthropic"},
            {"match": "*", "upstream": "openai"},
        ],
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def live_gateway(
    config: dict[str, Any],
    catalog: Catalog | None = None,
    recorder: Recorder | None = None,
    port: int | None = None,
    **parts: Any,
) -> Iterator[tuple[str, ListRecorder]]:
    """A gateway on 127.0.0.1 (on ``port``, else a free one; uvicorn in a thread) and
    the recorder it writes to (a new ListRecorder unless one is given, e.g. the
    ledger's writer); ``parts`` go to ``Gateway`` (``gate=``, ``budgets=``)."""
    keeper = ListRecorder()
    app = Gateway(
        GatewayConfig.model_validate(config), recorder or keeper, catalog or Catalog.load(), **parts
    )
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(500):
        if server.started:
            break
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}", keeper
    finally:
        server.should_exit = True
        thread.join(timeout=10)


LLMTALLY = str(Path(sys.executable).parent / "llmtally")


@dataclasses.dataclass
class ServeRun:
    """``llmtally serve`` as a child process; ``out``/``err`` are filled when it ends."""

    url: str
    database: str
    process: subprocess.Popen[bytes]
    out: str = ""
    err: str = ""


def wait_up(url: str, process: subprocess.Popen[bytes]) -> None:
    for _ in range(600):
        if process.poll() is not None:
            raise AssertionError(f"llmtally serve exited with {process.returncode}")
        try:
            httpx.get(f"{url}/v1/models", timeout=0.5)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise AssertionError("llmtally serve did not start")


@contextlib.contextmanager
def serve_process(
    tmp_path: Path, config_yaml: str, env: dict[str, str] | None = None
) -> Iterator[ServeRun]:
    """Run ``llmtally serve`` with this config and a SQLite ledger in ``tmp_path``
    (and these extra environment variables); on exit it gets SIGTERM (unless it
    already ended) and is waited for."""
    config = tmp_path / "llmtally.yaml"
    config.write_text(config_yaml)
    port = free_port()
    database = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    process = subprocess.Popen(
        [LLMTALLY, "serve", "--port", str(port), "--config", str(config)]
        + ["--database-url", database],
        env={**os.environ, "LLMTALLY_HOME": str(tmp_path / "home"), **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    run = ServeRun(f"http://127.0.0.1:{port}", database, process)
    try:
        wait_up(run.url, process)
        yield run
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
        run.out, run.err = out.decode(), err.decode()
