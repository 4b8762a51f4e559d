"""Instrumented calls forwarded to a running gateway (``POST /llmtally/v1/calls``).

The gateway here is the real ``Gateway`` app under uvicorn with a real SQLite
ledger behind its ``LedgerWriter`` and gateway keys required; the instrumented
process uses the official ``openai`` SDK against the replay upstream
(tests/replay_upstream.py, transcripts in the shape of
https://platform.openai.com/docs/api-reference/chat/create).

Costs worked out by hand from the catalog's list prices (USD per 1M tokens):

- ``openai_chat``: gpt-4o, 19 prompt + 10 completion tokens at $2.50 / $10.00:
  19 x 2.5/1M + 10 x 10/1M = $0.0000475 + $0.0001 = $0.0001475;
- ``openai_chat_stream_usage``: gpt-4o-mini, 10 + 6 tokens at $0.15 / $0.60:
  $0.0000015 + $0.0000036 = $0.0000051;
- ``simple_call(i)`` rows (tests/test_ledger_support.py): gpt-4o-mini, 10 + i
  input and 5 output tokens: i=0: 10 x 0.15/1M + 5 x 0.6/1M = $0.0000015 +
  $0.000003 = $0.0000045; i=1: $0.00000165 + $0.000003 = $0.00000465.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

import llmtally
from gateway_support import free_port, live_gateway
from instrument_support import catalog, upstream  # noqa: F401
from llmtally import instrument as inst
from llmtally.catalog import Catalog
from llmtally.gateway.keys import KeyGate
from llmtally.instrument.forward import Forwarder
from llmtally.ledger import LedgerWriter, Store, open_store
from llmtally.ledger.keys import KeyStore
from llmtally.ledger.rows import call_to_row, row_to_json
from llmtally.ledger.spool import Spool
from llmtally.usage import Call
from replay_upstream import ReplayUpstream
from test_ledger_support import simple_call

CONFIG = {  # no call is proxied: the upstream is never asked
    "upstreams": {"openai": {"kind": "openai", "base_url": "http://127.0.0.1:9"}},
    "routes": [{"match": "*", "upstream": "openai"}],
}
CALLS = "/llmtally/v1/calls"
JSON = {"content-type": "application/json"}
CHAT = [
    {"role": "developer", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Hello!"},
]
HELLO = [{"role": "user", "content": "Say hello."}]
CHAT_COST, STREAM_COST = Decimal("0.0001475"), Decimal("0.0000051")


@dataclasses.dataclass
class Ledger:
    """The gateway's ledger, and the gateway key the forwarders use."""

    store: Store
    writer: LedgerWriter
    secret: str
    key_id: str

    def rows(self) -> dict[str, Call]:
        assert self.writer.flush(10)
        return {call.id: call for call in self.store.list(limit=1000)}

    def wait_rows(self, n: int, timeout: float = 20.0) -> dict[str, Call]:
        deadline = time.monotonic() + timeout
        while len(rows := self.rows()) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        return rows

    def auth(self, secret: str | None = None) -> dict[str, str]:
        return {**JSON, "authorization": f"Bearer {secret or self.secret}"}


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with open_store(f"sqlite:///{tmp_path / 'gateway.sqlite3'}") as store:
        made = KeyStore(store).create("forwarder")
        writer = LedgerWriter(store, tmp_path / "gateway-spool.jsonl", flush_interval=0.01)
        yield Ledger(store, writer, made.secret, made.key.id)
        writer.close()


@contextlib.contextmanager
def serve(ledger: Ledger, port: int | None = None, writer: Any = None) -> Iterator[str]:
    """The gateway on 127.0.0.1:``port`` (uvicorn in a thread), keys required."""
    gate = KeyGate(KeyStore(ledger.store))
    gate.refresh()
    recorder = writer or ledger.writer
    with live_gateway(CONFIG, Catalog.load(), recorder, port, gate=gate) as (url, _):
        yield url


