"""Which HTTP client should the gateway use to reach upstreams? Measured, not guessed.

    .venv/bin/pip install aiohttp httpx uvloop   # if not installed
    .venv/bin/python benchmarks/upstream_clients.py [--requests 2000] [--concurrency 64]

A minimal upstream (asyncio streams, one fixed chat completion with usage, in a
separate process so client and server do not share an event loop) on 127.0.0.1;
each client sends the same POST with a JSON body. Measured per client, rounds
interleaved: latency p50/p99 at concurrency 1 (the baseline: a raw asyncio
socket client writing the same bytes), and requests/s at the given concurrency.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import socket
import statistics
import time
from collections.abc import Awaitable, Callable

BODY = json.dumps(
    {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi!"}}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12},
    }
).encode()
REQUEST_JSON = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}]}
RESPONSE = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
    + f"content-length: {len(BODY)}\r\n\r\n".encode()
    + BODY
)


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            writer.write(RESPONSE)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


def _serve(port: int) -> None:
    async def main() -> None:
        server = await asyncio.start_server(_handle, "127.0.0.1", port)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


Send = Callable[[], Awaitable[None]]


async def raw_client(port: int) -> tuple[Send, Callable[[], Awaitable[None]]]:
    payload = json.dumps(REQUEST_JSON).encode()
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        + f"content-length: {len(payload)}\r\n\r\n".encode()
        + payload
    )
    pool: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def send() -> None:
        reader, writer = pool.pop() if pool else await asyncio.open_connection("127.0.0.1", port)
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        await reader.readexactly(int(head.split(b"content-length: ")[1].split(b"\r\n")[0]))
        pool.append((reader, writer))

    async def close() -> None:
        for _, writer in pool:
            writer.close()

    return send, close


async def httpx_client(port: int) -> tuple[Send, Callable[[], Awaitable[None]]]:
    import httpx

    client = httpx.AsyncClient(limits=httpx.Limits(max_connections=200))
    url = f"http://127.0.0.1:{port}/v1/chat/completions"

    async def send() -> None:
        response = await client.post(url, json=REQUEST_JSON)
        response.read()

    return send, client.aclose


async def aiohttp_client(port: int) -> tuple[Send, Callable[[], Awaitable[None]]]:
    import aiohttp

    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200))
    url = f"http://127.0.0.1:{port}/v1/chat/completions"

    async def send() -> None:
        async with session.post(url, json=REQUEST_JSON) as response:
            await response.read()

    return send, session.close


CLIENTS = {"raw-asyncio": raw_client, "httpx": httpx_client, "aiohttp": aiohttp_client}


async def measure(
    name: str, port: int, requests: int, concurrency: int
) -> tuple[float, float, float]:
    send, close = await CLIENTS[name](port)
    for _ in range(50):
        await send()
    latencies = []
    for _ in range(requests // 4):
        start = time.perf_counter()
        await send()
        latencies.append(time.perf_counter() - start)
    latencies.sort()
    p50 = latencies[len(latencies) // 2] * 1000
    p99 = latencies[int(len(latencies) * 0.99)] * 1000
    queue = iter(range(requests))

    async def worker() -> None:
        for _ in queue:
            await send()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    rate = requests / (time.perf_counter() - start)
    await close()
    return p50, p99, rate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    port = free_port()
    server = multiprocessing.Process(target=_serve, args=(port,), daemon=True)
    server.start()
    time.sleep(0.5)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in CLIENTS}
    for r in range(args.rounds):
        names = list(CLIENTS)[r % 3 :] + list(CLIENTS)[: r % 3]
        for name in names:
            results[name].append(asyncio.run(measure(name, port, args.requests, args.concurrency)))
    server.terminate()
    base = statistics.median(p50 for p50, _, _ in results["raw-asyncio"])
    for name, rows in results.items():
        p50 = statistics.median(r[0] for r in rows)
        p99 = statistics.median(r[1] for r in rows)
        rate = statistics.median(r[2] for r in rows)
        print(
            f"{name:12} c=1 p50 {p50:.3f} ms (+{p50 - base:.3f} vs raw) p99 {p99:.3f} ms; "
            f"c={args.concurrency} {rate:,.0f} req/s"
        )


if __name__ == "__main__":
    main()
