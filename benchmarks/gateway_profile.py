"""A per-call CPU profile of one llmtally worker under c=N load (issue 16).

Run through ``benchmarks/gateway_workers.py --profile SECONDS``. In one run, with the
gateway on CPU 0 and the client and upstream on the others: (1) the direct upstream
as a target (the baseline), (2) ``llmtally serve`` unprofiled, (3) the same under
cProfile (every thread, timer ``time.thread_time`` so a thread waiting for the GIL
or the CPU is not charged; ``benchmarks/serve_probe.py``). Each gets one c=N
non-streaming window. CPU per request per thread comes from /proc for (1) and (2);
the profile of (3) gives each thread's split by area (self time of the functions in
that area's files; a C builtin's self time goes to its caller's area; CPU under no
Python frame, i.e. uvloop's own C and its syscalls, is "event loop (C)"). The
microseconds per call by area are that split times (2)'s unprofiled CPU per call of
the thread: cProfile inflates areas made of many small calls, so they are estimates.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pstats
import re
import signal
import sys
import time
from pathlib import Path

import gateway as gw  # benchmarks/gateway.py
import procmem
from gateway_workers import Placement, start

# First match wins: the specific llmtally modules before the catch-all gateway/ one.
AREAS: list[tuple[str, tuple[str, ...]]] = [
    ("uvicorn protocol", ("uvicorn/", "httptools", "h11/", "asgi_body.py", "http_limits.py")),
    ("budget reservation", ("budget_gate.py", "llmtally/budgets/")),
    (
        "upstream client",
        ("upstream_raw.py", "aiohttp/", "yarl/", "multidict/", "httpx", "httpcore"),
    ),
    (
        "recording/pricing",
        (
            "recording.py",
            "finish.py",
            "call_rows.py",
            "call_ingest.py",
            "ledger_link.py",
            "llmtally/pricing.py",
            "llmtally/costing.py",
            "llmtally/usage.py",
            "llmtally/meter.py",
            "llmtally/providers/",
            "llmtally/money.py",
            "llmtally/catalog/",
            "llmtally/tokens/",
        ),
    ),  # fmt: skip
    ("ledger writer", ("llmtally/ledger/", "sqlite3")),
    ("metrics", ("gateway/metrics.py", "llmtally/otel/", "opentelemetry", "prometheus")),
    ("routing/guards", ("llmtally/gateway/", "starlette/", "fastapi/", "llmtally/")),
    ("json", ("json/", "orjson")),
    ("event loop (Python)", ("asyncio/", "uvloop", "selectors.py", "socket.py", "ssl.py")),
]
C_LOOP = "event loop (C)"
OTHER = "other (stdlib)"


def area_of(filename: str) -> str:
    for name, needles in AREAS:
        if any(n in filename for n in needles):
            return name
    return OTHER


def split_profile(path: Path) -> tuple[dict[str, float], list[tuple[float, str]]]:
    """Self seconds by area, and the functions' self seconds (largest first)."""
    stats = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    areas: dict[str, float] = {}
    funcs: list[tuple[float, str]] = []
    for (filename, line, name), (_cc, _nc, tt, _ct, callers) in stats.items():
        funcs.append((tt, f"{Path(filename).name}:{line}({name})" if line else name))
        if filename != "~" or not callers:
            areas[area_of(filename)] = areas.get(area_of(filename), 0.0) + tt
            continue
        total = sum(c[2] for c in callers.values()) or 1.0
        for (caller_file, _l, _n), c in callers.items():
            key = area_of(caller_file) if caller_file != "~" else OTHER
            areas[key] = areas.get(key, 0.0) + tt * c[2] / total
    funcs.sort(reverse=True)
    return areas, funcs


def group(name: str) -> str:
    """A thread's group: pool threads (``llmtally-finish_0``) and repeats (``-2``) as one."""
    return re.sub(r"(_\d+)?(-\d+)?$", "", name)


def thread_names(tids_file: Path) -> dict[int, str]:
    names: dict[int, str] = {}
    if tids_file.exists():
        for line in tids_file.read_text().splitlines():
            tid, _, name = line.partition(" ")
            names[int(tid)] = group(name)
    return names


def thread_cpu(pid: int, tids_file: Path) -> dict[str, float]:
    """CPU seconds per thread group of one process (main = the event loop)."""
    names = thread_names(tids_file)
    out: dict[str, float] = {}
    for task in (procmem.PROC / str(pid) / "task").iterdir():
        cpu = procmem.cpu_seconds_of(task)
        name = names.get(int(task.name), "main" if int(task.name) == pid else "unnamed")
        out[name] = out.get(name, 0.0) + cpu
    return out


async def warm(p: Placement, args: argparse.Namespace) -> None:
    """Two seconds of c=N traffic first: lazy loads (the tokenizer in the finish
    thread) and first-time imports are then outside the measured window."""
    import aiohttp

    assert p.target is not None
    payload = json.dumps(gw.PROMPT).encode()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        await gw.rate(session, p.target, payload, args.concurrency, 2.0)