def _client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key="sk-test-0123456789", max_retries=0)


def _chat(client: openai.OpenAI) -> Any:
    return client.chat.completions.create(
        model="gpt-4o", messages=CHAT, extra_headers={"x-llmtally-feature": "greet"}
    )


def _stream(client: openai.OpenAI) -> list[Any]:
    made = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=HELLO,
        stream=True,
        stream_options={"include_usage": True},
    )
    return [chunk.model_dump() for chunk in made]


def _batch(*calls: Call) -> bytes:
    return json.dumps({"calls": [row_to_json(call_to_row(c)) for c in calls]}).encode()


def _metric(url: str, line: str) -> float:
    for row in httpx.get(f"{url}/metrics").text.splitlines():
        if row.startswith(line + " "):
            return float(row.split()[-1])
    return 0.0


def _spooled(path: Path) -> set[str]:
    """Ids in a forwarder's spool (and the part of it being replayed)."""
    ids: set[str] = set()
    for part in (path.with_name(path.name + ".replaying"), path):
        with contextlib.suppress(FileNotFoundError):
            ids.update(row["id"] for _, (row, _) in Spool(part).read(part))
    return ids


class _Tee:
    """Hands each call to a local ledger writer and to the forwarder alike."""

    def __init__(self, *writers: Any) -> None:
        self.writers = writers

    def submit(self, call: Call) -> None:
        for writer in self.writers:
            writer.submit(call)


def test_a_forwarded_call_is_the_row_a_local_ledger_records(
    upstream: ReplayUpstream,  # noqa: F811
    catalog: Catalog,  # noqa: F811
    ledger: Ledger,
    tmp_path: Path,
) -> None:
    with serve(ledger) as url, open_store(f"sqlite:///{tmp_path / 'local.sqlite3'}") as local:
        writer = LedgerWriter(local, tmp_path / "local-spool.jsonl", flush_interval=0.01)
        forwarder = Forwarder(url, ledger.secret, tmp_path / "forward-spool-1.jsonl")
        assert llmtally.instrument(writer=_Tee(writer, forwarder), catalog=catalog)
        try:
            with _client(upstream.url) as client:
                _chat(client)
                assert len(_stream(client)) == 6
            assert inst.flush()
        finally:
            llmtally.uninstrument()
        assert forwarder.close(10) and writer.close(10)
        ours = {call.id: call for call in local.list(limit=10)}
        theirs = ledger.rows()
    assert ours.keys() == theirs.keys() and len(ours) == 2
    for call_id, call in ours.items():
        mine, gateways = call_to_row(call), call_to_row(theirs[call_id])
        assert mine.pop("key_id") is None
        assert gateways.pop("key_id") == ledger.key_id  # the authenticating key's
        assert mine == gateways
    costs = sorted(c.cost.total for c in theirs.values() if c.cost is not None)
    assert costs == [STREAM_COST, CHAT_COST]
    assert forwarder.counts["sent"] == 2 and forwarder.counts["spooled"] == 0


