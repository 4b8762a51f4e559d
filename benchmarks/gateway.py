"""The gateway's cost per request: llmtally serve against direct calls and the LiteLLM proxy.

    benchmarks/.venv/bin/python benchmarks/gateway.py [--requests 2000] [--concurrency 64]
        [--seconds 5] [--rounds 3] [--skip-litellm] [--no-pin] [--writers thread,process]

Every process talks over 127.0.0.1 only. A fast upstream (asyncio streams, one fixed
OpenAI chat completion with usage; SSE chunks, a usage chunk when
``stream_options.include_usage`` and ``data: [DONE]`` when streaming) runs in its own
process. Three targets, each its own process with one worker: (a) the upstream itself,
(b) ``llmtally serve`` routing ``*`` to the upstream, writing to a fresh SQLite ledger,
(c) the LiteLLM proxy mapping the same model name to the upstream (no database).
The client is this process (aiohttp). With 2+ cores the target under test is pinned
to CPU 0, and the client and the upstream the gateways call to CPU 1 (``--no-pin``).

Rounds are interleaved, targets in a rotating order. Measured: latency p50/p99 at
concurrency 1 (non-streaming; the overhead is a gateway's figure minus the direct
one), and requests/s at ``--concurrency`` for streaming and non-streaming calls. After
the runs llmtally is stopped with SIGTERM (its writer drains) and the ledger's rows are
counted against the requests sent to it.

``--writers thread,aiohttp,process,process-apart`` runs llmtally once per variant in
the same rounds, each on its own SQLite ledger: ``llmtally`` is the default config
(writer thread, the raw upstream client), ``llmtally-aiohttp`` the aiohttp client,
``llmtally-process`` ``ledger: {writer: process}`` (the writer process is the serve
process's child, so on the target's CPU too) and ``llmtally-process-apart`` the same
with the writer process moved to the client's CPU (where a machine's shared writer
would have a core of its own). Every llmtally ledger has a budget covering each call
(``BUDGET``), so each call reserves and settles: issue 16's "with budgets and the
ledger on".
Without LiteLLM installed, pass ``--skip-litellm``.

Each target's memory (RSS and USS of its processes, one line per worker or writer
process; ``benchmarks/procmem.py``) is reported at rest (after start, before traffic)
and under load (right after its last c=N window).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import procmem  # benchmarks/procmem.py: memory of a target's processes
from gateway_report import report_latency, report_memory, report_rates, verdict

MODEL = "gpt-4o-mini"
ROOT = Path(__file__).resolve().parent.parent
PROMPT = {"model": MODEL, "messages": [{"role": "user", "content": "Hello"}]}
STREAM_PROMPT = {**PROMPT, "stream": True, "stream_options": {"include_usage": True}}
HEADERS = {
    "authorization": "Bearer sk-bench",
    "content-type": "application/json",
    "x-llmtally-feature": "bench",  # llmtally's budget covers it (BUDGET); others ignore it
}
# LiteLLM reads these at import: no cost-map download, no release check, quiet logs.
LITELLM_ENV = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_OFFLINE_MODE": "true",
    "LITELLM_DISABLE_LATEST_RELEASE_CHECK": "true",
    "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS": "True",
    "LITELLM_LOCAL_POLICY_TEMPLATES": "True",
    "LITELLM_LOCAL_BLOG_POSTS": "True",
    "LITELLM_LOCAL_AUTOROUTER_PRESETS": "True",
    "LITELLM_LOG": "ERROR",
    "LITELLM_MODE": "PRODUCTION",
    "DISABLE_ADMIN_UI": "True",
    # no master key, like llmtally on loopback: no auth work on either side
    "LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY": "true",
    "DO_NOT_TRACK": "1",
    "HF_HUB_OFFLINE": "1",
}
NETWORK_COMPLAINT = re.compile(
    r"(?i)connecterror|name or service not known|failed to fetch|getaddrinfo|"
    r"temporary failure in name resolution|network is unreachable"
)

# --- the upstream ------------------------------------------------------------------


def _chunk(delta: dict[str, str], finish: str | None = None) -> dict[str, object]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1764000000,
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


USAGE = {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}
COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1764000000,
    "model": MODEL,
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hi there!"},
            "finish_reason": "stop",
        }
    ],
    "usage": USAGE,
}


def _sse_response(include_usage: bool) -> bytes:
    events = [
        _chunk({"role": "assistant", "content": ""}),
        _chunk({"content": "Hi"}),
        _chunk({"content": " there!"}),
        _chunk({}, "stop"),
    ]
    if include_usage:
        events.append({**_chunk({}), "choices": [], "usage": USAGE})
    lines = [f"data: {json.dumps(e)}\n\n".encode() for e in events] + [b"data: [DONE]\n\n"]
    body = b"".join(b"%x\r\n%s\r\n" % (len(line), line) for line in lines) + b"0\r\n\r\n"
    head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
    return head + b"transfer-encoding: chunked\r\n\r\n" + body


def _json_response(body: bytes) -> bytes:
    head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
    return head + b"content-length: %d\r\n\r\n" % len(body) + body


UPSTREAM_ANSWERS = {
    "plain": _json_response(json.dumps(COMPLETION).encode()),
    "stream": _sse_response(False),
    "stream+usage": _sse_response(True),
}


def _answer(body: bytes) -> bytes:
    try:
        request = json.loads(body) if body else {}
    except json.JSONDecodeError:
        request = {}
    if not isinstance(request, dict) or not request.get("stream"):
        return UPSTREAM_ANSWERS["plain"]
    options = request.get("stream_options") or {}
    usage = isinstance(options, dict) and options.get("include_usage")
    return UPSTREAM_ANSWERS["stream+usage" if usage else "stream"]


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            writer.write(_answer(await reader.readexactly(length)))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


def serve_upstream(port: int) -> None:
    async def main() -> None:
        server = await asyncio.start_server(_handle, "127.0.0.1", port, backlog=1024)
        async with server:
            await server.serve_forever()

    _install_uvloop()
    asyncio.run(main())


def _install_uvloop() -> None:
    try:
        import uvloop
    except ImportError:
        return
    uvloop.install()


# --- the processes -----------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Target:
    name: str
    url: str  # the chat completions URL
    ready_url: str
    process: subprocess.Popen[bytes]
    log: Path
    started_s: float = 0.0
    sent: int = 0
    failed: int = 0
    latencies: list[float] = field(default_factory=list)
    rates: dict[str, list[float]] = field(default_factory=lambda: {"plain": [], "stream": []})
    ledger: str | None = None  # llmtally's ledger URL: rows not yet in it after each window
    behind: list[int] = field(default_factory=list)
    memory: dict[str, list[procmem.Memory]] = field(default_factory=dict)  # at rest, under load


def spawn(cmd: list[str], log: Path, cpus: set[int] | None, env: dict[str, str] | None = None):
    def pin() -> None:
        if cpus:
            os.sched_setaffinity(0, cpus)

    with log.open("wb") as out:
        return subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=env, preexec_fn=pin, cwd=log.parent
        )


def stop(process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def wait_ready(target: Target, timeout: float) -> None:
    import aiohttp

    start = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        while time.perf_counter() - start < timeout:
            if target.process.poll() is not None:
                break
            try:
                async with session.get(target.ready_url) as response:
                    await response.read()
                    if response.status < 500:
                        target.started_s = time.perf_counter() - start
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    tail = target.log.read_text(errors="replace")[-3000:]
    raise SystemExit(f"{target.name} did not start (log {target.log}):\n{tail}")


def llmtally_config(folder: Path, upstream_port: int, variant: str = "thread") -> Path:
    """One variant's config (VARIANTS): its ledger writer, upstream client and server."""
    writer, client, server = VARIANTS[variant][1:]
    path = folder / f"llmtally-{variant}.yaml"
    path.write_text(
        "upstreams:\n"
        "  local:\n"
        "    kind: openai\n"
        f"    base_url: http://127.0.0.1:{upstream_port}\n"
        "    provider: openai\n"
        "routes:\n"
        "  - {match: '*', upstream: local}\n"
        f"ledger: {{writer: {writer}}}\n"
        f"upstream_client: {client}\n"
        f"http: {{server: {server}}}\n"
    )
    return path


