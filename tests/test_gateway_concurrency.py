"""Hundreds of simultaneous requests, streamed and not, through one gateway into
the real ledger writer: every call answered, recorded once, at its exact cost."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import httpx

from gateway_support import live_gateway, openai_and_claude
from llmtally.catalog import Catalog
from llmtally.ledger import LedgerWriter, open_store
from replay_upstream import ReplayUpstream

HELLO = [{"role": "user", "content": "Say hello."}]
CALLS = 300
# gpt-4o: 19 x $2.50/M + 10 x $10/M (openai_chat.json); gpt-4o-mini streamed:
# 10 x $0.15/M + 6 x $0.60/M (openai_chat_stream_usage.json)
PLAIN, STREAMED = Decimal("0.0001475"), Decimal("0.0000051")


async def _send_all(url: str) -> list[int]:
    limits = httpx.Limits(max_connections=CALLS)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as http:

        async def one(i: int) -> int:
            stream = i % 2 == 1
            body = {"model": "gpt-4o-mini" if stream else "gpt-4o", "messages": HELLO}
            response = await http.post(
                "/v1/chat/completions",
                json={**body, "stream": stream},
                headers={"x-llmtally-feature": f"c{i}"},
            )
            return response.status_code

        return await asyncio.gather(*(one(i) for i in range(CALLS)))


def test_hundreds_of_simultaneous_calls_are_each_recorded_once_at_their_cost(
    replay_upstream: ReplayUpstream, tmp_path: Path
) -> None:
    with open_store(f"sqlite:///{tmp_path / 'ledger.sqlite3'}") as store:
        writer = LedgerWriter(store, tmp_path / "spool.jsonl", flush_interval=0.02)
        with live_gateway(openai_and_claude(replay_upstream.url), Catalog.load(), writer) as (
            url,
            _,
        ):
            statuses = asyncio.run(_send_all(url))
        assert writer.close(timeout=30)
        calls = store.list(limit=CALLS + 10)
    assert statuses == [200] * CALLS
    assert len(calls) == CALLS and len({c.feature for c in calls}) == CALLS
    costs = sorted(c.cost.total for c in calls if c.cost is not None)
    assert costs == sorted([PLAIN] * (CALLS // 2) + [STREAMED] * (CALLS // 2))