async def window(p: Placement, args: argparse.Namespace, tids: Path | None) -> dict[str, object]:
    import aiohttp

    assert p.target is not None
    t, pid = p.target, p.target.process.pid
    before = thread_cpu(pid, tids) if tids else {"all": procmem.cpu_seconds(pid)}
    ok0 = t.sent - t.failed
    payload = json.dumps(gw.PROMPT).encode()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        rate = await gw.rate(session, t, payload, args.concurrency, args.profile)
    after = thread_cpu(pid, tids) if tids else {"all": procmem.cpu_seconds(pid)}
    done = t.sent - t.failed - ok0
    per = {k: (v - before.get(k, 0.0)) / done * 1e6 for k, v in after.items()}
    return {"rate": rate, "requests": done, "us": per}


def wait_rows(target: gw.Target, timeout: float = 30) -> int:
    python = gw.llmtally_bin(None).parent / "python"
    assert target.ledger
    deadline = time.monotonic() + timeout
    while True:
        rows = gw.count_rows(python, target.ledger)
        if rows >= target.sent or time.monotonic() > deadline:
            return rows
        time.sleep(0.2)


def run_profile(folder: Path, args: argparse.Namespace, cpus: list[int]) -> None:
    first, rest = {cpus[0]}, set(cpus[1:])
    up_port = gw.free_port()
    me = [sys.executable, str(HERE / "gateway.py"), "--serve-upstream", str(up_port)]
    upstream = gw.spawn(me, folder / "upstream.log", rest)
    profiles = folder / "profiles"
    profiles.mkdir(exist_ok=True)
    tids = {"llmtally": folder / "tids-plain", "llmtally-cprofile": folder / "tids-prof"}
    direct = Placement("direct", 0, first, rest)
    plain = Placement("llmtally", 1, first, rest)
    prof = Placement("llmtally-cprofile", 1, first, rest)
    direct.target = start(folder, direct, up_port)
    plain.target = start(folder, plain, up_port, {"BENCH_TIDS": str(tids["llmtally"])})
    probe = {"BENCH_TIDS": str(tids["llmtally-cprofile"]), "BENCH_PROFILE": str(profiles)}
    prof.target = start(folder, prof, up_port, probe)
    assert plain.target and prof.target
    os.sched_setaffinity(0, rest)
    results: dict[str, dict[str, object]] = {}
    try:
        for p in (direct, plain, prof):
            asyncio.run(gw.wait_ready(p.target, 60))  # type: ignore[arg-type]
            asyncio.run(warm(p, args))
        wait_rows(plain.target)
        wait_rows(prof.target)
        results["direct"] = asyncio.run(window(direct, args, None))
        results["llmtally"] = asyncio.run(window(plain, args, tids["llmtally"]))
        prof.target.process.send_signal(signal.SIGUSR1)
        time.sleep(0.2)
        results["llmtally-cprofile"] = asyncio.run(window(prof, args, tids["llmtally-cprofile"]))
        rows = wait_rows(prof.target)  # the writer thread's work for these calls, then dump
        prof.target.process.send_signal(signal.SIGUSR2)
        deadline = time.monotonic() + 60
        while not (profiles / "done").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        for p in (direct, plain, prof):
            if p.target is not None:
                gw.stop(p.target.process)
        gw.stop(upstream)
    print(f"ledger rows of the profiled run when dumped: {rows:,} of {prof.target.sent:,} sent")
    print("\n".join(report(results, profiles, args)))


def report(results: dict[str, dict[str, object]], profiles: Path, args: argparse.Namespace):
    lines = [f"c={args.concurrency} non-streaming, one {args.profile:.0f} s window each:"]
    for name, r in results.items():
        us: dict[str, float] = r["us"]  # type: ignore[assignment]
        split = ", ".join(f"{k} {v:.0f}" for k, v in sorted(us.items(), key=lambda kv: -kv[1]))
        lines.append(
            f"  {name:18} {r['rate']:7,.0f} req/s, {r['requests']:,} requests; CPU us/request"
            f" {sum(us.values()):.0f} ({split})"
        )
    plain: dict[str, float] = results["llmtally"]["us"]  # type: ignore[assignment]
    profiled: dict[str, float] = results["llmtally-cprofile"]["us"]  # type: ignore[assignment]
    calls = int(results["llmtally-cprofile"]["requests"])  # type: ignore[call-overload]
    for thread in sorted(plain, key=lambda k: -plain[k]):
        files = [f for f in profiles.glob("*.prof") if group(f.stem) == thread]
        if not files or plain[thread] < 1:
            continue
        areas: dict[str, float] = {}
        funcs: list[tuple[float, str]] = []
        for f in files:
            a, fs = split_profile(f)
            for k, v in a.items():
                areas[k] = areas.get(k, 0.0) + v
            funcs += fs
        seen = sum(areas.values())
        measured = profiled.get(thread, 0.0) * calls / 1e6  # the profiled thread's CPU (s)
        if measured > seen:
            areas[C_LOOP] = measured - seen
        total = sum(areas.values()) or 1.0
        lines.append(
            f"thread {thread}: {plain[thread]:.0f} us/call unprofiled "
            f"({profiled.get(thread, 0.0):.0f} under cProfile); by area, us/call (share):"
        )
        for k, v in sorted(areas.items(), key=lambda kv: -kv[1]):
            lines.append(f"    {k:22} {plain[thread] * v / total:6.1f}  ({v / total:.0%})")
        top = ", ".join(f"{n} {tt / calls * 1e6:.1f}" for tt, n in sorted(funcs, reverse=True)[:8])
        lines.append(f"    top self times under cProfile, us/call: {top}")
    return lines


HERE = Path(__file__).resolve().parent
