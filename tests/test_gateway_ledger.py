"""The gateway with the real ledger writer: the database goes away mid-traffic,
requests still succeed, and every call lands once after recovery."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import anthropic
import openai

from gateway_support import live_gateway, openai_and_claude
from llmtally.catalog import Catalog
from llmtally.ledger import LedgerWriter, open_store
from llmtally.meter import cost
from llmtally.providers import parse_usage
from llmtally.usage import Usage
from replay_upstream import ReplayUpstream, load_transcripts

HELLO = [{"role": "user", "content": "Say hello."}]


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


def test_ledger_rows_match_the_transcripts_usage_and_the_meters_cost(
    replay_upstream: ReplayUpstream, tmp_path: Path
) -> None:
    config = openai_and_claude(replay_upstream.url)
    catalog = Catalog.load()
    transcripts = load_transcripts()
    with open_store(f"sqlite:///{tmp_path / 'ledger.sqlite3'}") as store:
        writer = LedgerWriter(store, tmp_path / "spool.jsonl", flush_interval=0.02)
        with live_gateway(config, catalog, recorder=writer) as (url, _):
            oa = openai.OpenAI(base_url=f"{url}/v1", api_key="sk-test", max_retries=0)
            oa.chat.completions.create(model="gpt-4o", messages=HELLO)
            list(oa.chat.completions.create(model="o4-mini", messages=HELLO, stream=True))
            oa.close()
            an = anthropic.Anthropic(base_url=url, api_key="sk-ant-test", max_retries=0)
            with an.messages.stream(
                model="claude-sonnet-4-20250514", max_tokens=64, messages=HELLO
            ) as stream:
                stream.get_final_message()
            an.close()
        assert writer.close(timeout=20)
        rows = {c.model_requested: c for c in store.list(limit=10)}
    expected = {
        "gpt-4o": parse_usage("openai", transcripts["openai_chat"]["response"]["body"]["usage"]),
        "o4-mini": _last_usage("openai", transcripts["openai_chat_stream_reasoning_cached"]),
        "claude-sonnet-4-20250514": _anthropic_stream_usage(
            transcripts["anthropic_messages_stream"]
        ),
    }
    for model, usage in expected.items():
        row = rows[model]
        assert row.usage == usage, model
        price = catalog.price_at(row.provider, row.model, row.started_at)
        assert row.cost is not None and row.cost.total == cost(usage, price).total, model


def _last_usage(provider: str, transcript: dict[str, Any]) -> Usage:
    usages = [
        e["data"]["usage"]
        for e in transcript["events"]
        if isinstance(e, dict) and isinstance(e.get("data"), dict) and e["data"].get("usage")
    ]
    return parse_usage(provider, usages[-1])


def _anthropic_stream_usage(transcript: dict[str, Any]) -> Usage:
    merged: dict[str, Any] = {}
    for event in transcript["events"]:
        data = event.get("data") if isinstance(event, dict) else None
        if not isinstance(data, dict):
            continue
        usage = data.get("usage") or (data.get("message") or {}).get("usage")
        if isinstance(usage, dict):
            merged.update({k: v for k, v in usage.items() if v is not None})
    return parse_usage("anthropic", merged)
