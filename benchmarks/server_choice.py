"""Choosing the gateway's HTTP server protocol (issue 16): the server side alone.

One trivial ASGI app (reads the request body, answers a fixed 300-byte JSON with
content-length) served seven ways, each in its own process pinned to CPU 0, and each with
llmtally's gateway modules loaded first (the same heap as the gateway's; ``--own-heap``
leaves them out of b-e):

(a) uvicorn with llmtally's limited protocol (``http_limits.server_config``): the baseline
(b) stock uvicorn, httptools protocol
(c) stock uvicorn, h11 protocol
(d) granian ASGI (from a throwaway venv, ``--granian-python``; skipped if absent)
(e) a minimal asyncio.Protocol + httptools server written here (the floor)
(f) (a) with ``gc.freeze()`` once the modules are loaded
(g) llmtally's own raw server (``gateway.server_raw.serve_raw``) with the same limits as (a)

The client (this process, pinned to CPU 1) keeps 64 keep-alive connections busy
with 6 KB POSTs. Each round measures every server in turn (rotated order), for
``--seconds`` after a warm-up; figures are medians over ``--rounds``. Two numbers
per server: requests/s, and the server's CPU µs per request from
/proc/PID/stat (utime + stime, its whole process tree), the figure to trust on a
shared machine. Each is printed as a ratio against (a).

Also: json against orjson, parsing a 6 KB chat request and dumping a response
(in-process micro, in whichever interpreter has orjson).

Run: .venv/bin/python benchmarks/server_choice.py [--granian-python /tmp/gr/bin/python]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
# Set for every server process: each imports llmtally's gateway first, so all serve from
# the same heap as (a) (the gateway's modules loaded), and only the protocol differs.
SAME_HEAP = "SERVER_CHOICE_SAME_HEAP"
if os.environ.get(SAME_HEAP):
    import llmtally.gateway.http_limits  # noqa: F401
SERVER_CPU, CLIENT_CPU = 0, 1
CONCURRENCY = 64
KINDS = {
    "a": "uvicorn + llmtally limits",
    "b": "uvicorn httptools",
    "c": "uvicorn h11",
    "d": "granian asgi",
    "e": "raw asyncio + httptools",
    "f": "(a) + gc.freeze() at start",
    "g": "llmtally server_raw + limits",
}


def _chat_request(size: int = 6 * 1024) -> bytes:
    """A chat request body of about ``size`` bytes (six turns of plain prose)."""
    turn = "The quarterly report lists revenue, costs and the staff changes. " * 15
    messages = [{"role": "system", "content": "You are a careful assistant."}]
    while len(json.dumps({"model": "gpt-4o", "messages": messages})) < size:
        messages.append({"role": "user" if len(messages) % 2 else "assistant", "content": turn})
    return json.dumps({"model": "gpt-4o", "messages": messages, "temperature": 0.2}).encode()


REQUEST_BODY = _chat_request()
RESPONSE_DOC: dict[str, Any] = {
    "id": "chatcmpl-0001",
    "object": "chat.completion",
    "created": 1733500000,
    "model": "gpt-4o-2024-08-06",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello!"},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 1500, "completion_tokens": 7, "total_tokens": 1507},
}
RESPONSE = json.dumps(RESPONSE_DOC).encode().ljust(300)  # padded to exactly 300 bytes
assert len(RESPONSE) == 300
HEADERS = [(b"content-type", b"application/json"), (b"content-length", b"300")]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The trivial app every server drives: read the body, answer RESPONSE."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": RESPONSE})


# --- (e): the floor, a minimal HTTP/1.1 protocol driving the ASGI app -------------


class RawProtocol(asyncio.Protocol):
    """One request at a time per connection (reading paused while it runs); only
    what this benchmark's client sends (content-length bodies, keep-alive)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        import httptools

        self.loop = loop
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except Exception:
            assert self.transport is not None
            self.transport.write(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
            self.transport.close()

    def on_message_begin(self) -> None:
        self.url, self.headers, self.body = b"", [], []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        assert self.transport is not None
        self.transport.pause_reading()
        path, _, query = self.url.partition(b"?")
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": self.parser.get_http_version(),
            "method": self.parser.get_method().decode("ascii"),
            "scheme": "http",
            "path": path.decode("latin-1"),
            "raw_path": path,
            "query_string": query,
            "root_path": "",
            "headers": self.headers,
            "server": None,
            "client": None,
        }
        self.loop.create_task(
            self._run(scope, b"".join(self.body), self.parser.should_keep_alive())
        )

    async def _run(self, scope: dict[str, Any], body: bytes, keep_alive: bool) -> None:
        transport = self.transport
        assert transport is not None

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                lines = [b"HTTP/1.1 %d OK\r\n" % message["status"]]
                lines += [b"%s: %s\r\n" % pair for pair in message["headers"]]
                transport.write(b"".join(lines) + b"\r\n")
            else:
                transport.write(message.get("body", b""))

        await app(scope, receive, send)
        if keep_alive:
            transport.resume_reading()
        else:
            transport.close()


