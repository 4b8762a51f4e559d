"""Keys are never stored or logged: a client's provider key, its gateway key and
the gateway's own upstream key go through every path (calls that succeed,
stream, fail upstream with an error that echoes the key, are cut mid-stream, go
to the spool while the database is down), with every logger at DEBUG
(SQLAlchemy's included); then the database (every table, and the SQLite file's
raw bytes), the spool and the logs are searched for them.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from gateway_support import free_port
from llmtally.catalog import Catalog
from llmtally.gateway.app import Gateway
from llmtally.gateway.config import GatewayConfig, HttpLimits
from llmtally.gateway.http_limits import server_config
from llmtally.gateway.keys import KeyGate
from llmtally.ledger import LedgerWriter, Store, open_store
from llmtally.ledger.keys import KeyStore
from replay_upstream import ReplayUpstream
from test_ledger_support import Forwarder, db_url, pg_base_url  # noqa: F401

# The client's Anthropic key (a shape the built-in patterns know), and the
# gateway's own OpenAI upstream key in a shape no pattern knows (Azure's: 32 hex).
PROVIDER_KEY = "sk-ant-api03-Qm9vYmFyQmF6UXV4Y2xpZW50S2V5MDEyMzQ1Ng"
UPSTREAM_KEY = "3f9a1c0e5b7d4a2f8e6c1b0a9d8f7e6c"
MARKER = "marker-6d1f0c, a prompt that is stored but never logged"
CLAUDE = "claude-sonnet-4-20250514"


class Captured(logging.Handler):
    """Every record, formatted with its traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []
        self.names: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))
        self.names.add(record.name)


@contextlib.contextmanager
def everything_logged(extra: tuple[str, ...] = ()) -> Iterator[Captured]:
    """Root, SQLAlchemy and ``extra`` loggers (uvicorn's do not propagate) at DEBUG."""
    handler = Captured()
    names = ("", "sqlalchemy", *extra)
    saved = [(logging.getLogger(n), logging.getLogger(n).level) for n in names]
    for logger, _ in saved:
        logger.setLevel(logging.DEBUG)
        logger.addHandler(handler)
    try:
        yield handler
    finally:
        for logger, level in saved:
            logger.removeHandler(handler)
            logger.setLevel(level)


@contextlib.contextmanager
def gateway_on(app: Gateway) -> Iterator[str]:
    """``app`` on the uvicorn config ``llmtally serve`` runs, in a thread."""
    port = free_port()
    config = server_config(app, "127.0.0.1", port, HttpLimits())
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextlib.contextmanager
def ledger_with_outage(url: str, tmp_path: Path) -> Iterator[tuple[Store, Callable[[bool], None]]]:
    """The store the gateway writes to, and ``down(True/False)`` that makes its
    database unavailable and back: PostgreSQL behind a TCP forwarder that is
    stopped, SQLite locked by another connection."""
    if make_url(url).get_backend_name() == "postgresql":
        target = make_url(url)
        forwarder = Forwarder((target.host or "127.0.0.1", target.port or 5432))
        forwarder.start()
        via = target.set(port=forwarder.port).render_as_string(hide_password=False)
        try:
            with open_store(via) as store:
                yield store, lambda down: forwarder.stop() if down else forwarder.start()
        finally:
            forwarder.stop()
        return
    holder = sqlite3.connect(make_url(url).database or "", isolation_level=None)
    try:
        with open_store(url) as store:
            yield store, lambda down: holder.execute("BEGIN EXCLUSIVE" if down else "COMMIT")
    finally:
        holder.close()


def _config(upstream: str) -> GatewayConfig:
    return GatewayConfig.model_validate(
        {
            "upstreams": {
                "openai": {"kind": "openai", "base_url": upstream, "api_key_env": "TEST_KEY"},
                "anthropic": {"kind": "anthropic", "base_url": upstream},  # the client's key
            },
            "routes": [
                {"match": "claude-*", "upstream": "anthropic"},
                {"match": "*", "upstream": "openai"},
            ],
        }
    )


