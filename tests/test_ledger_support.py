"""Fixtures and helpers the ledger tests share (imported by tests/test_ledger_*.py).

Every store test runs on SQLite (a temporary file) and on a real PostgreSQL
server (``LLMTALLY_TEST_POSTGRES_URL``, default 127.0.0.1:5432/test), each
test in its own schema, dropped afterwards. An unreachable server fails the
tests: the ledger is not tested on PostgreSQL by skipping it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from llmtally.catalog.price import Price, Rates
from llmtally.ledger import Store, open_store
from llmtally.meter import cost
from llmtally.usage import Call, ImageUnits, Usage, new_ulid

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BACKENDS = ["sqlite", "postgresql"]


def libpq_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_base_url() -> str:
    url = os.environ.get("LLMTALLY_TEST_POSTGRES_URL", PG_DEFAULT)
    try:
        with psycopg.connect(libpq_url(url), connect_timeout=3):
            pass
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"the ledger tests need a PostgreSQL server at {url} ({exc}). Start it with "
            "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` "
            "or point LLMTALLY_TEST_POSTGRES_URL at one.",
            pytrace=False,
        )
    return url


@contextlib.contextmanager
def pg_schema(base_url: str) -> Iterator[str]:
    """A fresh schema; yields a URL whose search_path is that schema."""
    schema = f"llmtally_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(libpq_url(base_url), autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(libpq_url(base_url), autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
        return
    with pg_schema(request.getfixturevalue("pg_base_url")) as url:
        yield url


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    with open_store(db_url) as opened:
        yield opened


def price() -> Price:
    return Price(
        provider="openai",
        model="gpt-4o",
        effective=dt.date(2024, 10, 2),
        source="https://openai.com/api/pricing",
        catalog_version="2026-11-01",
        # <= 4 places per 1M tokens: every per-token amount has <= 10 places
        rates=Rates(
            input=Decimal("2.5123"),
            output=Decimal("10.0007"),
            cache_read=Decimal("1.2561"),
            cache_write=Decimal("3.1111"),
            reasoning=Decimal("12.0009"),
            input_audio=Decimal("40.0001"),
        ),
        images={("1024x1024", "hd"): Decimal("0.08")},
    )


def full_call(**changes: object) -> Call:
    """A call with every field set, and a real cost from the meter."""
    usage = Usage(
        input_tokens=123_457,
        cache_read_tokens=20_001,
        cache_write_tokens=3_003,
        cache_write_1h_tokens=1_001,
        input_audio_tokens=77,
        output_tokens=4_321,
        reasoning_tokens=1_234,
        images=(ImageUnits(2, "1024x1024", "hd"),),
        service_tier="standard",
        source="estimated",
    )
    fields: dict[str, object] = {
        "id": new_ulid(),
        "started_at": dt.datetime(2026, 11, 2, 9, 30, 15, 123456, tzinfo=dt.UTC),
        "provider": "openai",
        "model_requested": "gpt-4o",
        "model_served": "gpt-4o-2024-08-06",
        "endpoint": "/v1/chat/completions",
        "status": 200,
        "latency_ms": 1234.567,
        "usage": usage,
        "cost": cost(usage, price()),
        "error": None,
        "ttft_ms": 210.25,
        "output_tokens_per_s": 87.125,
        "user": "alice",
        "feature": "search",
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
        "parent_id": "00f067aa0ba902b7",
        "tags": ("beta", "eu"),
        "key_id": "key_01",
        "input_system_tokens": 500,
        "input_tools_tokens": 1_200,
        "input_history_tokens": 100_000,
        "input_latest_user_tokens": 21_757,
    }
    fields.update(changes)
    return Call(**fields)  # type: ignore[arg-type]


def simple_call(index: int = 0, **changes: object) -> Call:
    fields: dict[str, object] = {
        "id": new_ulid(),
        "started_at": dt.datetime(2026, 11, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=index),
        "provider": "openai",
        "model_requested": "gpt-4o-mini",
        "model_served": "gpt-4o-mini",
        "endpoint": "/v1/chat/completions",
        "status": 200,
        "latency_ms": 100.0 + index,
        "usage": Usage(input_tokens=10 + index, output_tokens=5),
        "cost_error": "no price for openai/gpt-4o-mini in this test",
    }
    fields.update(changes)
    return Call(**fields)  # type: ignore[arg-type]


class Forwarder:
    """A TCP forwarder on 127.0.0.1 between a client and a server; ``stop()``
    cuts every connection and refuses new ones, ``start()`` restores it on the
    same port."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        listener = socket.create_server(("127.0.0.1", self.port))
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._spawn(self._accept, listener)

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            self._spawn(self._pump, client, upstream)
            self._spawn(self._pump, upstream, client)

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
        while True:  # until no thread is left (an accept may race with the stop)
            with self._lock:
                sockets, self._sockets = self._sockets, []
                threads, self._threads = self._threads, []
            if not sockets and not threads:
                break
            for sock in sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            for thread in threads:
                thread.join(5)
            for sock in sockets:
                sock.close()
        if listener is not None:
            listener.close()
