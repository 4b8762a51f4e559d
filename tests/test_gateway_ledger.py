"""The gateway with the real ledger writer: the database goes away mid-traffic,
requests still succeed, and every call lands once after recovery."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import openai

from gateway_support import live_gateway
from llmtally.catalog import Catalog
from llmtally.ledger import LedgerWriter, open_store
from replay_upstream import ReplayUpstream

HELLO = [{"role": "user", "content": "Hi"}]


def _send(url: str, n: int) -> None:
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="sk-test", max_retries=0)
    for _ in range(n):
        client.chat.completions.create(model="gpt-4o", messages=HELLO)
    client.close()


def test_requests_succeed_while_the_ledger_is_locked_and_land_after(
    replay_upstream: ReplayUpstream, tmp_path: Path
) -> None:
    path = tmp_path / "ledger.sqlite3"
    config = {
        "upstreams": {"openai": {"kind": "openai", "base_url": replay_upstream.url}},
        "routes": [{"match": "*", "upstream": "openai"}],
    }
    with open_store(f"sqlite:///{path}") as store:
        writer = LedgerWriter(
            store, tmp_path / "spool.jsonl", db_timeout=0.3, retry_interval=0.1, flush_interval=0.02
        )
        holder = sqlite3.connect(path, isolation_level=None)
        try:
            with live_gateway(config, Catalog.load(), recorder=writer) as (url, _):
                _send(url, 10)
                assert writer.flush(10)
                holder.execute("BEGIN EXCLUSIVE")  # the database stops taking writes
                _send(url, 15)  # every request still answered
                assert writer.flush(10)
                down = writer.stats()
                holder.execute("COMMIT")
                _send(url, 5)
        finally:
            holder.close()
        assert writer.close(timeout=20)
        assert down.spooled > 0
        assert store.count() == 30
        assert len(set(store.ids())) == 30