async def _serve_raw(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: RawProtocol(loop), "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


async def _serve_llmtally_raw(port: int) -> None:
    from llmtally.gateway.config import HttpLimits
    from llmtally.gateway.server_raw import serve_raw

    sock = socket.socket()
    sock.bind(("127.0.0.1", port))
    sock.listen(1024)
    await serve_raw(app, sock, HttpLimits())


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def serve(kind: str, port: int) -> None:
    """Run server ``kind`` (any but d) on ``port`` until killed."""
    if kind == "e":
        _new_loop().run_until_complete(_serve_raw(port))
        return
    if kind == "g":
        _new_loop().run_until_complete(_serve_llmtally_raw(port))
        return
    import uvicorn

    if kind in "af":
        from llmtally.gateway.config import HttpLimits
        from llmtally.gateway.http_limits import server_config

        config = server_config(app, "127.0.0.1", port, HttpLimits())
        if kind == "f":  # the modules loaded so far leave the collector's generations
            gc.freeze()
    else:  # the same options as (a), uvicorn's own protocol
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            http="httptools" if kind == "b" else "h11",
            log_level="warning",
            access_log=False,
            proxy_headers=False,
            lifespan="on",
        )
    uvicorn.Server(config).run()


# --- the client and the measurement ----------------------------------------------


class _Load:
    def __init__(self) -> None:
        self.running = True
        self.done = 0
        self.idle = 0
        self.all_idle = asyncio.Event()


REQUEST = (
    b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(REQUEST_BODY)
) + REQUEST_BODY


class _Client(asyncio.Protocol):
    """One keep-alive connection: sends the next request as soon as a response ends."""

    def __init__(self, load: _Load) -> None:
        self.load = load
        self.buffer = b""
        self.need: int | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def start(self) -> None:
        assert self.transport is not None
        self.transport.write(REQUEST)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            if self.need is None:
                end = self.buffer.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = self.buffer[: end + 2].lower()
                at = head.index(b"content-length:") + len(b"content-length:")
                self.need = end + 4 + int(head[at : head.index(b"\r\n", at)])
            if len(self.buffer) < self.need:
                return
            self.buffer, self.need = self.buffer[self.need :], None
            self._answered()

    def _answered(self) -> None:
        self.load.done += 1
        if self.load.running:
            self.start()
            return
        self.load.idle += 1
        if self.load.idle == CONCURRENCY:
            self.load.all_idle.set()


def _cpu_ticks(pid: int) -> int:
    """utime + stime of ``pid`` and all its descendants, in clock ticks."""
    total = 0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total = int(fields[11]) + int(fields[12])
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                total += _cpu_ticks(int(child))
    except FileNotFoundError:
        pass
    return total