class Client:
    """The calls a client makes, with its gateway key and its own Anthropic key."""

    def __init__(self, url: str, gateway_key: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=20)
        self.gateway_key = gateway_key
        self.prompt = f"{MARKER}; my keys are {PROVIDER_KEY} and {gateway_key}"

    def openai(self, stream: bool = False) -> httpx.Response:
        body = {
            "model": "gpt-4o-mini" if stream else "gpt-4o",
            "stream": stream,
            "messages": [{"role": "user", "content": self.prompt}],
        }
        headers = {"authorization": f"Bearer {self.gateway_key}"}
        return self.http.post("/v1/chat/completions", json=body, headers=headers)

    def anthropic(self) -> httpx.Response:
        body = {
            "model": CLAUDE,
            "max_tokens": 10,
            "messages": [{"role": "user", "content": self.prompt}],
        }
        headers = {"authorization": f"Bearer {self.gateway_key}", "x-api-key": PROVIDER_KEY}
        return self.http.post("/v1/messages", json=body, headers=headers)


def _echoing(upstream: ReplayUpstream, status: int, client: Client) -> list[httpx.Response]:
    upstream.echo_key_status = status
    try:
        return [client.openai(), client.anthropic()]
    finally:
        upstream.echo_key_status = None


def _wait(check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 20
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _database_text(store: Store) -> str:
    """Every row of every table, as text."""
    parts = []
    with store.engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            rows = conn.execute(text(f'SELECT * FROM "{table}"')).all()
            parts.append(f"{table}: {rows!r}")
    return "\n".join(parts)


def _files_text(folder: Path) -> str:
    return "\n".join(
        path.read_bytes().decode("latin-1") for path in sorted(folder.rglob("*")) if path.is_file()
    )


def test_no_key_is_stored_or_logged_on_any_path(
    db_url: str,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TEST_KEY", UPSTREAM_KEY)
    spool_dir = tmp_path / "spool"
    with (
        everything_logged(("uvicorn", "uvicorn.error", "uvicorn.access")) as logs,
        ReplayUpstream() as upstream,
        ledger_with_outage(db_url, tmp_path) as (store, down),
    ):
        gateway_key = KeyStore(store).create("team").secret
        gate = KeyGate(KeyStore(store))
        gate.refresh()
        writer = LedgerWriter(
            store,
            spool_dir / "spool.jsonl",
            flush_interval=0.01,
            db_timeout=1.0,
            retry_interval=0.05,
        )
        app = Gateway(_config(upstream.url), writer, Catalog.load(), gate=gate)
        with gateway_on(app) as url:
            client = Client(url, gateway_key)
            answers = [client.openai(), client.anthropic(), client.openai(stream=True)]
            answers += _echoing(upstream, 401, client) + _echoing(upstream, 500, client)
            upstream.cut_after = 2
            with pytest.raises(httpx.RemoteProtocolError):  # the stream breaks mid-way
                client.openai(stream=True)
            upstream.cut_after = None
            _wait(lambda: writer.stats().submitted == 8)
            assert writer.flush(20)
            before = writer.stats().spooled  # none, unless the database was slow
            down(True)
            answers += [client.openai(), client.anthropic()]
            answers += _echoing(upstream, 401, client)
            _wait(lambda: writer.stats().submitted == 12)
            assert writer.flush(20) and writer.stats().spooled == before + 4
            spooled = _files_text(spool_dir)
            down(False)
            client.http.close()
        _wait(lambda: not writer.spool.pending())  # replayed into the database
        assert writer.close(20)
        assert writer.stats().replayed == writer.stats().spooled >= 4
        stored = _database_text(store)
        raw = _files_text(tmp_path) if db_url.startswith("sqlite") else ""
    out, err = capfd.readouterr()
    logged = "\n".join([*logs.lines, out, err])

    # the calls happened as meant, and the searches look where the text is
    assert [a.status_code for a in answers] == [200] * 3 + [401] * 2 + [500] * 2 + [200] * 2 + [
        401
    ] * 2
    assert "Incorrect API key provided" in stored and "[redacted]" in stored
    assert stored.count(MARKER) == 12 and MARKER in spooled
    assert MARKER in raw or not db_url.startswith("sqlite")  # the file holds text as is
    assert "upstream stream cut" in stored
    assert {"sqlalchemy.engine.Engine.llmtally", "llmtally.ledger.writer"} <= logs.names
    for secret in (PROVIDER_KEY, gateway_key, UPSTREAM_KEY):
        assert secret not in stored
        assert secret not in raw
        assert secret not in spooled
        assert secret not in logged
    # no SQL parameters and no rows in the log
    assert MARKER not in logged
    assert "[SQL parameters hidden due to hide_parameters=True]" in logged
    assert not any(" Row (" in line or " Col (" in line for line in logs.lines)