# --writers: name, ledger writer, upstream client, HTTP server. ``thread`` is the
# default config; an ``-apart`` variant moves the writer process off the target's CPU
# once it started (the writer is shared by all workers of a machine: with N workers
# it has a core).
VARIANTS = {
    "thread": ("llmtally", "thread", "raw", "uvicorn"),
    "aiohttp": ("llmtally-aiohttp", "thread", "aiohttp", "uvicorn"),
    "raw": ("llmtally-raw", "thread", "raw", "uvicorn"),
    "process": ("llmtally-process", "process", "raw", "uvicorn"),
    "process-apart": ("llmtally-process-apart", "process", "raw", "uvicorn"),
    "rawserver": ("llmtally-rawserver", "thread", "raw", "raw"),
    "rawserver-apart": ("llmtally-rawserver-apart", "process", "raw", "raw"),
    "nobudget": ("llmtally-nobudget", "thread", "raw", "uvicorn"),  # the default, no budget
}
LLMTALLY_NAMES = {variant: spec[0] for variant, spec in VARIANTS.items()}
# every llmtally call is covered by this budget, so each one reserves and settles
BUDGET = ["--feature", "bench", "--usd", "1000000", "--period", "month"]


def add_budget(bin_path: Path, url: str, env: dict[str, str]) -> None:
    cmd = [str(bin_path), "budgets", "add", *BUDGET, "--database", url]
    subprocess.run(cmd, env=env, check=True, capture_output=True)


