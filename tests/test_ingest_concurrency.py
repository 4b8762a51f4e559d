"""Hundreds of simultaneous requests to the gateway's two ingest endpoints:
forwarded calls (``/llmtally/v1/calls``) and OTLP spans (``/v1/traces``), each
body sent twice at once (a retry racing its original). Every call and every
span ends up in the ledger exactly once, and no request fails."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx

from gateway_support import live_gateway
from llmtally.catalog import Catalog
from llmtally.ledger import LedgerWriter, open_store
from llmtally.ledger.rows import call_to_row, row_to_json
from test_ledger_support import simple_call

CONFIG = {  # nothing is proxied
    "upstreams": {"openai": {"kind": "openai", "base_url": "http://127.0.0.1:9"}},
    "routes": [{"match": "*", "upstream": "openai"}],
}
BATCHES = 150  # x 2 sends = 300 simultaneous requests to each endpoint
PER_BATCH = 4


def _calls_body(n: int) -> bytes:
    calls = [simple_call(n * PER_BATCH + i) for i in range(PER_BATCH)]
    return json.dumps({"calls": [row_to_json(call_to_row(c)) for c in calls]}).encode()


def _span_body(n: int) -> bytes:
    span = {
        "traceId": f"{n + 1:032x}",
        "spanId": f"{n + 1:016x}",
        "name": "chat gpt-4o-mini",
        "kind": 3,
        "startTimeUnixNano": str(1_764_600_000_000_000_000 + n * 1_000_000_000),
        "endTimeUnixNano": str(1_764_600_000_500_000_000 + n * 1_000_000_000),
        "attributes": [
            {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
            {"key": "gen_ai.provider.name", "value": {"stringValue": "openai"}},
            {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o-mini"}},
            {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "100"}},
            {"key": "gen_ai.usage.output_tokens", "value": {"intValue": "10"}},
        ],
    }
    return json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}).encode()


async def _send_all(url: str, bodies: list[bytes]) -> list[int]:
    limits = httpx.Limits(max_connections=400, max_keepalive_connections=400)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        headers = {"content-type": "application/json"}
        answers = await asyncio.gather(
            *(client.post(url, content=body, headers=headers) for body in bodies)
        )
    return [answer.status_code for answer in answers]


def test_hundreds_of_simultaneous_ingests_store_each_row_once(tmp_path: Path) -> None:
    calls = [_calls_body(n) for n in range(BATCHES)]
    spans = [_span_body(n) for n in range(BATCHES)]
    with open_store(f"sqlite:///{tmp_path / 'ledger.sqlite3'}") as store:
        writer = LedgerWriter(store, tmp_path / "spool.jsonl", flush_interval=0.01)
        try:
            with live_gateway(CONFIG, Catalog.load(), writer) as (base, _):
                sent = asyncio.run(_send_all(f"{base}/llmtally/v1/calls", calls + calls))
                traced = asyncio.run(_send_all(f"{base}/v1/traces", spans + spans))
            assert writer.flush(30)
        finally:
            writer.close()
        assert sent == [200] * (2 * BATCHES)
        assert traced == [200] * (2 * BATCHES)
        rows = store.list(limit=10_000)
    # 150 batches x 4 forwarded calls + 150 spans, each stored once however often sent
    assert len(rows) == BATCHES * PER_BATCH + BATCHES
    assert len({row.id for row in rows}) == len(rows)
    assert sum(row.endpoint.startswith("otel:") for row in rows) == BATCHES
