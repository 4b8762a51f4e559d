"""``llmtally serve --workers N``: throughput, CPU per request and memory per worker,
and a per-call CPU profile of one worker (issue 16).

    .venv/bin/python benchmarks/gateway_workers.py [--seconds 5] [--rounds 3]
        [--concurrency 64] [--profile SECONDS]

Reuses benchmarks/gateway.py's upstream, processes, client and budget (each llmtally
ledger gets one covering every call). One fast upstream,
the direct baseline (that upstream as a target) and four llmtally placements, all
started at once and measured in interleaved rounds of non-streaming c=N windows:

- ``w1@0``: ``--workers 1`` on CPU 0; client and upstream on CPU 1 (gateway.py's setup)
- ``w2@0``: ``--workers 2`` both on CPU 0; client and upstream on CPU 1. Same CPU as
  ``w1@0``: what a second worker costs per request (its share of work, the kernel
  handing connections to two processes), measured as CPU per request.
- ``w1@01`` / ``w2@01``: the gateway on both CPUs, sharing them with the client and
  the upstream (nothing pinned apart): the ratio the machine can show, but not N
  workers on N *free* cores, since the load generator takes CPU from them.

Per window: requests/s, the gateway's CPU seconds (every process of it, from /proc)
per request, its CPU use (cores busy), and each process's RSS/USS at the end.
With 2 cores, N workers on N free cores cannot be run; the extrapolation uses the
CPU per request: a worker that saturates its own core serves 1 / (CPU per request)
requests/s, so N workers give N x that, and the scaling efficiency is
(CPU per request with 1 worker) / (CPU per request with N workers), as long as
nothing shared (the SQLite ledger's lock, the upstream) saturates first.

``--profile S`` instead runs ``--workers 1`` (writer thread) on CPU 0 under cProfile
(every thread; ``benchmarks/serve_probe.py``) for one c=N window of S seconds, next
to the direct upstream and an unprofiled llmtally in the same run, and prints the
self time per call by area, scaled to the unprofiled CPU per call of each thread.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import gateway as gw  # benchmarks/gateway.py
import procmem

HERE = Path(__file__).resolve().parent


@dataclass
class Placement:
    name: str
    workers: int
    cpus: set[int]
    side: set[int]  # the client's and the upstream's CPUs during its windows
    target: gw.Target | None = None
    windows: list[dict[str, float]] = field(default_factory=list)
    memory: dict[str, list[procmem.Memory]] = field(default_factory=dict)


def placements(cpus: list[int]) -> list[Placement]:
    first, rest, every = {cpus[0]}, set(cpus[1:]), set(cpus)
    return [
        Placement("direct@0", 0, first, rest),
        Placement("w1@0", 1, first, rest),
        Placement("w2@0", 2, first, rest),
        Placement("w1@01", 1, every, every),
        Placement("w2@01", 2, every, every),
    ]


def start(folder: Path, p: Placement, up_port: int, probe: dict[str, str] | None = None):
    port = gw.free_port()
    if p.workers == 0:
        cmd = [sys.executable, str(HERE / "gateway.py"), "--serve-upstream", str(port)]
        return gw._target(p.name, port, folder, cmd, p.cpus)
    spool = folder / f"spool-{p.name}" / "ledger-spool.jsonl"
    env = {
        **os.environ,
        "LLMTALLY_HOME": str(folder),
        "LLMTALLY_SPOOL": str(spool),
        **(probe or {}),
    }
    env.pop("LLMTALLY_CONFIG", None)
    env.pop("LLMTALLY_WORKERS", None)
    gw.add_budget(gw.llmtally_bin(None), gw.ledger_url(folder, p.name), env)  # as gateway.py
    head = [sys.executable, str(HERE / "serve_probe.py")] if probe else [str(gw.llmtally_bin(None))]
    cmd = [
        *head, "serve", "--port", str(port), "--workers", str(p.workers),
        "--config", str(gw.llmtally_config(folder, up_port)),
        "--database-url", gw.ledger_url(folder, p.name),
    ]  # fmt: skip
    target = gw._target(p.name, port, folder, cmd, p.cpus, env)
    target.ledger = gw.ledger_url(folder, p.name)
    return target


def tree_cpu(pid: int) -> dict[int, float]:
    return {p: procmem.cpu_seconds(p) for p in procmem.tree(pid)}


async def window(session, p: Placement, upstream_pid: int, args: argparse.Namespace) -> None:
    """One c=N non-streaming window (gateway.rate: 0.5 s warm-up, then the timed part);
    CPU and requests are counted over both, so CPU per request is exact."""
    assert p.target is not None
    os.sched_setaffinity(0, p.side)
    os.sched_setaffinity(upstream_pid, p.side)
    t = p.target
    before, ok0, start = tree_cpu(t.process.pid), t.sent - t.failed, time.perf_counter()
    up0 = procmem.cpu_seconds(upstream_pid)
    rate = await gw.rate(session, t, json.dumps(gw.PROMPT).encode(), args.concurrency, args.seconds)
    p.memory["under load"] = procmem.tree_memory(t.process.pid)
    after, wall = tree_cpu(t.process.pid), time.perf_counter() - start
    done = t.sent - t.failed - ok0
    cpu = sum(after[pid] - before.get(pid, 0.0) for pid in after)
    workers = sorted(after[pid] - before.get(pid, 0.0) for pid in after if pid != t.process.pid)
    p.windows.append(
        {
            "rate": rate,
            "cpu_us": cpu / done * 1e6,
            "cores": cpu / wall,
            "upstream_us": (procmem.cpu_seconds(upstream_pid) - up0) / done * 1e6,
            "worker_share": (workers[0] / workers[-1]) if len(workers) > 1 and workers[-1] else 1.0,
        }
    )


async def first_calls(places: list[Placement]) -> None:
    """One call per worker (c=workers), then memory again: what the first calls load
    lazily (tokenizer, price tables) apart from what load itself holds."""
    import aiohttp

    payload = json.dumps(gw.PROMPT).encode()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        for p in places:
            assert p.target is not None
            n = max(1, p.workers) * 4  # connections land on workers unevenly: a few each
            await asyncio.gather(*(gw.post(session, p.target, payload) for _ in range(n)))
    time.sleep(1.0)  # the finish thread and writer are done with them
    for p in places:
        assert p.target is not None
        p.memory["after 4 calls per worker"] = procmem.tree_memory(p.target.process.pid)


async def rounds(places: list[Placement], upstream_pid: int, args: argparse.Namespace) -> None:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(60)) as s:
        for r in range(args.rounds):
            order = places[r % len(places) :] + places[: r % len(places)]
            for p in order:
                await window(s, p, upstream_pid, args)
            print(
                f"  round {r + 1}: "
                + "; ".join(f"{p.name} {p.windows[-1]['rate']:,.0f} req/s" for p in order),
                flush=True,
            )


def med(p: Placement, key: str) -> float:
    return statistics.median(w[key] for w in p.windows)


def report_workers(by: dict[str, Placement], args: argparse.Namespace) -> list[str]:
    lines = [f"c={args.concurrency} non-streaming, median of {args.rounds} rounds:"]
    for p in by.values():
        lines.append(
            f"  {p.name:9} {med(p, 'rate'):7,.0f} req/s  gateway CPU {med(p, 'cpu_us'):6.0f} us/req"
            f"  ({med(p, 'cores'):.2f} cores busy)"
            f"  upstream CPU {med(p, 'upstream_us'):4.0f} us/req"
            + (f"  worker CPU split {med(p, 'worker_share'):.2f}" if p.workers > 1 else "")
        )
    w1, w2 = by["w1@0"], by["w2@0"]
    same = med(w2, "rate") / med(w1, "rate")
    shared = med(by["w2@01"], "rate") / (2 * med(w1, "rate"))
    shared1 = med(by["w2@01"], "rate") / med(by["w1@01"], "rate")
    eff = med(w1, "cpu_us") / med(w2, "cpu_us")
    lines += [
        f"  w2@0 / w1@0 (two workers, one core): {same:.2f}x",
        f"  w2@01 / w1@01 (both on 2 cores shared with client+upstream): {shared1:.2f}x",
        f"  w2@01 / (2 x w1@0): {shared:.0%} (goal >= 80% on N free cores; these are not free)",
        f"  CPU-per-request efficiency w1/w2: {eff:.0%}: N workers on N free cores would give"
        f" ~{eff:.0%} of N x {med(w1, 'rate'):,.0f} req/s while the upstream, client and ledger"
        " keep up (goal >= 80%)",
    ]
    lines.append("memory per process (RSS/USS MiB):")
    return lines + procmem.report([(p.name, p.memory) for p in by.values()])


def run_workers(folder: Path, args: argparse.Namespace, cpus: list[int]) -> None:
    places = placements(cpus)
    up_port = gw.free_port()
    me = [sys.executable, str(HERE / "gateway.py"), "--serve-upstream", str(up_port)]
    upstream = gw.spawn(me, folder / "upstream.log", set(cpus[1:]))
    try:
        for p in places:
            p.target = start(folder, p, up_port)
        for p in places:
            assert p.target is not None
            asyncio.run(gw.wait_ready(p.target, 60))
        time.sleep(1.0)  # every worker up (the port answers once the first is)
        for p in places:
            assert p.target is not None
            p.memory["at rest"] = procmem.tree_memory(p.target.process.pid)
        asyncio.run(first_calls(places))
        asyncio.run(rounds(places, upstream.pid, args))
    finally:
        for p in places:
            if p.target is not None:
                gw.stop(p.target.process)
        gw.stop(upstream)
    lost = []
    for p in places:
        if p.target is not None and p.target.ledger:
            python = gw.llmtally_bin(None).parent / "python"
            rows = gw.count_rows(python, p.target.ledger)
            lost.append(f"{p.name} {p.target.sent - rows:,} of {p.target.sent:,}")
    print("\n".join(report_workers({p.name: p for p in places}, args)))
    print("ledger rows lost: " + ", ".join(lost))
    failed = [f"{p.name} {p.target.failed:,}" for p in places if p.target is not None]
    print("failed requests: " + ", ".join(failed))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--profile", type=float, help="seconds of c=N traffic under cProfile")
    parser.add_argument("--keep", help="a folder for the profiles (default: a temporary one)")
    args = parser.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        raise SystemExit("needs 2 or more CPUs (the gateway on one, the client on another)")
    gw._install_uvloop()
    print(f"python {sys.version.split()[0]}, {len(cpus)} CPUs, {os.uname().machine}")
    with tempfile.TemporaryDirectory(prefix="llmtally-workers-bench-") as tmp:
        folder = Path(args.keep or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        if args.profile:
            from gateway_profile import run_profile

            run_profile(folder, args, cpus)
        else:
            run_workers(folder, args, cpus)


if __name__ == "__main__":
    main()