def ledger_url(folder: Path, name: str) -> str:
    return f"sqlite:///{folder / (name + '.sqlite3')}"


def litellm_config(folder: Path, upstream_port: int) -> Path:
    path = folder / "litellm.yaml"
    path.write_text(
        "model_list:\n"
        f"  - model_name: {MODEL}\n"
        "    litellm_params:\n"
        f"      model: openai/{MODEL}\n"
        f"      api_base: http://127.0.0.1:{upstream_port}/v1\n"
        "      api_key: sk-bench\n"
    )
    return path


def llmtally_bin(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    for candidate in (ROOT / ".venv/bin/llmtally", Path(sys.executable).parent / "llmtally"):
        if candidate.exists():
            return candidate
    raise SystemExit("no llmtally executable: run `make` (or pass --llmtally-bin)")


# --- the client --------------------------------------------------------------------


async def post(session, target: Target, payload: bytes) -> bool:
    target.sent += 1
    try:
        async with session.post(target.url, data=payload, headers=HEADERS) as response:
            await response.read()
            ok = response.status == 200
    except (TimeoutError, OSError) as exc:
        print(f"  {target.name}: {exc!r}", file=sys.stderr)
        ok = False
    target.failed += not ok
    return ok


async def latency_round(session, target: Target, requests: int, warm: int) -> None:
    payload = json.dumps(PROMPT).encode()
    for _ in range(warm):
        await post(session, target, payload)
    for _ in range(requests):
        start = time.perf_counter()
        await post(session, target, payload)
        target.latencies.append(time.perf_counter() - start)


async def rate(session, target: Target, payload: bytes, concurrency: int, seconds: float) -> float:
    done = 0

    async def worker(deadline: float) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            ok = await post(session, target, payload)
            done += ok  # not `done += await ...`: that reads `done` before the await

    await asyncio.gather(*(worker(time.perf_counter() + 0.5) for _ in range(concurrency)))
    done = 0
    start = time.perf_counter()
    await asyncio.gather(*(worker(start + seconds) for _ in range(concurrency)))
    return done / (time.perf_counter() - start)


async def measure(targets: list[Target], args: argparse.Namespace) -> None:
    import aiohttp

    per_round = max(1, args.requests // args.rounds)
    payloads = {"plain": json.dumps(PROMPT).encode(), "stream": json.dumps(STREAM_PROMPT).encode()}
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        for r in range(args.rounds):
            order = targets[r % len(targets) :] + targets[: r % len(targets)]
            for target in order:
                await latency_round(session, target, per_round, 200 if r == 0 else 20)
            for mode, payload in payloads.items():
                for target in order:
                    got = await rate(session, target, payload, args.concurrency, args.seconds)
                    target.rates[mode].append(got)
                    target.memory["under load"] = procmem.tree_memory(target.process.pid)
                    if target.ledger is not None:  # the writer's lag at the window's end
                        python = llmtally_bin(args.llmtally_bin).parent / "python"
                        target.behind.append(target.sent - count_rows(python, target.ledger))
            line = "; ".join(
                f"{t.name} {t.rates['plain'][-1]:,.0f} req/s {t.rates['stream'][-1]:,.0f} streams/s"
                for t in order
            )
            print(f"  round {r + 1}: {line}", flush=True)


def count_rows(python: Path, url: str) -> int:
    code = (
        "import sys; from llmtally.ledger import open_store; print(open_store(sys.argv[1]).count())"
    )
    out = subprocess.run([str(python), "-c", code, url], capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


# --- the run -----------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="timed c=1 requests per target")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=5.0, help="per target, mode and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-litellm", action="store_true")
    parser.add_argument("--no-pin", action="store_true", help="leave CPU placement to the OS")
    parser.add_argument("--llmtally-bin", help="default: .venv/bin/llmtally")
    parser.add_argument(
        "--writers",
        default="thread",
        help="llmtally variants to run, comma-separated (VARIANTS): thread, aiohttp, process, ...",
    )
    parser.add_argument("--serve-upstream", type=int, help=argparse.SUPPRESS)
    return parser.parse_args()


def start_targets(folder: Path, args: argparse.Namespace, pins: tuple[set[int] | None, ...]):
    """The upstream the gateways call, and the targets (each one process, one worker)."""
    target_cpu, side_cpu = pins
    me = [sys.executable, str(Path(__file__).resolve()), "--serve-upstream"]
    up_port, direct_port, lt_port, ll_port = (free_port() for _ in range(4))
    upstream = spawn([*me, str(up_port)], folder / "upstream.log", side_cpu)
    targets = [_target("direct", direct_port, folder, [*me, str(direct_port)], target_cpu)]
    for writer in args.writers.split(","):
        if writer not in LLMTALLY_NAMES:
            raise SystemExit(f"--writers {args.writers}: each is one of {', '.join(VARIANTS)}")
        name = LLMTALLY_NAMES[writer]
        spool = folder / f"spool-{writer}" / "ledger-spool.jsonl"
        env = {**os.environ, "LLMTALLY_HOME": str(folder), "LLMTALLY_SPOOL": str(spool)}
        env.pop("LLMTALLY_CONFIG", None)
        if writer != "nobudget":
            add_budget(llmtally_bin(args.llmtally_bin), ledger_url(folder, name), env)
        port = lt_port if writer == "thread" else free_port()
        cmd = [
            str(llmtally_bin(args.llmtally_bin)), "serve", "--port", str(port),
            "--config", str(llmtally_config(folder, up_port, writer)),
            "--database-url", ledger_url(folder, name),
        ]  # fmt: skip
        targets.append(_target(name, port, folder, cmd, target_cpu, env))
        targets[-1].ledger = ledger_url(folder, name)
    if not args.skip_litellm:
        litellm = Path(sys.executable).parent / "litellm"
        if not litellm.exists():
            raise SystemExit(f"{litellm} is missing: see benchmarks/README.md, or --skip-litellm")
        cmd = [
            str(litellm), "--config", str(litellm_config(folder, up_port)),
            "--host", "127.0.0.1", "--port", str(ll_port), "--num_workers", "1",
        ]  # fmt: skip
        env = {**os.environ, **LITELLM_ENV}
        targets.append(
            _target("litellm", ll_port, folder, cmd, target_cpu, env, "/health/liveliness")
        )
    return upstream, targets


def _target(
    name: str,
    port: int,
    folder: Path,
    cmd: list[str],
    cpus: set[int] | None,
    env: dict[str, str] | None = None,
    ready: str = "/v1/models",
) -> Target:
    log = folder / f"{name}.log"
    base = f"http://127.0.0.1:{port}"
    proc = spawn(cmd, log, cpus, env)
    return Target(name, base + "/v1/chat/completions", base + ready, proc, log)


def describe(targets: list[Target], pins: tuple[set[int] | None, ...]) -> None:
    from importlib.metadata import version

    import aiohttp

    placement = (
        f"target on CPU {sorted(pins[0] or [])}, client and upstream on CPU {sorted(pins[1] or [])}"
        if pins[0]
        else "not pinned"
    )
    print(f"python {sys.version.split()[0]}, aiohttp {aiohttp.__version__}, {placement}")
    for target in targets:
        extra = ""
        if target.name == "litellm":
            extra = f" (litellm {version('litellm')})"
        cmd = " ".join(Path(a).name if a.startswith("/") else a for a in target.process.args)
        print(f"  {target.name:16} ready in {target.started_s:.1f} s: {cmd}{extra}")


def main() -> None:
    args = parse_args()
    if args.serve_upstream:
        serve_upstream(args.serve_upstream)
        return
    os.environ.update(LITELLM_ENV)
    _install_uvloop()
    pin = not args.no_pin and len(os.sched_getaffinity(0)) >= 2
    cpus = sorted(os.sched_getaffinity(0))
    pins = ({cpus[0]}, set(cpus[1:])) if pin else (None, None)
    with tempfile.TemporaryDirectory(prefix="llmtally-gateway-bench-") as tmp:
        run(Path(tmp), args, pins)


def run(folder: Path, args: argparse.Namespace, pins: tuple[set[int] | None, ...]) -> None:
    upstream, targets = start_targets(folder, args, pins)
    try:
        if pins[1]:
            os.sched_setaffinity(0, pins[1])
        for target in targets:
            asyncio.run(wait_ready(target, 300 if target.name == "litellm" else 60))
        for target in targets:  # the workers are up once the port answers
            target.memory["at rest"] = procmem.tree_memory(target.process.pid)
            if target.name.endswith("-apart") and pins[1]:
                for child in procmem.children(target.process.pid):
                    if Path(f"/proc/{child}/comm").read_text().strip() == "llmtally-writer":
                        os.sched_setaffinity(child, pins[1])
        describe(targets, pins)
        asyncio.run(measure(targets, args))
    finally:
        for target in targets:
            stop(target.process)
        stop(upstream)
    by = {t.name: t for t in targets}
    names = list(LLMTALLY_NAMES.values())
    lines = report_latency(by, names) + report_rates(by, names, args.concurrency)
    python = llmtally_bin(args.llmtally_bin).parent / "python"
    for name in LLMTALLY_NAMES.values():
        if name not in by:
            continue
        lt = by[name]
        rows = count_rows(python, ledger_url(folder, name))
        lines.append(
            f"{name}: rows not yet in the ledger at the end of each c={args.concurrency} "
            f"window: {', '.join(f'{b:,}' for b in lt.behind)}"
        )
        lines.append(
            f"ledger: {rows:,} rows for {lt.sent:,} requests sent to {name} "
            f"({lt.sent - rows:,} lost); goal zero lost: {verdict(rows == lt.sent)}"
        )
    lines += report_memory(targets, args.concurrency)
    failed = ", ".join(f"{t.name} {t.failed:,} of {t.sent:,}" for t in targets)
    lines.append(f"failed requests (non-200 or error): {failed}")
    if "litellm" in by:
        complaints = NETWORK_COMPLAINT.findall(by["litellm"].log.read_text(errors="replace"))
        lines.append(f"network complaints in the litellm proxy log: {len(complaints)}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
