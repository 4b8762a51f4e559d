"""Budgets through the gateway, with the official OpenAI SDK against the
replay upstream, on SQLite and on PostgreSQL: 200 requests at once against a
key's budget admit exactly what fits, and the ledger's spend stays within it.

Figures worked out by hand (the transcripts' own usage):
- ``openai_chat``: gpt-4o, the developer + user "Hello!" messages are 19
  prompt tokens (the transcript says 19; our offline count agrees); with
  ``max_tokens=10`` the worst case is 19 x $2.50/1M + 10 x $10/1M =
  $0.0001475, and the reply's 19 + 10 tokens cost exactly that;
- ``openai_chat_stream_usage``: gpt-4o-mini, "Say hello." is 10 prompt
  tokens; with ``max_tokens=6``: 10 x $0.15/1M + 6 x $0.60/1M = $0.0000051,
  again what the stream's reported 10 + 6 tokens cost.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import openai
import pytest

from gateway_support import live_gateway
from llmtally.catalog import Catalog
from llmtally.gateway.budget_gate import BudgetGate
from llmtally.gateway.keys import KeyGate
from llmtally.ledger import LedgerWriter, Store
from llmtally.ledger.keys import KeyStore
from replay_upstream import ReplayUpstream
from test_ledger_support import db_url, pg_base_url, store  # noqa: F401

CHAT = [
    {"role": "developer", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Hello!"},
]
HELLO = [{"role": "user", "content": "Say hello."}]


@pytest.fixture
def writer(store: Store, tmp_path: Path) -> Iterator[LedgerWriter]:  # noqa: F811
    made = LedgerWriter(store, tmp_path / "spool.jsonl", flush_interval=0.01)
    yield made
    made.close()


async def _one(client: openai.AsyncOpenAI, stream: bool) -> str:
    try:
        if stream:
            chunks = await client.chat.completions.create(
                model="gpt-4o-mini",
                messages=HELLO,  # type: ignore[arg-type]
                max_tokens=6,
                stream=True,
                stream_options={"include_usage": True},
            )
            async for _ in chunks:
                pass
        else:
            await client.chat.completions.create(
                model="gpt-4o",
                messages=CHAT,  # type: ignore[arg-type]
                max_tokens=10,
            )
    except openai.RateLimitError as exc:
        assert exc.code == "insufficient_quota", exc
        assert int(exc.response.headers["retry-after"]) > 0
        return "refused"
    return "admitted"


async def _burst(base: str, secret: str, n: int, stream: bool) -> list[str]:
    async with openai.AsyncOpenAI(base_url=f"{base}/v1", api_key=secret, max_retries=0) as client:
        return list(await asyncio.gather(*(_one(client, stream) for _ in range(n))))


def _spent(store: Store, key_id: str, calls: int) -> tuple[int, Decimal]:  # noqa: F811
    deadline = time.monotonic() + 20
    while store.count() < calls:
        assert time.monotonic() < deadline, f"{store.count()} of {calls} calls recorded"
        time.sleep(0.02)
    found = [c for c in store.list(limit=1000) if c.key_id == key_id and c.status == 200]
    return len(found), sum((c.cost.total for c in found if c.cost), Decimal(0))


@pytest.mark.parametrize(
    ("stream", "budget", "fits", "each"),
    [
        (False, "0.0015", 10, Decimal("0.0001475")),  # 11 x 0.0001475 = 0.0016225 > 0.0015
        (True, "0.00005", 9, Decimal("0.0000051")),  # 10 x 0.0000051 = 0.000051 > 0.00005
    ],
    ids=["plain", "stream"],
)
def test_two_hundred_at_once_admit_exactly_what_fits(
    store: Store,  # noqa: F811
    writer: LedgerWriter,
    stream: bool,
    budget: str,
    fits: int,
    each: Decimal,
) -> None:
    keys = KeyStore(store)
    made = keys.create("burst", Decimal(budget), "day")
    gate = KeyGate(keys).start()
    budgets = BudgetGate(store, Catalog.load()).start()
    config: dict[str, Any] = {
        "upstreams": {"openai": {"kind": "openai", "base_url": ""}},
        "routes": [{"match": "*", "upstream": "openai"}],
    }
    try:
        with ReplayUpstream() as upstream:
            config["upstreams"]["openai"]["base_url"] = upstream.url
            with live_gateway(config, None, writer, gate=gate, budgets=budgets) as (base, _):
                outcomes = asyncio.run(_burst(base, made.secret, 200, stream))
            assert len(upstream.served) == fits  # refused calls never went upstream
    finally:
        budgets.close()
        gate.close()
    assert outcomes.count("admitted") == fits and outcomes.count("refused") == 200 - fits
    writer.flush(10)
    admitted, spent = _spent(store, made.key.id, fits)
    assert (admitted, spent) == (fits, fits * each)
    assert spent <= Decimal(budget)
    # every reservation was settled or given back: nothing left reserved
    [key_budget] = [b for b in budgets.book.all() if b.subject == made.key.id]
    assert budgets.counters.state([key_budget])[key_budget.id] == (fits * each, Decimal(0))
