"""Budgets that hold across gateway processes, restarts and crashes, and what
the reservation costs.

    .venv/bin/python benchmarks/budgets.py [--requests 400] [--seconds 3] [--rounds 3]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test] [--no-pin]

Every figure is from real ``llmtally serve`` processes sharing one PostgreSQL
ledger (a fresh schema per scenario), against a fast local upstream (its own
process) that answers each gpt-4o call with the whole ``max_tokens`` it was
allowed: the worst case, so that every call spends exactly what it reserved.
The prompt ``[{"role": "user", "content": "Hi"}]`` is 8 tokens for gpt-4o
(o200k: 3 per message + "user" + "Hi" + 3 to prime the answer); with
``max_tokens=290`` a call costs 8 x $2.50/1M + 290 x $10/1M = $0.00292, the
figure of issue 12. A key's $0.05 daily budget holds 17 such calls ($0.04964).

1. Bursts: 200 requests at once, plain and streamed, spread over 1, 2 and 4
   gateway processes: calls admitted, and the key's spend in the ledger.
2. A restart in the middle: 10 calls, the gateway stopped and started again,
   then 200 at once: the second start goes on from the persisted counters.
3. SIGKILL: a gateway holding the whole budget in 17 slow calls is killed;
   a second gateway refuses until the dead one's lease (3 s) runs out and its
   sweep frees the budget, then admits 17 again. The time to recover is timed.
4. Latency: one gateway, a key with a budget (reserve, then settle) against a
   key without one (budgets off), rounds interleaved: p50/p99 at concurrency 1
   and requests/s at 64, as ratios to budgets off.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from gateway import _install_uvloop, free_port, llmtally_bin, spawn, stop
from gateway_report import percentile

PROMPT = [{"role": "user", "content": "Hi"}]
MAX_TOKENS = 290
EACH = Decimal("0.00292")  # 8 x 2.50/1M + 290 x 10/1M
BUDGET = Decimal("0.05")
FITS = 17  # 17 x 0.00292 = 0.04964; 18 x 0.00292 = 0.05256 > 0.05
LEASE_S = 3
SLOW_S = 30  # a call whose "user" is "slow" waits this long upstream

# --- the upstream: every call uses its whole max_tokens ------------------------------


def _completion(request: dict[str, object]) -> dict[str, object]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1764000000,
        "model": "gpt-4o-2024-08-06",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"},
                     "finish_reason": "length"}],
        "usage": {"prompt_tokens": 8, "completion_tokens": request.get("max_tokens", 1),
                  "total_tokens": 8 + int(request.get("max_tokens", 1))},  # type: ignore[call-overload]
    }  # fmt: skip


def _answer(request: dict[str, object]) -> bytes:
    body = _completion(request)
    if not request.get("stream"):
        raw = json.dumps(body).encode()
        head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
        return head % len(raw) + raw
    chunk = {**body, "object": "chat.completion.chunk"}
    events = [
        {**chunk, "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}],
         "usage": None},
        {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "length"}],
         "usage": None},
        {**chunk, "choices": []},
    ]  # fmt: skip
    lines = [f"data: {json.dumps(e)}\n\n".encode() for e in events] + [b"data: [DONE]\n\n"]
    raw = b"".join(b"%x\r\n%s\r\n" % (len(line), line) for line in lines) + b"0\r\n\r\n"
    head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n"
    return head + b"\r\n" + raw


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                (int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                 if line.lower().startswith(b"content-length:")), 0,
            )  # fmt: skip
            request = json.loads(await reader.readexactly(length) or b"{}")
            if request.get("user") == "slow":
                await asyncio.sleep(SLOW_S)
            writer.write(_answer(request))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


def serve_upstream(port: int) -> None:
    async def main() -> None:
        server = await asyncio.start_server(_handle, "127.0.0.1", port, backlog=2048)
        async with server:
            await server.serve_forever()

    _install_uvloop()
    asyncio.run(main())


# --- the gateways and their ledger -------------------------------------------------


@dataclass
class Setup:
    folder: Path
    binary: Path
    upstream_port: int
    base_url: str  # PostgreSQL
    cpus: set[int] | None


class Ledger:
    """A fresh PostgreSQL schema, dropped at the end."""

    def __init__(self, base_url: str) -> None:
        self.schema = f"llmtally_bench_{uuid.uuid4().hex[:10]}"
        self.libpq = make_url(base_url).set(drivername="postgresql").render_as_string(False)
        with psycopg.connect(self.libpq, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{self.schema}"')
        options = {"options": f"-csearch_path={self.schema}"}
        self.url = make_url(base_url).update_query_dict(options).render_as_string(False)

    def drop(self) -> None:
        with psycopg.connect(self.libpq, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{self.schema}" CASCADE')

    def key(self, name: str, budget: Decimal | None) -> tuple[str, str]:
        """A gateway key (with a daily budget, or none): its id and secret."""
        from llmtally.ledger import open_store
        from llmtally.ledger.keys import KeyStore

        with open_store(self.url) as store:
            made = KeyStore(store).create(name, budget, "day")
        return made.key.id, made.secret

    def spent(self, key_id: str) -> tuple[int, Decimal]:
        with psycopg.connect(self.libpq) as conn:
            conn.execute(f'SET search_path TO "{self.schema}"')
            row = conn.execute(
                "SELECT count(*), coalesce(sum(cost_total), 0) FROM calls "
                "WHERE key_id = %s AND status = 200", (key_id,),
            ).fetchone()  # fmt: skip
        assert row is not None
        return int(row[0]), Decimal(row[1])


class Gateway:
    def __init__(self, setup: Setup, ledger: Ledger, name: str) -> None:
        self.setup, self.ledger, self.name = setup, ledger, name
        self.port = free_port()
        self.folder = setup.folder / ledger.schema / name
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/chat/completions"

    def start(self) -> Gateway:
        self.folder.mkdir(parents=True, exist_ok=True)
        config = self.folder / "llmtally.yaml"
        config.write_text(
            "upstreams:\n"
            f"  local: {{kind: openai, base_url: 'http://127.0.0.1:{self.setup.upstream_port}',"
            " provider: openai}\n"
            "routes:\n  - {match: '*', upstream: local}\n"
            f"budgets: {{lease_s: {LEASE_S}}}\n"
        )
        env = {**os.environ, "LLMTALLY_HOME": str(self.folder),
               "LLMTALLY_SPOOL": str(self.folder / "spool.jsonl")}  # fmt: skip
        env.pop("LLMTALLY_CONFIG", None)
        cmd = [str(self.setup.binary), "serve", "--port", str(self.port), "--config",
               str(config), "--database-url", self.ledger.url]  # fmt: skip
        log = self.folder / f"serve-{time.time_ns()}.log"
        self.process = spawn(cmd, log, self.setup.cpus, env)
        asyncio.run(self._wait_up(log))
        return self

    async def _wait_up(self, log: Path) -> None:
        import aiohttp

        async with aiohttp.ClientSession() as session:
            for _ in range(600):
                try:
                    async with session.get(f"http://127.0.0.1:{self.port}/v1/models") as response:
                        await response.read()
                        return
                except aiohttp.ClientError:
                    assert self.process is not None
                    if self.process.poll() is not None:
                        break
                    await asyncio.sleep(0.1)
        raise SystemExit(f"llmtally serve did not start:\n{log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)

    def kill(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()


# --- the client --------------------------------------------------------------------


def payload(stream: bool = False, user: str | None = None) -> bytes:
    body: dict[str, object] = {"model": "gpt-4o", "messages": PROMPT, "max_tokens": MAX_TOKENS}
    if stream:
        body |= {"stream": True, "stream_options": {"include_usage": True}}
    if user:
        body["user"] = user
    return json.dumps(body).encode()


async def post(session, url: str, secret: str, body: bytes) -> int:  # type: ignore[no-untyped-def]
    headers = {"authorization": f"Bearer {secret}", "content-type": "application/json"}
    async with session.post(url, data=body, headers=headers) as response:
        await response.read()
        return int(response.status)


async def burst(urls: list[str], secret: str, n: int, body: bytes) -> Counter[int]:
    import aiohttp

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        statuses = await asyncio.gather(
            *(post(session, urls[i % len(urls)], secret, body) for i in range(n))
        )
    return Counter(statuses)


def wait_recorded(ledger: Ledger, key_id: str, calls: int) -> tuple[int, Decimal]:
    for _ in range(200):
        found = ledger.spent(key_id)
        if found[0] >= calls:
            return found
        time.sleep(0.05)
    return ledger.spent(key_id)


# --- the scenarios -----------------------------------------------------------------


def bursts(setup: Setup) -> list[str]:
    lines = ["processes  stream  admitted  refused (429)  spent (ledger)  budget  holds"]
    lines.append("-" * len(lines[0]))
    for processes in (1, 2, 4):
        for stream in (False, True):
            ledger = Ledger(setup.base_url)
            gateways: list[Gateway] = []
            try:
                key_id, secret = ledger.key("burst", BUDGET)
                gateways = [Gateway(setup, ledger, f"g{i}").start() for i in range(processes)]
                got = asyncio.run(burst([g.url for g in gateways], secret, 200, payload(stream)))
                for gateway in gateways:
                    gateway.stop()
                admitted, spent = wait_recorded(ledger, key_id, got[200])
            finally:
                for gateway in gateways:
                    gateway.stop()
                ledger.drop()
            ok = spent <= BUDGET and got[200] == admitted == FITS and got[429] == 200 - FITS
            lines.append(
                f"{processes:>9}  {'yes' if stream else 'no':>6}  {got[200]:>8}  {got[429]:>13}"
                f"  {'$' + str(spent.normalize()):>14}  ${BUDGET}  "
                f"{'ok' if ok else 'OVERSPENT/WRONG ' + str(got)}"
            )
    return lines


def restart(setup: Setup) -> list[str]:
    ledger = Ledger(setup.base_url)
    try:
        key_id, secret = ledger.key("restart", BUDGET)
        gateway = Gateway(setup, ledger, "g0").start()
        first = asyncio.run(_series(gateway.url, secret, 10))
        gateway.stop()
        gateway = Gateway(setup, ledger, "g0-again").start()
        second = asyncio.run(burst([gateway.url], secret, 200, payload()))
        gateway.stop()
        admitted, spent = wait_recorded(ledger, key_id, first[200] + second[200])
    finally:
        ledger.drop()
    ok = first[200] == 10 and second[200] == FITS - 10 and spent <= BUDGET
    return [
        f"restart: {first[200]} admitted in series, restarted, then {second[200]} of 200 at "
        f"once: {admitted} calls, ${spent.normalize()} of ${BUDGET} ({'ok' if ok else 'WRONG'})"
    ]


async def _series(url: str, secret: str, n: int) -> Counter[int]:
    got: Counter[int] = Counter()
    for _ in range(n):
        got += await burst([url], secret, 1, payload())
    return got


def sigkill(setup: Setup) -> list[str]:
    ledger = Ledger(setup.base_url)
    try:
        key_id, secret = ledger.key("crash", BUDGET)
        _, warm = ledger.key("warm-up", Decimal(1000))
        holder = Gateway(setup, ledger, "holder").start()
        survivor = Gateway(setup, ledger, "survivor").start()
        # a first budgeted call loads the tokenizer (about 1 s here): not in the timing
        for gateway in (holder, survivor):
            asyncio.run(burst([gateway.url], warm, 1, payload()))
        slow = asyncio.run(_hold(holder.url, secret))
        before = asyncio.run(burst([survivor.url], secret, 20, payload()))
        holder.kill()
        killed = time.perf_counter()
        while asyncio.run(burst([survivor.url], secret, 1, payload()))[200] == 0:
            assert time.perf_counter() - killed < 60, "the dead holder's lease never ran out"
            time.sleep(0.1)
        recovered = time.perf_counter() - killed
        after = asyncio.run(burst([survivor.url], secret, 200, payload()))
        survivor.stop()
        admitted, spent = wait_recorded(ledger, key_id, after[200] + 1)
    finally:
        ledger.drop()
    ok = slow == FITS and before[200] == 0 and after[200] + 1 == FITS and spent <= BUDGET
    return [
        f"SIGKILL: {slow} slow calls held the budget in the killed process; the survivor "
        f"refused {before[429]} of 20 meanwhile; usable again {recovered:.1f} s after the kill "
        f"(its process gone; the lease, {LEASE_S} s here, is for other machines); then "
        f"{after[200] + 1} admitted, ${spent.normalize()} spent "
        f"({'ok' if ok else 'WRONG'})"
    ]


async def _hold(url: str, secret: str) -> int:
    """Start FITS slow calls and wait until they hold the whole budget (a further
    call is refused); the slow calls in flight then (0 if they never filled it)."""
    import aiohttp

    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    tasks = [asyncio.ensure_future(post(session, url, secret, payload(user="slow")))
             for _ in range(FITS)]  # fmt: skip
    held = 0
    await asyncio.sleep(1.0)  # the slow calls reserve in milliseconds
    for _ in range(100):
        await asyncio.sleep(0.1)
        if await post(session, url, secret, payload()) == 429:
            held = sum(not task.done() for task in tasks)
            break
    for task in tasks:
        task.cancel()
    await session.close()
    return held


# --- latency -----------------------------------------------------------------------


async def _latency(urls_secrets: dict[str, tuple[str, str]], args: argparse.Namespace):  # type: ignore[no-untyped-def]
    import aiohttp

    body = payload()
    lat: dict[str, list[float]] = {k: [] for k in urls_secrets}
    rates: dict[str, list[float]] = {k: [] for k in urls_secrets}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        for r in range(args.rounds):
            order = list(urls_secrets.items())
            order = order[r % 2 :] + order[: r % 2]
            for name, (url, secret) in order:
                for _ in range(30):
                    await post(session, url, secret, body)
                for _ in range(args.requests):
                    began = time.perf_counter()
                    await post(session, url, secret, body)
                    lat[name].append(time.perf_counter() - began)
                rates[name].append(await _rate(session, url, secret, body, args.seconds))
    return lat, rates


async def _rate(session, url: str, secret: str, body: bytes, seconds: float) -> float:  # type: ignore[no-untyped-def]
    done = 0

    async def worker(deadline: float) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            status = await post(session, url, secret, body)
            if status != 200:
                raise SystemExit(f"a call at concurrency 64 failed: HTTP {status}")
            done += 1

    began = time.perf_counter()
    await asyncio.gather(*(worker(began + seconds) for _ in range(64)))
    return done / (time.perf_counter() - began)


def latency(setup: Setup, args: argparse.Namespace) -> list[str]:
    ledger = Ledger(setup.base_url)
    try:
        _, plain = ledger.key("off", None)
        _, budgeted = ledger.key("on", Decimal("1000000"))
        gateway = Gateway(setup, ledger, "g0").start()
        urls = {"budgets off": (gateway.url, plain), "budget on": (gateway.url, budgeted)}
        lat, rates = asyncio.run(_latency(urls, args))
        gateway.stop()
    finally:
        ledger.drop()
    base, on = lat["budgets off"], lat["budget on"]
    p50, p99 = (
        (percentile(base, 0.5), percentile(on, 0.5)),
        (percentile(base, 0.99), percentile(on, 0.99)),
    )
    r_off, r_on = statistics.median(rates["budgets off"]), statistics.median(rates["budget on"])
    return [
        f"latency c=1 ({len(base)} calls each): budgets off p50 {p50[0]:.2f} ms, p99 "
        f"{p99[0]:.2f} ms; budget on p50 {p50[1]:.2f} ms ({p50[1] / p50[0]:.2f}x, "
        f"{p50[1] - p50[0]:+.2f} ms), p99 {p99[1]:.2f} ms ({p99[1] / p99[0]:.2f}x, "
        f"{p99[1] - p99[0]:+.2f} ms)",
        f"req/s c=64: budgets off {r_off:,.0f}, budget on {r_on:,.0f} ({r_on / r_off:.2f}x)",
    ]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=400, help="timed c=1 calls per round")
    parser.add_argument("--seconds", type=float, default=3.0, help="per c=64 rate measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "LLMTALLY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument("--no-pin", action="store_true")
    parser.add_argument("--only", help="run one part: bursts, restart, sigkill or latency")
    parser.add_argument("--keep", help="keep the gateways' logs in this folder")
    parser.add_argument("--serve-upstream", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--llmtally-bin", help="default: .venv/bin/llmtally")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.serve_upstream:
        serve_upstream(args.serve_upstream)
        return
    cpus = sorted(os.sched_getaffinity(0))
    pins = ({cpus[0]}, set(cpus[1:])) if not args.no_pin and len(cpus) >= 2 else (None, None)
    keep = args.keep and Path(args.keep).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="llmtally-budget-bench-") as made:
        tmp = args.keep if args.keep is not None else made
        del keep
        port = free_port()
        upstream = spawn(
            [sys.executable, __file__, "--serve-upstream", str(port)],
            Path(tmp) / "upstream.log", pins[1],
        )  # fmt: skip
        setup = Setup(Path(tmp), llmtally_bin(args.llmtally_bin), port, args.database_url, pins[0])
        try:
            if pins[1]:
                os.sched_setaffinity(0, pins[1])
            print(f"python {sys.version.split()[0]}, {len(cpus)} CPUs, PostgreSQL ledger")
            parts = {
                "bursts": lambda: bursts(setup),
                "restart": lambda: restart(setup),
                "sigkill": lambda: sigkill(setup),
                "latency": lambda: latency(setup, args),
            }
            for name, part in parts.items():
                if args.only in (None, name):
                    print("\n".join(part()), flush=True)
        finally:
            stop(upstream)


if __name__ == "__main__":
    main()