def test_instrument_with_a_gateway_url_sends_calls_to_its_ledger(
    upstream: ReplayUpstream,  # noqa: F811
    catalog: Catalog,  # noqa: F811
    ledger: Ledger,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The README's set-up: two environment variables and ``instrument()``."""
    spool = tmp_path / f"forward-spool-{os.getpid()}.jsonl"
    with serve(ledger) as url:
        monkeypatch.setenv("LLMTALLY_GATEWAY_URL", url)
        monkeypatch.setenv("LLMTALLY_GATEWAY_KEY", ledger.secret)
        assert llmtally.instrument(catalog=catalog, spool_path=spool)
        try:
            with _client(upstream.url) as client, llmtally.attribute(user="ana"):
                answer = _chat(client)
        finally:
            llmtally.uninstrument()
        [call] = ledger.rows().values()
    assert answer.usage is not None and answer.usage.total_tokens == 29
    assert (call.usage.input_tokens, call.usage.output_tokens) == (19, 10)
    assert call.cost is not None and call.cost.total == CHAT_COST
    assert (call.user, call.feature, call.key_id) == ("ana", "greet", ledger.key_id)
    assert not _spooled(spool)


def test_calls_made_while_the_gateway_is_down_arrive_once_it_is_up(
    upstream: ReplayUpstream,  # noqa: F811
    catalog: Catalog,  # noqa: F811
    ledger: Ledger,
    tmp_path: Path,
) -> None:
    port = free_port()
    spool = tmp_path / f"forward-spool-{os.getpid()}.jsonl"
    before = inst.internal_errors()
    url = f"http://127.0.0.1:{port}"
    assert llmtally.instrument(
        gateway_url=url, gateway_key=ledger.secret, catalog=catalog, spool_path=spool
    )
    try:
        with _client(upstream.url) as client:
            answers = [_chat(client), _chat(client)]  # the application is unaffected
        assert inst.flush()
        for _ in range(100):
            if len(spooled := _spooled(spool)) == 2:
                break
            time.sleep(0.02)
        assert len(spooled) == 2
        with serve(ledger, port):
            rows = ledger.wait_rows(2)
            assert rows.keys() == spooled
    finally:
        llmtally.uninstrument()
    assert [a.usage.total_tokens for a in answers] == [29, 29]
    assert ledger.rows().keys() == spooled  # once each
    assert {c.cost.total for c in rows.values() if c.cost} == {CHAT_COST}
    assert not _spooled(spool)
    assert inst.internal_errors() == before  # a gateway that is down is no error


def test_a_batch_sent_twice_stores_each_row_once_repriced_and_keyed(ledger: Ledger) -> None:
    # the sender says a cost is unknown and names another key: the gateway decides both
    first, second = simple_call(0), simple_call(1, key_id="someone-else")
    body = _batch(first, second)
    with serve(ledger) as url:
        plain = httpx.post(url + CALLS, content=body, headers=ledger.auth())
        zipped = httpx.post(
            url + CALLS,
            content=gzip.compress(body),
            headers={**ledger.auth(), "content-encoding": "gzip"},
        )
        assert (plain.status_code, plain.json()) == (200, {"accepted": 2})
        assert (zipped.status_code, zipped.json()) == (200, {"accepted": 2})  # the retry
        rows = ledger.rows()
        assert _metric(url, 'llmtally_ingest_batches_total{result="accepted"}') == 2
        assert _metric(url, 'llmtally_ingest_calls_total{result="accepted"}') == 4
    assert rows.keys() == {first.id, second.id}
    assert {c.key_id for c in rows.values()} == {ledger.key_id}
    assert rows[first.id].cost is not None and rows[first.id].cost.total == Decimal("0.0000045")
    assert rows[second.id].cost is not None
    assert rows[second.id].cost.total == Decimal("0.00000465")
    assert rows[first.id].cost_error is None


def _bad_bodies(good: dict[str, Any]) -> list[tuple[str, bytes, dict[str, str], int, str]]:
    """(what, body, extra headers, status, what the error says)."""

    def with_row(**changes: Any) -> bytes:
        bad = {k: v for k, v in good.items() if changes.get(k, 0) is not None}
        bad.update({k: v for k, v in changes.items() if v is not None})
        return json.dumps({"calls": [good, bad]}).encode()

    deep = b'{"calls": ' + b"[" * 100 + b"]" * 100 + b"}"
    bomb = gzip.compress(b" " * (5 * 1024 * 1024))
    many = json.dumps({"calls": [{}] * 10_001}).encode()
    gz = {"content-encoding": "gzip"}
    return [
        ("not JSON", b"{not json", {}, 400, "malformed JSON"),
        ("too deep", deep, {}, 400, "nests deeper than 64"),
        ("not a batch", b'{"calls": "all of them"}', {}, 400, '{"calls": [row, ...]}'),
        ("too big", b" " * (4 * 1024 * 1024 + 1), {}, 413, "over the limit of 4194304"),
        ("gzip bomb", bomb, gz, 413, "decompressed body is over the limit"),
        ("too many", many, {}, 413, "10001 calls in one batch; the limit is 10000"),
        ("no provider", with_row(provider=None), {}, 400, "missing field 'provider'"),
        ("negative", with_row(input_tokens=-5), {}, 400, "input_tokens must be >= 0"),
        ("cache > input", with_row(cache_read_tokens=50), {}, 400, "exceeds input_tokens"),
        ("amount", with_row(audio_seconds="lots"), {}, 400, "audio_seconds is not an amount"),
        ("naive time", with_row(started_at="2026-11-01T00:00:00"), {}, 400, "UTC offset"),
        ("bad id", with_row(id="1; DROP TABLE calls"), {}, 400, "id must be a ULID"),
        ("brotli", b"{}", {"content-encoding": "br"}, 415, "'br' is not supported"),
        ("text", b"{}", {"content-type": "text/plain"}, 415, "takes application/json"),
    ]


def test_bad_bodies_get_the_right_status_and_a_json_error_and_write_nothing(
    ledger: Ledger,
) -> None:
    good = row_to_json(call_to_row(simple_call(0)))
    cases = _bad_bodies(good)
    with serve(ledger) as url:
        for what, body, extra, status, says in cases:
            answer = httpx.post(url + CALLS, content=body, headers={**ledger.auth(), **extra})
            assert answer.status_code == status, (what, answer.text)
            assert says in answer.json()["error"]["message"], (what, answer.text)
            assert "Traceback" not in answer.text
        row_error = httpx.post(url + CALLS, content=cases[6][1], headers=ledger.auth())
        assert row_error.json()["error"]["message"].startswith(f"calls[1] (id '{good['id']}')")
        for headers, status in (
            (JSON, 401),  # no key
            (ledger.auth("llt-not-a-key"), 401),
        ):
            answer = httpx.post(url + CALLS, content=_batch(simple_call(0)), headers=headers)
            assert answer.status_code == status and "error" in answer.json()
        assert httpx.get(url + CALLS, headers=ledger.auth()).status_code == 405
        page = {**ledger.auth(), "origin": "https://evil.example"}  # a web page's request
        foreign = httpx.post(url + CALLS, content=_batch(simple_call(0)), headers=page)
        assert foreign.status_code == 403 and "error" in foreign.json()  # JSON, as an API path
        refused = _metric(url, 'llmtally_ingest_batches_total{result="refused"}')
        rejected = _metric(url, 'llmtally_ingest_calls_total{result="rejected"}')
        assert not ledger.rows()
    assert refused == len(cases) + 1 + 2 + 1  # the cases, the row error again, keys, GET
    assert rejected == 2 * 7  # the batches of two rows with a bad row: 6 cases and once more


def test_a_full_ledger_answers_503_and_the_forwarder_keeps_the_rows(
    ledger: Ledger, tmp_path: Path
) -> None:
    full = LedgerWriter(ledger.store, tmp_path / "full-spool.jsonl", max_held=0)
    spool = tmp_path / "forward-spool-2.jsonl"
    try:
        with serve(ledger, writer=full) as url:
            answer = httpx.post(url + CALLS, content=_batch(simple_call(0)), headers=ledger.auth())
            assert answer.status_code == 503 and answer.headers["retry-after"] == "5"
            forwarder = Forwarder(url, ledger.secret, spool)
            forwarder.submit(simple_call(1))
            assert forwarder.flush(10)
            assert forwarder.close(0.5)
    finally:
        full.close()
    assert len(_spooled(spool)) == 1 and forwarder.counts["spooled"] == 1
    assert not ledger.rows()


def test_rows_the_gateway_refuses_are_set_aside_and_the_others_arrive(
    ledger: Ledger, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    before = inst.internal_errors()
    spool = tmp_path / "forward-spool-3.jsonl"
    calls = [simple_call(i) for i in range(4)]
    calls[2] = simple_call(2, latency_ms=-1.0)  # a bug in the sender: refused with a 400
    with serve(ledger) as url:
        forwarder = Forwarder(url, ledger.secret, spool)
        for call in calls:
            forwarder.submit(call)
        assert forwarder.flush(10) and forwarder.close(10)
        wrong = Forwarder(url, "llt-not-a-key", tmp_path / "forward-spool-4.jsonl")
        wrong.submit(simple_call(9))
        assert wrong.flush(10) and wrong.close(10)
    rows = ledger.rows()
    assert rows.keys() == {calls[0].id, calls[1].id, calls[3].id}
    rejects = spool.with_name(spool.name + ".rejected")
    assert [row["id"] for _, (row, _) in Spool(rejects).read(rejects)] == [calls[2].id]
    assert (forwarder.counts["sent"], forwarder.counts["rejected"]) == (3, 1)
    assert (wrong.counts["sent"], wrong.counts["rejected"]) == (0, 1)  # 401: not retried
    assert not _spooled(spool)
    assert inst.internal_errors() == before + 2  # counted once per refused batch
    logged = [r for r in caplog.records if "forward_rejected" in r.getMessage()]
    assert len(logged) == 2  # one line each, with the gateway's reason, no traceback
    assert all(r.exc_info is None for r in logged)
    assert "HTTP 401" in logged[1].getMessage() and "kept in" in logged[1].getMessage()


_APP = """
import os, openai, llmtally
llmtally.instrument()  # LLMTALLY_GATEWAY_URL and LLMTALLY_GATEWAY_KEY
client = openai.OpenAI(base_url=os.environ["UPSTREAM"] + "/v1", api_key="sk-test", max_retries=0)
for _ in range(int(os.environ["CALLS"])):
    client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Hi"}])
llmtally.uninstrument(timeout=5)
print(os.getpid())
"""


def _app(replay: str, gateway: str, key: str, home: Path, calls: int) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "UPSTREAM": replay,
        "LLMTALLY_GATEWAY_URL": gateway,
        "LLMTALLY_GATEWAY_KEY": key,
        "LLMTALLY_HOME": str(home),
        "CALLS": str(calls),
    }
    command = [sys.executable, "-c", _APP]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)


