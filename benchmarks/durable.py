"""What the durable ledger mode costs, and what the default mode can lose.

    .venv/bin/python benchmarks/durable.py [--requests 1000] [--seconds 4] [--rounds 3]
        [--kill-after 3] [--no-pin]

Two ``llmtally serve`` processes on fresh SQLite ledgers, one with the default
ledger (write-behind) and one with ``ledger: {durable: true}`` (each call
fsync'd to the journal, in group commits, before its response completes), both
routing to the fast local upstream of ``benchmarks/gateway.py`` (its own
process). Rounds are interleaved, the two modes in a rotating order; each round
times ``--requests`` non-streaming calls at concurrency 1 (latency p50/p99) and
measures req/s for ``--seconds`` at concurrency 1 and 64. Figures are medians of
the rounds; the durable/default ratio is printed against the default run of the
same process. With 2+ cores the gateways are pinned to CPU 0, the client and the
upstream to the others.

Then the loss window: each mode, fresh, takes traffic at concurrency 4 (light)
and 64 (saturating) whose calls carry unique trace ids; after ``--kill-after``
seconds it gets SIGKILL. It is started again on the same ledger (the durable one
replays its journal), and the answered calls (a 200 whose whole body arrived)
missing from the ledger are counted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from gateway import (
    HEADERS,
    PROMPT,
    _install_uvloop,
    free_port,
    llmtally_bin,
    percentile,
    spawn,
    stop,
)

MODES = {"default": "{}", "durable": "{durable: true}"}


@dataclass
class Gateway:
    mode: str
    folder: Path
    port: int
    process: subprocess.Popen[bytes] | None = None
    latencies: list[float] = field(default_factory=list)
    rates: dict[int, list[float]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/chat/completions"

    @property
    def database(self) -> Path:
        return self.folder / "ledger.sqlite3"


def start(gateway: Gateway, upstream_port: int, cpus: set[int] | None, binary: Path) -> None:
    gateway.folder.mkdir(parents=True, exist_ok=True)
    config = gateway.folder / "llmtally.yaml"
    config.write_text(
        "upstreams:\n"
        f"  local: {{kind: openai, base_url: 'http://127.0.0.1:{upstream_port}', "
        "provider: openai}\n"
        "routes:\n"
        "  - {match: '*', upstream: local}\n"
        f"ledger: {MODES[gateway.mode]}\n"
    )
    env = {
        **os.environ,
        "LLMTALLY_HOME": str(gateway.folder),
        "LLMTALLY_SPOOL": str(gateway.folder / "spool.jsonl"),
    }
    env.pop("LLMTALLY_CONFIG", None)
    cmd = [
        str(binary), "serve", "--port", str(gateway.port), "--config", str(config),
        "--database-url", f"sqlite:///{gateway.database}",
    ]  # fmt: skip
    log = gateway.folder / f"serve-{time.time_ns()}.log"
    gateway.process = spawn(cmd, log, cpus, env)


async def wait_up(gateway: Gateway) -> None:
    import aiohttp

    ready = f"http://127.0.0.1:{gateway.port}/v1/models"
    async with aiohttp.ClientSession() as session:
        for _ in range(600):
            try:
                async with session.get(ready) as response:
                    await response.read()
                    return
            except aiohttp.ClientError:
                await asyncio.sleep(0.1)
    raise SystemExit(f"llmtally serve ({gateway.mode}) did not start")


# --- the cost ----------------------------------------------------------------------


async def post(session, url: str, payload: bytes, trace: str | None = None) -> bool:
    headers = HEADERS if trace is None else {**HEADERS, "x-llmtally-trace-id": trace}
    async with session.post(url, data=payload, headers=headers) as response:
        await response.read()
        return response.status == 200


async def latency(session, gateway: Gateway, requests: int) -> None:
    payload = json.dumps(PROMPT).encode()
    for _ in range(50):
        await post(session, gateway.url, payload)
    for _ in range(requests):
        began = time.perf_counter()
        await post(session, gateway.url, payload)
        gateway.latencies.append(time.perf_counter() - began)


async def rate(session, gateway: Gateway, concurrency: int, seconds: float) -> float:
    payload = json.dumps(PROMPT).encode()
    done = 0

    async def worker(deadline: float) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            ok = await post(session, gateway.url, payload)
            done += ok

    began = time.perf_counter()
    await asyncio.gather(*(worker(began + seconds) for _ in range(concurrency)))
    return done / (time.perf_counter() - began)


async def measure(gateways: list[Gateway], args: argparse.Namespace) -> None:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        for r in range(args.rounds):
            order = gateways[r % 2 :] + gateways[: r % 2]
            for gateway in order:
                await latency(session, gateway, args.requests)
                for concurrency in (1, 64):
                    got = await rate(session, gateway, concurrency, args.seconds)
                    gateway.rates.setdefault(concurrency, []).append(got)
            line = "; ".join(
                f"{g.mode} {g.rates[1][-1]:,.0f} req/s at c=1, {g.rates[64][-1]:,.0f} at c=64"
                for g in order
            )
            print(f"  round {r + 1}: {line}", flush=True)


def report(by: dict[str, Gateway]) -> list[str]:
    base, durable = by["default"], by["durable"]
    lines = []
    b50, b99 = percentile(base.latencies, 0.5), percentile(base.latencies, 0.99)
    for g in (base, durable):
        p50, p99 = percentile(g.latencies, 0.5), percentile(g.latencies, 0.99)
        lines.append(
            f"  {g.mode:8} c=1 latency p50 {p50:.3f} ms (+{p50 - b50:.3f}), "
            f"p99 {p99:.3f} ms (+{p99 - b99:.3f}); {len(g.latencies):,} timed calls"
        )
    for concurrency in (1, 64):
        a = statistics.median(base.rates[concurrency])
        b = statistics.median(durable.rates[concurrency])
        lines.append(
            f"  c={concurrency:<2} req/s: default {a:,.0f}, durable {b:,.0f} "
            f"(durable/default {b / a:.2f}, median of {len(base.rates[concurrency])} rounds)"
        )
    return lines


# --- the loss window ---------------------------------------------------------------


async def kill_under_load(gateway: Gateway, seconds: float, concurrency: int) -> list[str]:
    """Traffic at ``concurrency``; SIGKILL after ``seconds``; the answered trace ids."""
    import aiohttp

    payload = json.dumps(PROMPT).encode()
    answered: list[str] = []

    async def worker(name: int) -> None:
        n = 0
        while True:
            trace = f"w{name}-{n}"
            n += 1
            try:
                if await post(session, gateway.url, payload, trace):
                    answered.append(trace)
            except (aiohttp.ClientError, OSError):
                return

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        tasks = [asyncio.ensure_future(worker(i)) for i in range(concurrency)]
        await asyncio.sleep(seconds)
        assert gateway.process is not None
        gateway.process.send_signal(signal.SIGKILL)
        gateway.process.wait()
        await asyncio.gather(*tasks)
    return answered


def stored(database: Path) -> set[str]:
    with sqlite3.connect(database) as conn:
        return {row[0] for row in conn.execute("SELECT trace_id FROM calls")}


def loss_window(
    folder: Path, upstream_port: int, pins: tuple[set[int] | None, ...], binary: Path, after: float
) -> list[str]:
    lines = []
    for concurrency, mode in ((c, m) for c in (4, 64) for m in MODES):
        gateway = Gateway(mode, folder / f"kill-{mode}-{concurrency}", free_port())
        start(gateway, upstream_port, pins[0], binary)
        asyncio.run(wait_up(gateway))
        answered = asyncio.run(kill_under_load(gateway, after, concurrency))
        start(gateway, upstream_port, pins[0], binary)  # the same ledger: replays the journal
        asyncio.run(wait_up(gateway))
        time.sleep(2)  # the replay runs in the writer's first moments
        assert gateway.process is not None
        stop(gateway.process)
        kept = stored(gateway.database)
        lost = len(set(answered) - kept)
        lines.append(
            f"  {mode:8} SIGKILL after {after:g} s at c={concurrency}: {len(answered):,} answered, "
            f"{lost:,} of them missing from the ledger after a restart "
            f"({len(kept):,} rows)"
        )
    return lines


# --- the run -----------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000, help="timed c=1 calls per round")
    parser.add_argument("--seconds", type=float, default=4.0, help="per rate measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--kill-after", type=float, default=3.0)
    parser.add_argument("--no-pin", action="store_true")
    parser.add_argument("--llmtally-bin", help="default: .venv/bin/llmtally")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    _install_uvloop()
    cpus = sorted(os.sched_getaffinity(0))
    pin = not args.no_pin and len(cpus) >= 2
    pins = ({cpus[0]}, set(cpus[1:])) if pin else (None, None)
    binary = llmtally_bin(args.llmtally_bin)
    with tempfile.TemporaryDirectory(prefix="llmtally-durable-bench-") as tmp:
        folder = Path(tmp)
        up_port = free_port()
        gateway_py = Path(__file__).resolve().parent / "gateway.py"
        upstream_cmd = [sys.executable, str(gateway_py), "--serve-upstream", str(up_port)]
        upstream = spawn(upstream_cmd, folder / "upstream.log", pins[1])
        gateways = [Gateway(mode, folder / mode, free_port()) for mode in MODES]
        try:
            if pins[1]:
                os.sched_setaffinity(0, pins[1])
            for gateway in gateways:
                start(gateway, up_port, pins[0], binary)
                asyncio.run(wait_up(gateway))
            placement = f"gateways on CPU {sorted(pins[0])}" if pins[0] else "not pinned"
            print(f"python {sys.version.split()[0]}, {placement}", flush=True)
            asyncio.run(measure(gateways, args))
        finally:
            for gateway in gateways:
                if gateway.process is not None:
                    stop(gateway.process)
        try:
            lines = report({g.mode: g for g in gateways})
            lines += loss_window(folder, up_port, pins, binary, args.kill_after)
        finally:
            stop(upstream)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
