"""A lone UTF-16 surrogate in a call's text (JSON lets ``"\\ud800"`` stand alone,
RFC 8259 section 8.2; Python's parser keeps it) is no Unicode text: SQLite's and
PostgreSQL's drivers refuse to encode it. Found under load (test_wires_load): one
such ``user`` took its whole batch to the spool, and the spool's replay failed
on the same row every time, so the calls after it never reached the ledger.

Now every text column is stored with the surrogate written as its escape
(``\\ud800``, six characters) and the row kept; and an encoding error the
database raises anyway counts as a refusal of that row (set aside, the others
inserted), not as the database being away.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path

import httpx

from gateway_support import live_gateway
from llmtally.catalog import Catalog
from llmtally.ledger import LedgerWriter, Store, open_store
from llmtally.ledger.db_thread import _refuses_content
from llmtally.ledger.rows import CallBodies, bodies_to_row, call_to_row, row_to_json
from test_ledger_support import db_url, pg_base_url, simple_call, store  # noqa: F401

LONE = "a\ud800b"  # a lone high surrogate between two letters
STORED = "a\\ud800b"  # what the ledger keeps: the escape, backslash and all (8 characters)
CONFIG = {  # nothing is proxied
    "upstreams": {"openai": {"kind": "openai", "base_url": "http://127.0.0.1:9"}},
    "routes": [{"match": "*", "upstream": "openai"}],
}


def test_a_row_keeps_a_lone_surrogate_as_its_escape() -> None:
    call = dataclasses.replace(simple_call(1), user=LONE, feature="😀", error=LONE)
    row = call_to_row(call)
    assert (row["user_id"], row["error"]) == (STORED, STORED)
    assert len(STORED) == 8 and row["feature"] == "😀"  # real non-ASCII text is untouched
    bodies = bodies_to_row(CallBodies(call.id, LONE, "ok"))
    assert (bodies["request_body"], bodies["response_body"]) == (STORED, "ok")


def test_the_database_stores_it(store: Store) -> None:  # noqa: F811
    users_in = [LONE if i == 2 else f"u{i}" for i in range(5)]
    calls = [dataclasses.replace(simple_call(i), user=user) for i, user in enumerate(users_in)]
    store.insert_many(calls)
    users = sorted(c.user or "" for c in store.list(limit=10))
    assert users == sorted([STORED, "u0", "u1", "u3", "u4"])


def test_an_encoding_error_is_a_refusal_of_the_row_not_an_outage() -> None:
    error = UnicodeEncodeError("utf-8", LONE, 1, 2, "surrogates not allowed")
    assert _refuses_content(error)
    assert not _refuses_content(OSError("connection refused"))


def test_forwarded_calls_after_one_with_a_surrogate_all_arrive(tmp_path: Path) -> None:
    """POST /llmtally/v1/calls: a batch whose second call's user is a lone
    surrogate, then 30 good batches; all 31 x 2 calls are in the ledger."""
    bad = [simple_call(0), dataclasses.replace(simple_call(1), user=LONE)]
    good = [[simple_call(10 + 2 * n), simple_call(11 + 2 * n)] for n in range(30)]
    bodies = [json.dumps({"calls": [row_to_json(call_to_row(c)) for c in batch]})
              for batch in [bad, *good]]  # fmt: skip
    assert "\\ud800" in bodies[0]  # sent as JSON's escape, as a client would
    bodies[0] = bodies[0].replace("a\\\\ud800b", "a\\ud800b")  # the escape itself, unescaped once
    with open_store(f"sqlite:///{tmp_path / 'ledger.sqlite3'}") as opened:
        writer = LedgerWriter(opened, tmp_path / "spool.jsonl", flush_interval=0.01)
        try:
            with live_gateway(CONFIG, Catalog.load(), writer) as (base, _):
                statuses = asyncio.run(_post_all(f"{base}/llmtally/v1/calls", bodies))
            assert writer.flush(30)
        finally:
            writer.close()
        rows = opened.list(limit=1_000)
    assert statuses == [200] * len(bodies)
    assert len(rows) == 2 + 30 * 2
    assert [r.user for r in rows if r.user and "ud800" in r.user] == [STORED]
    assert not (tmp_path / "spool.jsonl").exists() or not (tmp_path / "spool.jsonl").read_text()


async def _post_all(url: str, bodies: list[str]) -> list[int]:
    headers = {"content-type": "application/json"}
    async with httpx.AsyncClient(timeout=30) as client:
        answers = [await client.post(url, content=bodies[0], headers=headers)]
        answers += await asyncio.gather(*(client.post(url, content=b, headers=headers)
                                          for b in bodies[1:]))  # fmt: skip
    return [a.status_code for a in answers]