async def _measure(port: int, pid: int, seconds: float, warmup: float) -> tuple[float, float]:
    """(requests/s, server CPU µs per request) over ``seconds`` after ``warmup``."""
    loop = asyncio.get_running_loop()
    load = _Load()
    clients = []
    for _ in range(CONCURRENCY):
        _, client = await loop.create_connection(lambda: _Client(load), "127.0.0.1", port)
        clients.append(client)
    for client in clients:
        client.start()
    await asyncio.sleep(warmup)
    done0, cpu0, t0 = load.done, _cpu_ticks(pid), time.perf_counter()
    await asyncio.sleep(seconds)
    done1, cpu1, t1 = load.done, _cpu_ticks(pid), time.perf_counter()
    load.running = False
    await asyncio.wait_for(load.all_idle.wait(), 30)
    for client in clients:
        assert client.transport is not None
        client.transport.close()
    requests = done1 - done0
    cpu_us = (cpu1 - cpu0) / os.sysconf("SC_CLK_TCK") * 1e6
    return requests / (t1 - t0), cpu_us / requests


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pin_server() -> None:
    os.sched_setaffinity(0, {SERVER_CPU})


def _start(
    kind: str, granian_python: str | None, same_heap: bool
) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    if kind == "d":
        assert granian_python is not None
        granian = [granian_python, "-m", "granian", "--interface", "asgi", "--workers", "1"]
        granian += ["--runtime-threads", "1", "--runtime-mode", "st", "--loop", "uvloop"]
        granian += ["--http", "1", "--no-ws", "--no-access-log", "--log-level", "warning"]
        command = [*granian, "--host", "127.0.0.1", "--port", str(port), "server_choice:app"]
    else:
        command = [sys.executable, str(HERE / "server_choice.py"), "--serve", kind]
        command += ["--port", str(port)]
    env = {**os.environ, SAME_HEAP: "1"} if same_heap else dict(os.environ)
    if kind == "d":  # granian's venv has llmtally's dependencies but not llmtally
        env["PYTHONPATH"] = str(HERE.parent / "src")
    process = subprocess.Popen(command, cwd=HERE, env=env, preexec_fn=_pin_server)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process, port
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server {kind} did not start") from None
            time.sleep(0.1)


def _granian_python(given: str | None) -> str | None:
    if given is None:
        print("(d) granian: skipped, no --granian-python given")
        return None
    try:
        check = subprocess.run([given, "-c", "import granian, uvloop"], capture_output=True)
    except OSError as exc:
        print(f"(d) granian: skipped, {exc}")
        return None
    if check.returncode != 0:
        print(f"(d) granian: skipped, {given} cannot import granian and uvloop")
        return None
    return given


