"""A client that closes its connection mid-stream: the gateway cancels the
upstream request (or, configured so, reads it to its end unseen) and records the
call as 499 with the ``client_disconnected`` flag and what was billed so far.

The upstream is the replay server streaming ``openai_chat_stream_usage`` with a
pause before each event; the ledger is a real SQLite ledger behind the writer.
Expected tokens and costs are worked out here by hand: the prompt
``[{"role": "user", "content": "Say hello."}]`` is 10 tokens for gpt-4o-mini
(o200k: 3 per message + "user" 1 + "Say", " hello", "." 3 + 3 to prime the
answer; the transcript's own usage also says 10), "Hello" is 1 token, and
gpt-4o-mini costs $0.15 per 1M input and $0.60 per 1M output tokens
(gpt-4o-mini-2024-07-18, an alias, the model the stream names).
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import openai
import pytest
from typer.testing import CliRunner

from browser_support import dashboard, fetch
from gateway_support import live_gateway
from llmtally.cli import app
from llmtally.ledger import LedgerWriter, Store, open_store
from llmtally.usage import Call
from replay_upstream import ReplayUpstream

HELLO = [{"role": "user", "content": "Say hello."}]
PAUSE = 0.3  # before each streamed event: the client leaves during the third pause


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[tuple[str, Store, LedgerWriter]]:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    with open_store(url) as store:
        writer = LedgerWriter(store, tmp_path / "spool.jsonl", flush_interval=0.01)
        yield url, store, writer
        writer.close()


def _config(upstream: ReplayUpstream, on_disconnect: str) -> dict[str, Any]:
    return {
        "upstreams": {"openai": {"kind": "openai", "base_url": upstream.url}},
        "routes": [{"match": "*", "upstream": "openai"}],
        "client_disconnect": on_disconnect,
    }


def _only_call(store: Store, writer: LedgerWriter) -> Call:
    deadline = time.monotonic() + 10
    while store.count() == 0:
        assert time.monotonic() < deadline, "no call was recorded"
        writer.flush(1)
        time.sleep(0.02)
    [call] = store.list(limit=10)
    return call


def _upstream_done(upstream: ReplayUpstream, events: int) -> None:
    """Wait until the replay server's handler has stopped writing (it fails on
    its next write once the gateway closed the connection)."""
    time.sleep(PAUSE * (events + 1))


def test_sdk_closing_mid_stream_cancels_upstream_and_records_499_with_the_flag(
    ledger: tuple[str, Store, LedgerWriter],
) -> None:
    url, store, writer = ledger
    with (
        ReplayUpstream() as upstream,
        live_gateway(_config(upstream, "cancel"), None, writer) as (
            base,
            _,
        ),
    ):
        upstream.delay = PAUSE
        client = openai.OpenAI(base_url=f"{base}/v1", api_key="sk-test", max_retries=0)
        stream = client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, stream=True)
        seen = []
        for chunk in stream:
            seen.append(chunk.choices[0].delta.content)
            if len(seen) == 2:  # "" then "Hello": leave during the next pause
                break
        stream.close()
        client.close()
        call = _only_call(store, writer)
        _upstream_done(upstream, 7)
        sent = bytes(upstream.served[-1].sent)
    assert seen == ["", "Hello"]
    # the upstream was cancelled: it never got to its usage event or its [DONE]
    assert b'"usage":{"prompt_tokens"' not in sent and b"[DONE]" not in sent
    assert call.status == 499 and call.flags == ("client_disconnected",)
    assert call.error == "the client disconnected mid-stream; the upstream request was cancelled"
    assert call.usage.source == "estimated"
    assert (call.usage.input_tokens, call.usage.output_tokens) == (10, 1)
    assert call.cost is not None
    assert call.cost.total == Decimal("0.0000021")  # 10 x 0.15/1M + 1 x 0.60/1M
    assert call.model_served == "gpt-4o-mini-2024-07-18"

    shown = CliRunner().invoke(app, ["calls", "show", call.id], env={"LLMTALLY_DATABASE_URL": url})
    assert shown.exit_code == 0, shown.output
    assert "client_disconnected" in shown.stdout and "499" in shown.stdout
    web = dashboard(store)
    try:
        page = fetch(web, f"/calls/{call.id}").text
    finally:
        web.close()
    assert 'id="call-flags"' in page and "client_disconnected" in page and "HTTP 499" in page


def test_finish_mode_reads_the_upstream_to_its_end_for_the_reported_usage(
    ledger: tuple[str, Store, LedgerWriter],
) -> None:
    _, store, writer = ledger
    with (
        ReplayUpstream() as upstream,
        live_gateway(_config(upstream, "finish"), None, writer) as (
            base,
            _,
        ),
    ):
        upstream.delay = PAUSE
        address = urlsplit(base)
        body = json.dumps({"model": "gpt-4o-mini", "stream": True, "messages": HELLO}).encode()
        with socket.create_connection((address.hostname, address.port)) as raw:
            raw.sendall(
                b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\n"
                b"content-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
                % (len(body), body)
            )
            received = b""
            while b"Hello" not in received:
                received += raw.recv(65536)
        # closed here, after the "Hello" event
        call = _only_call(store, writer)
        sent = bytes(upstream.served[-1].sent)
    assert b"[DONE]" in sent  # read to its end
    assert call.status == 499 and call.flags == ("client_disconnected",)
    assert (
        call.error == "the client disconnected mid-stream; the upstream request was read to its end"
    )
    assert call.usage.source == "reported"
    assert (call.usage.input_tokens, call.usage.output_tokens) == (10, 6)  # the transcript's
    assert call.cost is not None
    assert call.cost.total == Decimal("0.0000051")  # 10 x 0.15/1M + 6 x 0.60/1M


def test_a_client_leaving_after_the_last_event_is_a_complete_call(
    ledger: tuple[str, Store, LedgerWriter],
) -> None:
    """The SDK stops at ``[DONE]`` and closes while the upstream has yet to end
    its body: the client saw everything, so the call is a plain 200 (CI once
    recorded such a call as 499)."""
    _, store, writer = ledger
    with (
        ReplayUpstream() as upstream,
        live_gateway(_config(upstream, "cancel"), None, writer) as (base, _),
    ):
        upstream.tail_delay = 1.0
        client = openai.OpenAI(base_url=f"{base}/v1", api_key="sk-test", max_retries=0)
        stream = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=HELLO,
            stream=True,
            stream_options={"include_usage": True},
        )
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        stream.close()
        client.close()
        call = _only_call(store, writer)
    assert text.startswith("Hello")
    assert call.status == 200 and call.flags == () and call.error is None
    assert call.usage.source == "reported"
    assert (call.usage.input_tokens, call.usage.output_tokens) == (10, 6)
    assert call.cost is not None and call.cost.total == Decimal("0.0000051")
