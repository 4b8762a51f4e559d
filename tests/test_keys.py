"""Gateway keys and budgets: the ledger's keys, the gate, the real SDKs, the CLI."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

import gateway_support
from gateway_support import ListRecorder, live_gateway
from llmtally.catalog import Catalog
from llmtally.cli import app
from llmtally.gateway.app import Gateway
from llmtally.gateway.budget_gate import BudgetGate
from llmtally.gateway.keys import Admitted, Denied, KeyGate, split_key
from llmtally.gateway.serve import check_host
from llmtally.ledger import Store, open_store
from llmtally.ledger.keys import KeyStore, KeyStoreError, hash_key, period_bounds
from llmtally.ledger.schema import gateway_keys
from test_ledger_support import db_url, full_call, pg_base_url, store  # noqa: F401

UTC = dt.UTC
DAY1 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # a Monday


# -- the ledger's keys ------------------------------------------------------------


def test_create_list_get_and_revoke(store: Store) -> None:  # noqa: F811
    keys = KeyStore(store)
    assert keys.list() == [] and not keys.any_active()
    made = keys.create("alice", Decimal("12.5"), "week", now=DAY1)
    other = keys.create("bob")
    assert made.secret.startswith("llt-") and len(made.secret) == 36
    assert made.key.prefix == made.secret[:8] and made.key.budget_usd == Decimal("12.5")
    assert other.key.budget_usd is None and other.key.period == "month"
    assert [k.name for k in keys.list()] == ["alice", "bob"] and keys.any_active()
    assert keys.get_by_hash(hash_key(made.secret)) == made.key
    assert keys.get_by_hash(hash_key(made.secret + "x")) is None
    assert keys.get("alice") == keys.get(made.key.id) == made.key
    with pytest.raises(KeyStoreError, match="exists already"):
        keys.create("alice")
    revoked = keys.revoke("alice", now=DAY1 + dt.timedelta(hours=1))
    assert revoked.revoked_at == DAY1 + dt.timedelta(hours=1) and not revoked.active
    assert keys.revoke(made.key.id).revoked_at == revoked.revoked_at  # stays at its first time
    assert [k.name for k in keys.list(include_revoked=False)] == ["bob"]
    keys.revoke("bob")
    assert not keys.any_active()
    with pytest.raises(KeyStoreError, match="no gateway key"):
        keys.revoke("carol")


def test_only_a_hash_of_the_key_is_stored(store: Store, db_url: str) -> None:  # noqa: F811
    made = KeyStore(store).create("alice", Decimal("1"))
    with store.engine.connect() as conn:
        rows = [dict(row) for row in conn.execute(select(gateway_keys)).mappings()]
    assert len(rows) == 1
    assert rows[0]["key_hash"] == hashlib.sha256(made.secret.encode()).hexdigest()
    assert all(made.secret[8:] not in str(value) for value in rows[0].values())
    if db_url.startswith("sqlite"):
        path = Path(db_url.removeprefix("sqlite:///"))
        files = [path, path.with_name(path.name + "-wal")]
        raw = b"".join(f.read_bytes() for f in files if f.exists())
        assert made.secret[8:].encode() not in raw and made.key.prefix.encode() in raw


def test_spent_sums_cost_exactly_per_key_and_since(store: Store) -> None:  # noqa: F811
    keys = KeyStore(store)
    key_id = keys.create("alice").key.id
    calls = [full_call(key_id=key_id, started_at=DAY1 + dt.timedelta(hours=h)) for h in (0, 1, 30)]
    store.insert_many([*calls, full_call(key_id="someone-else")])
    total = sum((c.cost.total for c in calls if c.cost), Decimal(0))
    assert keys.spent(key_id, DAY1) == total
    assert keys.spent(key_id, DAY1 + dt.timedelta(days=1)) == calls[2].cost.total  # type: ignore[union-attr]
    assert keys.spent(key_id, DAY1 + dt.timedelta(days=9)) == Decimal(0)


def test_periods_are_utc_calendar_day_iso_week_and_month() -> None:
    now = dt.datetime(2026, 12, 31, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-2)))
    assert period_bounds("day", now) == (
        dt.datetime(2027, 1, 1, tzinfo=UTC),
        dt.datetime(2027, 1, 2, tzinfo=UTC),
    )
    assert period_bounds("week", DAY1 + dt.timedelta(days=6))[0] == DAY1.replace(hour=0)
    assert period_bounds("month", dt.datetime(2026, 12, 5, tzinfo=UTC)) == (
        dt.datetime(2026, 12, 1, tzinfo=UTC),
        dt.datetime(2027, 1, 1, tzinfo=UTC),
    )


# -- the gate, with an injected clock ------------------------------------------------


def _bearer(secret: str) -> dict[str, str]:
    return {"authorization": f"Bearer {secret}", "content-type": "application/json"}


def test_split_key_takes_the_gateway_key_out_of_every_header() -> None:
    headers = {"authorization": "Bearer llt-abc", "x-api-key": "llt-abc", "x-other": "1"}
    assert split_key(headers) == ("llt-abc", {"x-other": "1"})
    assert split_key({"authorization": "Bearer sk-provider"}) == (
        None,
        {"authorization": "Bearer sk-provider"},
    )


def test_the_gate_refreshes_on_its_own(store: Store) -> None:  # noqa: F811
    keys = KeyStore(store)
    with KeyGate(keys, refresh_s=0.02) as gate:
        assert gate.admit({}) == Admitted(None, {})  # no key yet: open (loopback)
        made = keys.create("alice")
        for _ in range(500):
            if isinstance(gate.admit({}), Denied):
                break
            time.sleep(0.01)
        assert isinstance(gate.admit({}), Denied)
        assert gate.admit({"x-api-key": made.secret}) == Admitted(made.key.id, {})
        keys.revoke("alice")
        for _ in range(500):
            if isinstance(gate.admit({}), Admitted):
                break
            time.sleep(0.01)
        assert gate.admit({}) == Admitted(None, {})  # every key revoked: open again
    required = KeyGate(keys, require_key=True)  # as on a public address
    required.refresh()
    assert isinstance(required.admit({}), Denied)


# -- the gateway with the real SDKs --------------------------------------------------

OPENAI_REPLY = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1677652288,
    "model": "gpt-4o-2024-08-06",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 1200, "completion_tokens": 30, "total_tokens": 1230},
}
ANTHROPIC_REPLY = {
    "id": "msg_01",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-6",
    "content": [{"type": "text", "text": "Hi!"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 20, "output_tokens": 12},
}


class _Upstream(BaseHTTPRequestHandler):
    seen: list[dict[str, str]] = []

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        self.rfile.read(int(self.headers["content-length"]))
        _Upstream.seen.append({k.lower(): v for k, v in self.headers.items()})
        reply = ANTHROPIC_REPLY if self.path == "/v1/messages" else OPENAI_REPLY
        raw = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def upstream() -> Iterator[str]:
    _Upstream.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


@contextlib.contextmanager
def gated_gateway(
    upstream: str,
    gate: KeyGate,
    monkeypatch: pytest.MonkeyPatch,
    budgets: BudgetGate | None = None,
) -> Iterator[tuple[str, ListRecorder]]:
    monkeypatch.setenv("LLMTALLY_TEST_UPSTREAM_KEY", "sk-upstream-secret")
    made = functools.partial(Gateway, gate=gate, budgets=budgets)
    monkeypatch.setattr(gateway_support, "Gateway", made)
    kind = {"base_url": upstream, "api_key_env": "LLMTALLY_TEST_UPSTREAM_KEY"}
    config = {
        "upstreams": {
            "openai": {"kind": "openai", **kind},
            "anthropic": {"kind": "anthropic", **kind},
        },
        "routes": [
            {"match": "claude-*", "upstream": "anthropic"},
            {"match": "*", "upstream": "openai"},
        ],
    }
    with live_gateway(config) as running:
        yield running


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    with open_store(f"sqlite:///{tmp_path / 'ledger.sqlite3'}") as opened:
        yield opened


def _ask_openai(url: str, key: str, **more: Any) -> Any:
    with openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0) as client:
        return client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "Hi"}], **more
        )


def _ask_anthropic(url: str, key: str) -> Any:
    with anthropic.Anthropic(base_url=url, api_key=key, max_retries=0) as client:
        return client.messages.create(
            model="claude-sonnet-4-6", max_tokens=100, messages=[{"role": "user", "content": "Hi"}]
        )


def test_keys_are_required_and_never_reach_the_upstream(
    upstream: str, sqlite_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = KeyStore(sqlite_store)
    made = keys.create("team-a")
    gate = KeyGate(keys)
    gate.refresh()
    with gated_gateway(upstream, gate, monkeypatch) as (url, recorder):
        with pytest.raises(openai.AuthenticationError, match="needs a gateway key"):
            _ask_openai(url, "sk-not-a-gateway-key")
        with pytest.raises(anthropic.AuthenticationError, match="needs a gateway key"):
            _ask_anthropic(url, "sk-ant-not-a-gateway-key")
        with pytest.raises(openai.AuthenticationError, match="unknown gateway key"):
            _ask_openai(url, "llt-" + "x" * 32)
        assert _Upstream.seen == []  # refused calls are not forwarded
        with openai.OpenAI(base_url=f"{url}/v1", api_key="sk-nope", max_retries=0) as client:
            with pytest.raises(openai.AuthenticationError, match="needs a gateway key"):
                client.models.list()  # listing the routes needs a key too
        with openai.OpenAI(base_url=f"{url}/v1", api_key=made.secret, max_retries=0) as client:
            assert {m.id for m in client.models.list()} == {"claude-*", "*"}
        assert _ask_openai(url, made.secret).choices[0].message.content == "Hi"
        assert recorder.next_call(0).key_id == made.key.id
        assert _ask_anthropic(url, made.secret).content[0].text == "Hi!"  # x-api-key
        assert recorder.next_call(1).key_id == made.key.id
        assert _Upstream.seen[0]["authorization"] == "Bearer sk-upstream-secret"
        assert _Upstream.seen[1]["x-api-key"] == "sk-upstream-secret"
        assert not any(made.secret in value for seen in _Upstream.seen for value in seen.values())
        keys.revoke("team-a")
        keys.create("team-b")
        gate.refresh()
        with pytest.raises(anthropic.AuthenticationError, match="revoked"):
            _ask_anthropic(url, made.secret)


def test_a_spent_budget_is_a_rate_limit_error_naming_the_budget(
    upstream: str, sqlite_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # gpt-4o: $2.50 / $10 per 1M. The reply reports 1,200 + 30 tokens: $0.0033.
    # "Hi" with max_tokens 30 may cost at most 8 prompt tokens (o200k: 3 + "user"
    # + "Hi" + 3) and 30 output: $0.00002 + $0.0003 = $0.00032.
    keys = KeyStore(sqlite_store)
    tiny = keys.create("tiny", Decimal("0.0035"), "day")
    gate = KeyGate(keys)
    gate.refresh()
    budgets = BudgetGate(sqlite_store, Catalog.load()).start()
    try:
        with gated_gateway(upstream, gate, monkeypatch, budgets) as (url, recorder):
            _ask_openai(url, tiny.secret, max_tokens=30)  # $0.00032 of $0.0035: allowed
            call = recorder.next_call(0)
            assert call.key_id == tiny.key.id and call.cost is not None
            assert call.cost.total == Decimal("0.0033")
            _settled(budgets, "key:" + tiny.key.id, Decimal("0.0033"))
            with pytest.raises(openai.RateLimitError) as caught:
                _ask_openai(url, tiny.secret, max_tokens=30)  # 0.0033 + 0.00032 > 0.0035
            message = str(caught.value)
            assert "the daily budget of key 'tiny' is $0.0035: $0.0033 spent" in message
            assert "this call may use $0.00032" in message
            assert caught.value.code == "insufficient_quota"
            assert caught.value.body == {  # OpenAI's shape for an exhausted quota
                "message": message.removeprefix("Error code: 429 - "),
                "type": "insufficient_quota",
                "param": None,
                "code": "insufficient_quota",
            }
            wait = int(caught.value.response.headers["retry-after"])  # seconds to UTC midnight
            assert 0 < wait <= 24 * 3600
            # claude-sonnet-4-6 at $15 per 1M output: 100 tokens alone are $0.0015
            with pytest.raises(anthropic.RateLimitError, match=r"daily budget of key 'tiny'"):
                _ask_anthropic(url, tiny.secret)
            assert len(_Upstream.seen) == 1 and len(recorder.calls) == 1
    finally:
        budgets.close()


def _settled(budgets: BudgetGate, budget_id: str, spent: Decimal) -> None:
    """Wait for the settlement thread to move the call into ``spent``."""
    [found] = [b for b in budgets.budgets if b.id == budget_id]
    for _ in range(500):
        if budgets.counters.state([found])[budget_id] == (spent, Decimal(0)):
            return
        time.sleep(0.01)
    raise AssertionError(budgets.counters.state([found]))


# -- the command line ----------------------------------------------------------------


def test_keys_cli_creates_lists_and_revokes(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    env = {"LLMTALLY_DATABASE_URL": database}
    runner = CliRunner()
    with pytest.raises(ValueError, match="loopback only"):
        check_host("0.0.0.0", database)
    made = runner.invoke(
        app,
        ["keys", "create", "--name", "ci", "--budget-usd", "2.50", "--period", "week", "--json"],
        env=env,
    )
    assert made.exit_code == 0, made.output
    created = json.loads(made.stdout)
    assert created["key"].startswith("llt-") and created["budget_usd"] == "2.5"
    check_host("0.0.0.0", database)  # an active key: a public address is allowed
    text = runner.invoke(app, ["keys", "create", "--name", "web"], env=env)
    assert text.exit_code == 0 and "not shown again" in text.stdout
    secret = next(w for w in text.stdout.split() if w.startswith("llt-"))
    with open_store(database) as opened:
        key_id = KeyStore(opened).get("ci").id  # type: ignore[union-attr]
        opened.insert_many([full_call(key_id=key_id, started_at=dt.datetime.now(UTC))])
    listed = runner.invoke(app, ["keys", "list", "--json"], env=env)
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert rows["ci"]["spent_usd"] != "0" and rows["web"]["spent_usd"] == "0"
    assert rows["web"]["prefix"] == secret[:8] and secret not in listed.stdout
    assert "key" not in rows["ci"]
    table = runner.invoke(app, ["keys", "list"], env=env)
    assert table.exit_code == 0 and "2 gateway keys" in table.stdout
    teamed = runner.invoke(app, ["keys", "create", "--name", "bot", "--team", "growth"], env=env)
    assert teamed.exit_code == 0, teamed.output
    table = runner.invoke(app, ["keys", "list"], env=env, terminal_width=80)
    assert "bot (growth)" in table.stdout and "3 gateway keys" in table.stdout
    assert runner.invoke(app, ["keys", "revoke", "ci"], env=env).exit_code == 0
    assert runner.invoke(app, ["keys", "revoke", created["id"]], env=env).exit_code == 0
    missing = runner.invoke(app, ["keys", "revoke", "nope"], env=env)
    assert missing.exit_code == 1 and "no gateway key" in missing.stderr
    bad = runner.invoke(app, ["keys", "create", "--name", "x", "--period", "year"], env=env)
    assert bad.exit_code == 2