def _report(results: dict[str, list[tuple[float, float]]]) -> None:
    """Medians, as ratios against (a); "paired" is the median over rounds of each
    round's CPU ratio against (a) in that same round (load drifts between rounds)."""
    base = results["a"]
    base_rps = statistics.median(r for r, _ in base)
    base_cpu = statistics.median(c for _, c in base)
    print(f"\n{'server':<32}{'req/s':>8}{'ratio':>7}{'CPU µs/req':>11}{'ratio':>7}", end="")
    print(f"{'Δ µs':>7}{'paired':>8}")
    for kind, runs in results.items():
        rps = statistics.median(r for r, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        paired = statistics.median(c / b for (_, c), (_, b) in zip(runs, base, strict=True))
        spread = "/".join(f"{c:.0f}" for _, c in runs)
        line = f"({kind}) {KINDS[kind]:<28}{rps:>8,.0f}{rps / base_rps:>7.2f}{cpu:>11.1f}"
        line += f"{cpu / base_cpu:>7.2f}{cpu - base_cpu:>+7.1f}{paired:>8.2f}"
        print(f"{line}   rounds: {spread}")


def run_servers(args: argparse.Namespace, granian: str | None) -> None:
    os.sched_setaffinity(0, {CLIENT_CPU})
    rounds, seconds, warmup = args.rounds, args.seconds, args.warmup
    kinds = [k for k in args.kinds if k != "d" or granian]
    started: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
    results: dict[str, list[tuple[float, float]]] = {kind: [] for kind in kinds}
    loop = _new_loop()
    try:
        for kind in kinds:  # inside the try: a server that fails to start stops the others
            started[kind] = _start(kind, granian, not args.own_heap)
        for number in range(rounds):
            order = kinds[number % len(kinds) :] + kinds[: number % len(kinds)]
            for kind in order:
                process, port = started[kind]
                rps, cpu = loop.run_until_complete(_measure(port, process.pid, seconds, warmup))
                results[kind].append((rps, cpu))
                print(f"round {number + 1} ({kind}) {rps:>8,.0f} req/s {cpu:>7.1f} µs CPU/req")
    finally:
        loop.close()
        for process, _ in started.values():
            process.terminate()
            process.wait(10)
    _report(results)


# --- json against orjson ------------------------------------------------------------


def json_micro(rounds: int = 3) -> dict[str, float]:
    """µs per call, median of ``rounds`` (interleaved): json and orjson on the gateway's
    JSON work per chat call: loads of the request (app.py), dumps of it when the gateway
    rewrites it (app.py), and loads and dumps of a response (finish.py, error bodies)."""
    import orjson

    request = json.loads(REQUEST_BODY)
    cases: dict[str, tuple[Callable[[], object], Callable[[], object]]] = {
        "loads 6 KB request": (
            lambda: json.loads(REQUEST_BODY),
            lambda: orjson.loads(REQUEST_BODY),
        ),
        "dumps 6 KB request": (lambda: json.dumps(request).encode(), lambda: orjson.dumps(request)),
        "loads 300 B response": (lambda: json.loads(RESPONSE), lambda: orjson.loads(RESPONSE)),
        "dumps 300 B response": (
            lambda: json.dumps(RESPONSE_DOC).encode(),
            lambda: orjson.dumps(RESPONSE_DOC),
        ),
    }
    times: dict[str, list[float]] = {}
    for _ in range(rounds):
        for name, pair in cases.items():
            for library, call in zip(("json", "orjson"), pair, strict=True):
                best = min(timeit.repeat(call, number=2000, repeat=3)) / 2000 * 1e6
                times.setdefault(f"{library}|{name}", []).append(best)
    return {key: statistics.median(values) for key, values in times.items()}


def report_json(python: str | None) -> None:
    try:
        import orjson  # noqa: F401

        figures, where = json_micro(), sys.executable
    except ImportError:
        if python is None:
            print("json vs orjson: skipped, no orjson here and no --granian-python")
            return
        command = [python, str(HERE / "server_choice.py"), "--json-micro"]
        figures, where = json.loads(subprocess.check_output(command)), python
    print(f"\njson vs orjson (µs per call, median of 3 rounds, in {where}):")
    total = {"json": 0.0, "orjson": 0.0}
    for key in figures:
        library, name = key.split("|")
        total[library] += figures[key]
        if library == "json":
            base, fast = figures[key], figures[f"orjson|{name}"]
            print(f"  {name:<22} json {base:>6.1f}  orjson {fast:>6.1f}  ratio {fast / base:.2f}")
    print(f"  {'all four':<22} json {total['json']:>6.1f}  orjson {total['orjson']:>6.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--warmup", type=float, default=0.7)
    parser.add_argument("--granian-python", default=None)
    parser.add_argument("--kinds", default="abcdefg", help="which servers (a must be first)")
    parser.add_argument(
        "--own-heap", action="store_true", help="servers b-e without llmtally's modules loaded"
    )
    parser.add_argument("--serve", choices=sorted(set(KINDS) - {"d"}), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--json-micro", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
    elif args.json_micro:
        print(json.dumps(json_micro()))
    else:
        sizes = f"request body {len(REQUEST_BODY):,} bytes, response {len(RESPONSE)} bytes"
        print(f"{sizes}, c={CONCURRENCY}")
        run_servers(args, _granian_python(args.granian_python))
        report_json(args.granian_python)


if __name__ == "__main__":
    main()
