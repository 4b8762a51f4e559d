"""The gateway's own request path: on-loop CPU per call, in process (issue 16).

Drives ``Gateway(scope, receive, send)`` directly (no sockets, no server) with a
realistic OpenAI chat request (~6 KB body, a bearer gateway key, the headers the
OpenAI SDK sends), the way ``llmtally serve`` builds it: a ``KeyGate`` with one
active key and a ``BudgetGate`` with no budget, both over a SQLite ledger in a
temporary folder. The upstream is replaced by a canned answer handed over in
process (the ``upstream_client: raw`` slot), and the finisher's thread does no
pricing, so what is timed is the event loop thread's own work: headers, guard,
key, decode, route, ``Exchange``, budgets, upstream headers, relay, hand-over.

The baseline, in the same process and loop: the same request through a trivial
ASGI app that reads the body and answers the same bytes. CPU is
``time.thread_time`` of the loop's thread; the figure is the median of rounds.

    .venv/bin/python benchmarks/app_path.py [--calls 20000] [--rounds 5] [--profile 25]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import functools
import json
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from llmtally.catalog import Catalog
from llmtally.gateway.app import Gateway
from llmtally.gateway.budget_gate import BudgetGate
from llmtally.gateway.config import GatewayConfig
from llmtally.gateway.finish import Finisher
from llmtally.gateway.keys import KeyGate
from llmtally.ledger import open_store
from llmtally.ledger.keys import KeyStore

Scope = dict[str, Any]
Message = dict[str, Any]
App = Callable[
    [Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]
]

ANSWER = json.dumps(
    {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1765000000,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello! " * 40},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 1500, "completion_tokens": 80, "total_tokens": 1580},
    }
).encode()
UPSTREAM_HEADERS = {
    "Content-Type": "application/json",
    "Content-Length": str(len(ANSWER)),
    "Date": "Mon, 07 Dec 2026 01:00:00 GMT",
    "Server": "upstream",
    "openai-processing-ms": "312",
    "x-request-id": "req_0123456789abcdef",
    "x-ratelimit-remaining-requests": "9999",
    "x-ratelimit-remaining-tokens": "1999000",
}


def chat_body() -> bytes:
    """An OpenAI chat request of ~6 KB: a system prompt, eight turns, options."""
    turn = "Please summarise the following paragraph in two sentences. " * 8
    messages = [{"role": "system", "content": "You are a careful assistant. " * 20}]
    for i in range(8):
        messages.append({"role": "user", "content": f"({i}) {turn}"})
        messages.append({"role": "assistant", "content": f"({i}) Here is a summary of it. " * 6})
    messages.append({"role": "user", "content": "And finally, what did we agree on?"})
    body = {"model": "gpt-4o-mini", "messages": messages, "max_tokens": 256, "temperature": 0.2}
    return json.dumps(body).encode()


def request_headers(secret: str, body: bytes) -> list[tuple[bytes, bytes]]:
    """As uvicorn hands them over: lower-case names, bytes; what the OpenAI SDK sends."""
    pairs = {
        "host": "127.0.0.1:4000",
        "accept-encoding": "gzip, deflate",
        "connection": "keep-alive",
        "accept": "application/json",
        "content-type": "application/json",
        "user-agent": "OpenAI/Python 1.99.0",
        "x-stainless-lang": "python",
        "x-stainless-package-version": "1.99.0",
        "x-stainless-os": "Linux",
        "x-stainless-arch": "x64",
        "x-stainless-runtime": "CPython",
        "x-stainless-runtime-version": "3.11.7",
        "authorization": f"Bearer {secret}",
        "x-stainless-async": "false",
        "x-stainless-retry-count": "0",
        "x-stainless-read-timeout": "600",
        "content-length": str(len(body)),
    }
    return [(k.encode(), v.encode()) for k, v in pairs.items()]


class _Content:
    async def read(self, n: int = -1) -> bytes:
        return ANSWER

    async def iter_any(self) -> AsyncIterator[bytes]:
        yield ANSWER


class _Response:
    status = 200
    headers: Mapping[str, str] = UPSTREAM_HEADERS
    content = _Content()


class _Post:
    async def __aenter__(self) -> _Response:
        return _Response()

    async def __aexit__(self, *exc: object) -> None:
        return None


class CannedPool:
    """Stands in for ``RawPool``: every post answers ``ANSWER`` at once."""

    def post(self, url: str, *, data: bytes, headers: Mapping[str, str], timeout_s: float) -> _Post:
        return _Post()

    async def close(self) -> None:
        return None


class IdleFinisher(Finisher):
    """The real hand-over (lock, counter, thread pool), without the pricing."""

    def finish(self, ex: Any, request: bytes, response: bytes, acc: Any) -> Any:
        return None


class NullRecorder:
    def submit(self, call: Any, bodies: Any = None) -> None:
        return None


async def trivial(scope: Scope, receive: Callable[[], Awaitable[Message]], send: Any) -> None:
    """The baseline: read the body, answer the canned bytes."""
    while (await receive()).get("more_body"):
        pass
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(ANSWER))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": ANSWER})


async def drive(app: App, scope: Scope, body: bytes, calls: int) -> float:
    """CPU seconds of this thread for ``calls`` sequential calls; each must answer 200."""
    statuses: list[int] = []
    message = {"type": "http.request", "body": body, "more_body": False}

    async def send(out: Message) -> None:
        if out["type"] == "http.response.start":
            statuses.append(out["status"])

    async def receive() -> Message:
        return message

    start = time.thread_time()
    for _ in range(calls):
        await app(dict(scope), receive, send)
    spent = time.thread_time() - start
    bad = [s for s in statuses if s != 200]
    assert len(statuses) == calls and not bad, f"{len(bad)} calls did not answer 200: {bad[:3]}"
    return spent


@contextlib.contextmanager
def gateway(folder: Path) -> Iterator[tuple[Gateway, str]]:
    store = open_store(f"sqlite:///{folder / 'ledger.sqlite3'}")
    secret = KeyStore(store).create("bench").secret
    config = GatewayConfig.model_validate(
        {
            "upstreams": {"openai": {"kind": "openai", "base_url": "http://127.0.0.1:9"}},
            "routes": [
                {"match": "claude-*", "upstream": "openai"},
                {"match": "*", "upstream": "openai"},
            ],
            "upstream_client": "raw",
        }
    )
    catalog = Catalog.load()
    keys = KeyGate(KeyStore(store))
    keys.refresh()  # loaded once, no refresh thread: nothing else runs while measured
    budgets = BudgetGate(store, catalog)
    budgets.refresh()  # no budget: what serve loads when none is set
    app = Gateway(config, NullRecorder(), catalog, gate=keys, budgets=budgets)
    app._raw = CannedPool()  # type: ignore[assignment]
    app._finisher = IdleFinisher(config, app.recorder, catalog)
    try:
        yield app, secret
    finally:
        asyncio.run(app.aclose())
        keys.close()
        budgets.close()
        store.engine.dispose()


def scope_for(secret: str, body: bytes) -> Scope:
    return {
        "type": "http",
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/chat/completions",
        "raw_path": b"/v1/chat/completions",
        "query_string": b"",
        "root_path": "",
        "headers": request_headers(secret, body),
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 4000),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", type=int, default=0, help="print the top N by self time")
    parser.add_argument(
        "--against", help="another src/ folder (say HEAD's, from git archive): run both, alternated"
    )
    parser.add_argument(
        "--instructions", type=int, default=0, help="count instructions of N calls (callgrind)"
    )
    parser.add_argument("--collect", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.instructions:
        _instructions(args)
        return
    if args.against:
        _alternate(args)
        return
    body = chat_body()
    with tempfile.TemporaryDirectory() as folder, gateway(Path(folder)) as (app, secret):
        scope = scope_for(secret, body)
        if args.collect:
            _collect(app, scope, body, args.collect)
        else:
            asyncio.run(_measure(app, scope, body, args))


def _trees(args: argparse.Namespace) -> list[tuple[str, dict[str, str]]]:
    """(name, environment) of each tree: this checkout's src/, then --against's."""
    here = str(Path(__file__).resolve().parents[1] / "src")
    trees = [("this checkout", {**os.environ, "PYTHONPATH": here})]
    if args.against:
        trees.append((args.against, {**os.environ, "PYTHONPATH": args.against}))
    return trees


def _alternate(args: argparse.Namespace) -> None:
    """Each tree in its own process, alternated ``rounds`` times, so drift hits both."""
    found: dict[str, list[tuple[float, float]]] = {}
    for _ in range(args.rounds):
        for name, env in _trees(args):
            command = [sys.executable, __file__, "--calls", str(args.calls), "--rounds", "1"]
            out = subprocess.run([*command, "--json"], env=env, check=True, capture_output=True)
            figures = json.loads(out.stdout.decode().splitlines()[-1])
            found.setdefault(name, []).append((figures["baseline"], figures["gateway"]))
    for name, pairs in found.items():
        b = statistics.median(p[0] for p in pairs)
        g = statistics.median(p[1] for p in pairs)
        print(f"{name}: baseline {b:.1f} us/call, gateway {g:.1f} us/call (median of")
        print(f"  {len(pairs)} processes: {_listed([p[1] for p in pairs])}); ratio {g / b:.1f}x")


_BATCH = 50


def _collect(app: Gateway, scope: Scope, body: bytes, calls: int) -> None:
    """Under callgrind: ``calls`` calls of the gateway inside ``functools.reduce``
    and of the trivial app inside ``sorted`` (the two functions it counts)."""
    loop = asyncio.new_event_loop()
    loop.run_until_complete(drive(app, scope, body, 200))  # warm-up
    loop.run_until_complete(drive(trivial, scope, body, 200))
    batches = range(max(calls // _BATCH, 1))  # the loop starts once a batch, not once a call

    def ours(_: float, __: int) -> float:
        return loop.run_until_complete(drive(app, scope, body, _BATCH))

    def theirs(_: int) -> float:
        return loop.run_until_complete(drive(trivial, scope, body, _BATCH))

    functools.reduce(ours, batches, 0.0)
    sorted(batches, key=theirs)
    loop.close()


def _instructions(args: argparse.Namespace) -> None:
    """Instructions per call (callgrind: no noise from the other processes on the cores)."""
    calls = args.instructions
    for name, env in _trees(args):
        with tempfile.TemporaryDirectory() as folder:
            out = Path(folder) / "callgrind.out"
            subprocess.run(
                ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
                + ["--toggle-collect=functools_reduce", "--toggle-collect=builtin_sorted"]
                + [sys.executable, __file__, "--collect", str(calls)],
                env=env,
                check=True,
                capture_output=True,
            )
            annotated = subprocess.run(
                ["callgrind_annotate", "--inclusive=yes", str(out)],
                check=True,
                capture_output=True,
            ).stdout.decode()
        counts = {}
        for line in annotated.splitlines():  # "  95,782,043 (65.77%)  .../x.c:symbol [lib]"
            for symbol in ("functools_reduce", "builtin_sorted"):
                if f":{symbol} [" in line:
                    counts[symbol] = int(line.split()[0].replace(",", ""))
        calls = len(range(max(calls // _BATCH, 1))) * _BATCH
        g, b = counts["functools_reduce"] / calls, counts["builtin_sorted"] / calls
        print(f"{name}: instructions per call: gateway {g:,.0f}, trivial app {b:,.0f}; ", end="")
        print(f"ratio {g / b:.1f}x ({calls} calls each)")


def _listed(figures: list[float]) -> str:
    return ", ".join(f"{x:.1f}" for x in figures)


async def _measure(app: Gateway, scope: Scope, body: bytes, args: argparse.Namespace) -> None:
    await drive(app, scope, body, 500)  # warm-up: imports, caches
    await drive(trivial, scope, body, 500)
    ours, base = [], []
    for _ in range(args.rounds):  # interleaved, so drift hits both alike
        base.append(await drive(trivial, scope, body, args.calls) / args.calls * 1e6)
        ours.append(await drive(app, scope, body, args.calls) / args.calls * 1e6)
    b, g = statistics.median(base), statistics.median(ours)
    print(f"python {sys.version.split()[0]}, body {len(body)} bytes, ", end="")
    print(f"{args.calls} calls x {args.rounds} rounds")
    print(f"trivial ASGI app (baseline)  {b:7.1f} us/call  (rounds: {_listed(base)})")
    print(f"llmtally Gateway             {g:7.1f} us/call  (rounds: {_listed(ours)})")
    print(f"gateway - baseline           {g - b:7.1f} us/call;  gateway / baseline {g / b:.2f}x")
    if args.json:
        print(json.dumps({"baseline": b, "gateway": g}))
    if args.profile:
        profile = cProfile.Profile(time.thread_time)
        profile.enable()
        await drive(app, scope, body, args.calls)
        profile.disable()
        pstats.Stats(profile).sort_stats("tottime").print_stats(args.profile)


if __name__ == "__main__":
    main()
