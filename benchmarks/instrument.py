"""What ``llmtally.instrument()`` costs the application: CPU per call and per chunk.

    benchmarks/.venv/bin/python benchmarks/instrument.py [--calls 2000] [--chunks 200] [--rounds 5]

The official ``openai`` SDK against an in-process upstream (an ``httpx2.MockTransport``
answering with the recorded ``openai_chat`` body, or the ``openai_chat_stream_usage``
stream padded to ``--chunks`` content chunks, one transport chunk per event), so that
no network or server time is in the figures. Each round times ``--calls`` calls with
the bare SDK and with the SDK instrumented, in a rotating order, and the medians are
reported. Two clocks:

- process CPU (``time.process_time``, all threads): the whole price of a call,
  including llmtally's worker thread that parses, prices and hands the call to the
  writer; the round ends once the worker is done (``llmtally.instrument.flush``);
- the application thread's CPU (``time.thread_time``): what the calling code waits for.

"hot path": instrumented, but each watch is dropped before the worker thread:
what the application's own thread does per call and chunk, alone.
Instrumented runs record into a writer that keeps nothing (``--ledger`` records into
a real SQLite ledger through the LedgerWriter instead). Per chunk = (overhead of a
stream of ``--chunks`` chunks - overhead of a one-chunk stream) / (``--chunks`` - 1).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import openai

import llmtally
from llmtally import instrument as inst
from llmtally.catalog import Catalog
from llmtally.instrument import setup
from llmtally.usage import Call

ROOT = Path(__file__).resolve().parent.parent
TRANSCRIPTS = ROOT / "tests" / "fixtures" / "transcripts"
HELLO = [{"role": "user", "content": "Say hello."}]
MODES = ["bare", "instrumented", "hot path"]
Case = Callable[[openai.OpenAI], None]


class Discard:
    def submit(self, call: Call) -> None:
        return None


def _events(chunks: int) -> list[bytes]:
    """The recorded stream with ``chunks`` content chunks (its usage event and [DONE] kept)."""
    events = json.loads((TRANSCRIPTS / "openai_chat_stream_usage.json").read_text())["events"]
    content = events[1]["data"]
    body = [events[0]["data"], *([content] * chunks), *(e["data"] for e in events[4:6])]
    lines = [f"data: {json.dumps(e, separators=(',', ':'))}\n\n".encode() for e in body]
    return [*lines, b"data: [DONE]\n\n"]


def _transport(chunks: int) -> httpx2.MockTransport:
    plain = json.loads((TRANSCRIPTS / "openai_chat.json").read_text())["response"]["body"]
    whole = json.dumps(plain).encode()
    stream = _events(chunks)

    def answer(request: httpx2.Request) -> httpx2.Response:
        if json.loads(request.content).get("stream"):
            sse = {"content-type": "text/event-stream"}
            return httpx2.Response(200, headers=sse, stream=_Iter(stream))
        return httpx2.Response(200, headers={"content-type": "application/json"}, content=whole)

    return httpx2.MockTransport(answer)


class _Iter(httpx2.SyncByteStream):
    def __init__(self, parts: list[bytes]) -> None:
        self._parts = parts

    def __iter__(self) -> Any:
        yield from self._parts


def _client(chunks: int) -> openai.OpenAI:
    return openai.OpenAI(
        base_url="http://upstream.test/v1",
        api_key="sk-bench",
        max_retries=0,
        http_client=httpx2.Client(transport=_transport(chunks)),
    )


def _plain(client: openai.OpenAI) -> None:
    client.chat.completions.create(model="gpt-4o", messages=HELLO)


def _streamed(client: openai.OpenAI) -> None:
    made = client.chat.completions.create(
        model="gpt-4o-mini", messages=HELLO, stream=True, stream_options={"include_usage": True}
    )
    for _ in made:
        pass


def _timed(
    call: Callable[[openai.OpenAI], None], client: openai.OpenAI, n: int
) -> tuple[float, float]:
    """(process CPU, thread CPU) in microseconds per call."""
    cpu, mine = time.process_time(), time.thread_time()
    for _ in range(n):
        call(client)
    inst.flush(60)
    return (time.process_time() - cpu) / n * 1e6, (time.thread_time() - mine) / n * 1e6


def _start(mode: str, ledger: Path | None, catalog: Catalog) -> None:
    if mode == "hot path":  # the application thread's part alone: watches are dropped
        llmtally.instrument(writer=Discard(), catalog=catalog)
        sink = setup._RUNNING.sink
        assert sink is not None
        sink.submit = lambda watch: None  # type: ignore[method-assign]
    elif ledger is None:
        llmtally.instrument(writer=Discard(), catalog=catalog)
    else:
        spool = ledger.with_suffix(".spool")
        llmtally.instrument(f"sqlite:///{ledger}", spool_path=spool, catalog=catalog)


def _round(
    mode: str, case: Case, client: openai.OpenAI, n: int, ledger: Path | None, catalog: Catalog
) -> tuple[float, float]:
    if mode == "bare":
        return _timed(case, client, n)
    _start(mode, ledger, catalog)
    try:
        return _timed(case, client, n)
    finally:
        llmtally.uninstrument()


def _measure(
    case: Case,
    client: openai.OpenAI,
    args: argparse.Namespace,
    catalog: Catalog,
    ledger: Path | None,
) -> dict[str, list[tuple[float, float]]]:
    runs: dict[str, list[tuple[float, float]]] = {mode: [] for mode in MODES}
    for mode in MODES * 2:  # warm each (tokenizers, catalog, the SDK's own caches)
        _round(mode, case, client, 20, ledger, catalog)
    for r in range(args.rounds):
        for mode in MODES[r % 3 :] + MODES[: r % 3]:  # a rotating order
            runs[mode].append(_round(mode, case, client, args.calls, ledger, catalog))
    return runs


def _median(runs: list[tuple[float, float]], i: int) -> float:
    return statistics.median(r[i] for r in runs)


def _report(
    name: str, runs: dict[str, list[tuple[float, float]]]
) -> dict[str, tuple[float, float]]:
    """Print the case's lines; (recorded, hot path) overhead in us per clock."""
    found = {}
    for i, clock in enumerate(("process", "thread")):
        bare = _median(runs["bare"], i)
        recorded, hot = _median(runs["instrumented"], i), _median(runs["hot path"], i)
        found[clock] = recorded - bare, hot - bare
        print(
            f"{name:22} {clock:8} {bare:9.1f} {recorded:10.1f} {recorded / bare:5.2f}x "
            f"{recorded - bare:11.1f} {hot - bare:9.1f}"
        )
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--chunks", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--ledger", action="store_true", help="record into a SQLite ledger")
    args = parser.parse_args()
    catalog = Catalog.load()
    folder = Path(tempfile.mkdtemp(prefix="llmtally-bench-"))
    ledger = folder / "ledger.sqlite3" if args.ledger else None
    writer = "SQLite ledger" if ledger else "discard"
    print(f"openai {openai.__version__}, {args.calls} calls x {args.rounds} rounds, {writer}")
    cases: dict[str, tuple[Case, int]] = {
        "chat (not streamed)": (_plain, 0),
        "stream, 1 chunk": (_streamed, 1),
        f"stream, {args.chunks} chunks": (_streamed, args.chunks),
    }
    head = f"{'case':22} {'clock':8} {'bare us':>9} {'instr. us':>10} {'ratio':>6}"
    print(f"{head} {'overhead us':>11} {'hot path':>9}")
    overhead = {}
    for name, (case, chunks) in cases.items():
        with _client(chunks) as client:
            overhead[name] = _report(name, _measure(case, client, args, catalog, ledger))
    for clock in ("process", "thread"):
        many, one = (
            overhead[f"stream, {args.chunks} chunks"][clock],
            overhead["stream, 1 chunk"][clock],
        )
        per = [(m - o) / (args.chunks - 1) for m, o in zip(many, one, strict=True)]
        print(f"per chunk ({clock} CPU): {per[0]:.2f} us recorded, {per[1]:.2f} us hot path")
    print(f"internal errors: {inst.internal_errors()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