def test_several_processes_forwarding_at_once_store_every_call_once(
    upstream: ReplayUpstream,  # noqa: F811
    ledger: Ledger,
    tmp_path: Path,
) -> None:
    with serve(ledger) as url:
        apps = [_app(upstream.url, url, ledger.secret, tmp_path / "home", 5) for _ in range(3)]
        for app in apps:
            app.communicate(timeout=60)
            assert app.returncode == 0
        rows = ledger.rows()
    # openai_chat answers gpt-4o with 19 + 10 tokens: $0.0001475 each
    assert len(rows) == 15
    assert {(c.cost.total if c.cost else None, c.key_id) for c in rows.values()} == {
        (CHAT_COST, ledger.key_id)
    }
    assert not list((tmp_path / "home").glob("forward-spool-*.jsonl"))


def test_a_spool_left_by_a_process_that_ended_while_the_gateway_was_down_is_sent_next_start(
    upstream: ReplayUpstream,  # noqa: F811
    ledger: Ledger,
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    down = f"http://127.0.0.1:{free_port()}"
    app = _app(upstream.url, down, ledger.secret, home, 2)
    out, _ = app.communicate(timeout=60)
    assert app.returncode == 0
    left = home / f"forward-spool-{int(out)}.jsonl"
    ids = _spooled(left)
    assert len(ids) == 2
    with serve(ledger) as url:
        forwarder = Forwarder(url, ledger.secret, home / f"forward-spool-{os.getpid()}.jsonl")
        rows = ledger.wait_rows(2)
        assert forwarder.close(10)
    assert rows.keys() == ids
    assert not list(home.glob("forward-spool-*.jsonl*"))
