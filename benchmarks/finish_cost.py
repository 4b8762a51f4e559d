"""What the gateway's finish thread costs per call (issue 16).

    .venv/bin/python benchmarks/finish_cost.py [--calls 1000] [--rounds 3] [--shapes tiny,openai]

``Finisher.finish`` (usage read, prompt counted by role, fingerprint, priced,
redacted bodies, counted in /metrics, handed to a recorder that only keeps the
call) run on this thread, on exchanges built as the gateway builds them, in
three shapes:

- ``openai``: a non-streamed Chat Completion: a ~1,500-token system prompt, two
  tool schemas, 3 earlier turns (user/assistant pairs) and the latest user turn;
  the answer is a whole JSON body with its usage;
- ``anthropic``: a streamed Messages call: the same system prompt, 3 earlier
  turns and the latest; the answer is SSE events, fed to the accumulator before
  the timer starts (the event loop does that as the bytes arrive);
- ``tiny``: ``benchmarks/gateway.py``'s call, the one issue 16's profile measured:
  one user message, "Hello", the same every call; a 9-token usage.

In ``openai`` and ``anthropic``, conversations repeat as they do in use: every
call has the same system prompt and tools, calls belong to one of 50
conversations (their earlier turns sent again each call), and every latest user
turn is a text no earlier call sent.

The baseline, in the same process on the same bodies: ``json.loads`` of the
request and the response and ``json.dumps`` of both back (a machine yardstick).
CPU is this thread's (``time.thread_time``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from llmtally.catalog import Catalog
from llmtally.gateway.config import GatewayConfig
from llmtally.gateway.finish import Finisher
from llmtally.gateway.metrics import GatewayMetrics, MeteredRecorder
from llmtally.gateway.recording import Exchange
from llmtally.ledger.rows import CallBodies
from llmtally.providers.streams import StreamAccumulator
from llmtally.providers.wires import wire_named
from llmtally.usage import Call

CONVERSATIONS = 50
_WORDS = (
    "the assistant answers questions about invoices orders refunds and shipping for a "
    "small online shop it never invents an order number it asks for the customer's email "
    "when an order cannot be found and it keeps answers short polite and exact"
).split()


def _system_prompt() -> str:
    """About 1,500 tokens of instructions (o200k_base counts 1,501; 7,205 characters)."""
    lines = []
    for i in range(104):
        words = [_WORDS[(i * 7 + j * 3) % len(_WORDS)] for j in range(11)]
        lines.append(f"{i + 1}. " + " ".join(words).capitalize() + ".")
    return "You are Shopbot.\n" + "\n".join(lines)


SYSTEM = _system_prompt()
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "find_order",
            "description": "Find an order by its number or the customer's email.",
            "parameters": {
                "type": "object",
                "properties": {
                    "order_number": {"type": "string", "description": "e.g. A-10422"},
                    "email": {"type": "string", "description": "the customer's email"},
                },
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "refund",
            "description": "Refund an order, whole or in part.",
            "parameters": {
                "type": "object",
                "properties": {
                    "order_number": {"type": "string", "description": "the order"},
                    "amount": {"type": "number", "description": "USD; all when absent"},
                    "reason": {"type": "string", "enum": ["damaged", "late", "other"]},
                },
            },
        },
    },
]
HEADERS = {
    "authorization": "Bearer sk-proj-benchAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "content-type": "application/json",
    "x-llmtally-user": "bench-user",
    "x-llmtally-feature": "support",
}


def _history(conversation: int) -> list[dict[str, str]]:
    turns = []
    for t in range(3):
        turns.append(
            {
                "role": "user",
                "content": f"Conversation {conversation}, question {t}: where is my order "
                f"A-{10_000 + conversation * 10 + t}? I ordered it last week and the "
                "tracking page has not changed since Monday.",
            }
        )
        turns.append(
            {
                "role": "assistant",
                "content": f"Order A-{10_000 + conversation * 10 + t} left the warehouse on "
                "Tuesday; the carrier shows it in transit and expects delivery within two "
                "working days. I will keep an eye on it for you.",
            }
        )
    return turns


def _latest(n: int) -> str:
    return f"Thanks. Call {n}: can I still change the delivery address for that one?"


def _openai(n: int) -> tuple[dict[str, Any], bytes, None]:
    messages = [{"role": "system", "content": SYSTEM}, *_history(n % CONVERSATIONS)]
    messages.append({"role": "user", "content": _latest(n)})
    request = {"model": "gpt-4o", "messages": messages, "tools": TOOLS, "user": "u-7"}
    response = {
        "id": f"chatcmpl-{n}",
        "object": "chat.completion",
        "created": 1765000000,
        "model": "gpt-4o-2024-08-06",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Yes: the address can change until the carrier collects it. "
                    "Which address should it go to?",
                },
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 1742,
            "completion_tokens": 24,
            "total_tokens": 1766,
            "prompt_tokens_details": {"cached_tokens": 1536},
        },
    }
    return request, json.dumps(response).encode(), None


def _tiny(n: int) -> tuple[dict[str, Any], bytes, None]:
    """benchmarks/gateway.py's call (the issue 16 profile's): "Hello", every time."""
    request = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}]}
    response = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1764000000,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hi there!"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12},
    }
    return request, json.dumps(response).encode(), None


def _sse(kind: str, payload: dict[str, Any]) -> bytes:
    return f"event: {kind}\ndata: {json.dumps(payload)}\n\n".encode()


def _anthropic(n: int) -> tuple[dict[str, Any], bytes, StreamAccumulator]:
    request = {
        "model": "claude-sonnet-4-5",
        "system": SYSTEM,
        "messages": [
            *_history(n % CONVERSATIONS),
            {"role": "user", "content": _latest(n)},
        ],
        "max_tokens": 1024,
        "stream": True,
    }
    start = {
        "type": "message_start",
        "message": {
            "id": f"msg_{n}",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5-20250929",
            "content": [],
            "usage": {"input_tokens": 1702, "output_tokens": 1},
        },
    }
    events = [
        _sse("message_start", start),
        _sse(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text"}},
        ),
    ]
    words = "Yes: the address can change until the carrier collects it. Which one?".split()
    for word in words:
        delta = {"type": "text_delta", "text": word + " "}
        events.append(
            _sse("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
        )
    events.append(_sse("content_block_stop", {"type": "content_block_stop", "index": 0}))
    events.append(
        _sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn"},
                "usage": {"output_tokens": 18},
            },
        )
    )
    events.append(_sse("message_stop", {"type": "message_stop"}))
    acc = wire_named("anthropic").accumulator("anthropic")
    for event in events:
        acc.feed(event)
    return request, b"".join(events), acc


_SHAPES = {
    "openai": ("openai_chat", "openai", "/v1/chat/completions", _openai),
    "anthropic": ("anthropic", "anthropic", "/v1/messages", _anthropic),
    "tiny": ("openai_chat", "openai", "/v1/chat/completions", _tiny),
}


@dataclass
class _Prepared:
    ex: Exchange
    request: bytes
    response: bytes
    acc: StreamAccumulator | None


def _prepare(shape: str, first: int, count: int) -> list[_Prepared]:
    wire_name, provider, endpoint, build = _SHAPES[shape]
    wire = wire_named(wire_name)
    out = []
    for n in range(first, first + count):
        request, response, acc = build(n)
        raw = json.dumps(request).encode()
        t0 = time.perf_counter()
        ex = Exchange(
            started_at=dt.datetime.now(dt.UTC),
            t0=t0,
            wire=wire,
            endpoint=endpoint,
            provider=provider,
            model_requested=request["model"],
            request_json=json.loads(raw),
            headers=dict(HEADERS),
            status=200,
            stream=acc is not None,
            first_byte_at=t0 + 0.2,
            finished_at=t0 + 0.9,
            request_body=raw,
        )
        out.append(_Prepared(ex, raw, response, acc))
    return out


class _Keeper:
    def __init__(self) -> None:
        self.calls: list[Call] = []

    def submit(self, call: Call, bodies: CallBodies | None = None) -> None:
        self.calls.append(call)


def _finisher() -> tuple[Finisher, _Keeper]:
    keeper = _Keeper()
    recorder = MeteredRecorder(keeper, GatewayMetrics(keeper))
    config = GatewayConfig(
        upstreams={
            "openai": {"kind": "openai", "base_url": "http://127.0.0.1:9"},
            "anthropic": {"kind": "anthropic", "base_url": "http://127.0.0.1:9"},
        }
    )
    return Finisher(config, recorder, Catalog.load()), keeper


def _timed(work: Callable[[_Prepared], object], items: list[_Prepared]) -> float:
    started = time.thread_time()
    for item in items:
        work(item)
    return (time.thread_time() - started) / len(items) * 1e6


def _yardstick(item: _Prepared) -> None:
    json.dumps(json.loads(item.request))
    json.dumps(json.loads(item.response) if item.acc is None else item.response.decode())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--shapes", default=",".join(_SHAPES), help="e.g. tiny,openai")
    args = parser.parse_args()
    shapes = args.shapes.split(",")
    finisher, keeper = _finisher()
    for shape in _SHAPES:  # warm-up: tokenizers loaded, catalog indexes built
        for item in _prepare(shape, -100, 20):
            finisher.finish(item.ex, item.request, item.response, item.acc)
    print("round  shape      finish us/call  json yardstick us/call  ratio")
    first = 0
    for n in range(args.rounds):
        for shape in shapes:
            items = _prepare(shape, first, args.calls)
            first += args.calls
            base = _timed(_yardstick, items)

            def work(item: _Prepared) -> None:
                finisher.finish(item.ex, item.request, item.response, item.acc)

            cost = _timed(work, items)
            print(f"{n:>5}  {shape:<9}  {cost:>14.1f}  {base:>22.1f}  {cost / base:>4.2f}x")
    assert all(call.usage.input_tokens for call in keeper.calls)


if __name__ == "__main__":
    main()
