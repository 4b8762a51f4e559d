"""The request path's remembered answers and short cuts (issue 16) answer as the
work they skip did: header names decoded once, the JSON depth walk skipped for
bodies with few brackets, a key's hash (never its verdict), a Host's verdict,
and budgets not read at all while none exists."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from llmtally.budgets.book import BudgetBook
from llmtally.catalog import Catalog
from llmtally.gateway import guard, http_parts, keys
from llmtally.gateway.budget_gate import BudgetGate, Hold
from llmtally.gateway.config import Upstream
from llmtally.gateway.guard import BrowserGuard, Refusal
from llmtally.gateway.http_parts import decode_request, request_headers, response_headers
from llmtally.gateway.keys import Admitted, Denied, KeyGate
from llmtally.gateway.recording import Exchange
from llmtally.ledger import Store, open_store
from llmtally.ledger.keys import KeyStore
from llmtally.providers.wires import OPENAI_CHAT

DEEPER = "the JSON body nests deeper than 64 levels"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(f"sqlite:///{tmp_path / 'ledger.sqlite3'}") as opened:
        yield opened


# -- headers --------------------------------------------------------------------------


def test_request_headers_are_lower_case_and_a_repeat_keeps_its_last_value() -> None:
    raw = [(b"Content-Type", b"application/json"), (b"X-Thing", b"a"), (b"x-thing", b"b")]
    for _ in range(2):  # the second time the names come from the table
        assert request_headers(raw) == {"content-type": "application/json", "x-thing": "b"}


def test_response_headers_drop_hop_by_hop_ones_every_time() -> None:
    upstream = {
        "Content-Type": "application/json",
        "Transfer-Encoding": "chunked",
        "Date": "Mon, 07 Dec 2026 01:00:00 GMT",
        "X-Request-Id": "req_1",
    }
    for _ in range(2):
        assert response_headers(upstream) == [
            (b"content-type", b"application/json"),
            (b"x-request-id", b"req_1"),
        ]


def test_the_tables_of_names_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http_parts, "_REQUEST_NAMES", {})
    monkeypatch.setattr(http_parts, "_RESPONSE_NAMES", {})
    monkeypatch.setattr(http_parts, "_NAMES_MAX", 3)
    raw = [(f"X-N{i}".encode(), b"v") for i in range(10)]
    assert request_headers(raw) == {f"x-n{i}": "v" for i in range(10)}  # past 3 too
    assert response_headers({f"X-N{i}": "v" for i in range(10)}) == [
        (f"x-n{i}".encode(), b"v") for i in range(10)
    ]
    assert len(http_parts._REQUEST_NAMES) == 3 and len(http_parts._RESPONSE_NAMES) == 3


# -- the JSON depth limit ---------------------------------------------------------------


def _nested(levels: int) -> bytes:
    """An object (level 1) whose "x" holds ``levels - 1`` nested arrays."""
    inner = levels - 1
    return b'{"model": "m", "x": ' + b"[" * inner + b"]" * inner + b"}"


def test_64_levels_pass_and_65_do_not() -> None:
    # 1 object + 63 arrays = 64 levels, 64 brackets: the walk is skipped
    assert decode_request(_nested(64), "application/json") == {"model": "m", "x": _x(63)}
    # 1 object + 64 arrays = 65 levels, 65 brackets: walked, and too deep
    assert decode_request(_nested(65), "application/json") == DEEPER


def _x(arrays: int) -> list[object]:
    """``arrays`` arrays nested in one another, as parsed."""
    value: list[object] = []
    for _ in range(arrays - 1):
        value = [value]
    return value


def test_many_brackets_in_strings_are_walked_and_pass() -> None:
    body = json.dumps({"model": "m", "s": "[{" * 100}).encode()  # 200 brackets, 1 level
    assert decode_request(body, "application/json") == {"model": "m", "s": "[{" * 100}


def test_a_deep_utf16_body_is_refused_too() -> None:
    body = ('{"x": ' + "[" * 70 + "]" * 70 + "}").encode("utf-16")  # 71 levels
    assert decode_request(body, "application/json") == DEEPER


# -- keys: the hash is remembered, the verdict is not ----------------------------------


def test_a_revoked_key_is_refused_after_its_hash_was_remembered(store: Store) -> None:
    made = KeyStore(store).create("alice")
    gate = KeyGate(KeyStore(store))
    gate.refresh()
    assert gate.admit({"x-api-key": made.secret}) == Admitted(made.key.id, {})
    assert gate.admit({"x-api-key": made.secret}) == Admitted(made.key.id, {})  # remembered
    KeyStore(store).revoke("alice")
    gate.refresh()
    refused = gate.admit({"x-api-key": made.secret})
    assert isinstance(refused, Denied) and refused.status == 401
    assert refused.message == f"gateway key 'alice' ({made.key.prefix}...) has been revoked"


def test_a_key_refused_before_it_was_loaded_is_admitted_after(store: Store) -> None:
    KeyStore(store).create("alice")
    gate = KeyGate(KeyStore(store))
    gate.refresh()
    late = KeyStore(store).create("bob")  # not in the gate's snapshot yet
    first = gate.admit({"authorization": f"Bearer {late.secret}"})
    assert isinstance(first, Denied) and first.message.startswith("unknown gateway key")
    gate.refresh()
    assert gate.admit({"authorization": f"Bearer {late.secret}"}) == Admitted(late.key.id, {})


def test_the_remembered_hashes_stay_bounded(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keys, "_HASHES_MAX", 2)
    gate = KeyGate(KeyStore(store))
    gate.refresh()
    for i in range(5):
        assert isinstance(gate.admit({"x-api-key": f"llt-unknown{i}"}), Denied)
        assert len(gate._hashes) <= 2


# -- the Host check ----------------------------------------------------------------


def test_a_hosts_verdict_is_the_same_when_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(guard, "_HOSTS_MAX", 1)
    checks = BrowserGuard(["localhost"])
    wrong = Refusal(421, "this gateway does not answer to the host 'evil.example'")
    for _ in range(2):
        assert checks.refuse({"host": "localhost:4000"}) is None  # the one remembered
        assert checks.refuse({"host": "evil.example"}) == wrong  # past the bound
    assert list(checks._hosts_seen) == ["localhost:4000"]


# -- budgets: none yet, then one added while serving ------------------------------------


def _exchange(key_id: str) -> Exchange:
    return Exchange(
        started_at=dt.datetime.now(dt.UTC),
        t0=time.perf_counter(),
        wire=OPENAI_CHAT,
        endpoint="/v1/chat/completions",
        provider="openai",
        model_requested="gpt-4o",
        request_json={"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}]},
        headers={},
        key_id=key_id,
    )


def test_a_budget_added_after_the_first_call_holds_from_the_next_refresh(store: Store) -> None:
    key = KeyStore(store).create("alice").key
    upstream = Upstream(kind="openai", base_url="http://127.0.0.1:9")
    gate = BudgetGate(store, Catalog.load(), refresh_s=3600).start()  # refreshed by hand

    def reserve() -> Hold | Denied | None:
        return asyncio.run(gate.reserve_for(_exchange(key.id), upstream, 80))

    try:
        assert reserve() is None  # no budget at all
        BudgetBook(store).add("key", key.id, "requests", "total", Decimal(1))
        assert reserve() is None  # not loaded yet: the last loaded budgets apply, as before
        gate.refresh()
        held = reserve()
        assert isinstance(held, Hold) and len(held.claims) == 1  # 1 request of 1
        refused = reserve()
        assert isinstance(refused, Denied) and refused.status == 429  # 1 reserved + 1 > 1
        assert refused.code == "rate_limit_exceeded"
        held.release_unless_recorded()
    finally:
        gate.close()
