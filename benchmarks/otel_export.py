"""What exporting a call as an OTLP span costs the exporting thread, per call.

    .venv/bin/python benchmarks/otel_export.py [--calls 512] [--rounds 3]

The work of ``llmtally.otel.export``'s thread for one batch (the spans encoded,
the metrics window filled and encoded, the trace body gzipped), divided by the
calls in it, against a baseline in the same process: writing the same calls as
the ledger spool's JSON lines (``row_to_json``), work every recorded call already
pays. Also ``OtlpExporter.submit``, the only part on the recording thread.
No network: the bodies are built, not sent (the endpoint is never reached).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import logging
import time

from llmtally.catalog import Catalog
from llmtally.ledger.rows import call_to_row, row_to_json
from llmtally.meter import cost
from llmtally.otel.export import OtlpExport, OtlpExporter
from llmtally.otel.export_encode import MetricsWindow, trace_request
from llmtally.usage import Call, Usage


def _calls(n: int) -> list[Call]:
    catalog = Catalog.load()
    at = dt.datetime(2026, 12, 6, tzinfo=dt.UTC)
    usage = Usage(1200, cache_read_tokens=1024, output_tokens=210, reasoning_tokens=192)
    price = catalog.price_at("openai", "o4-mini", at)
    models = ["o4-mini", "gpt-4o", "gpt-4o-mini", "claude-sonnet-4"]
    return [
        Call(
            id=f"01M96F10E4P0RBAA3K84{i:06d}",
            started_at=at + dt.timedelta(milliseconds=i),
            provider="openai",
            model_requested=models[i % len(models)],
            model_served=None,
            endpoint="/v1/chat/completions",
            status=200,
            latency_ms=812.0 + i,
            usage=usage,
            cost=cost(usage, price),
            user=f"user-{i % 7}",
            feature="search",
            tags=("beta",),
        )
        for i in range(n)
    ]


def _per_call(work: object, calls: list[Call], repeat: int) -> float:
    started = time.process_time()
    for _ in range(repeat):
        work(calls)  # type: ignore[operator]
    return (time.process_time() - started) / (repeat * len(calls)) * 1e6


def _export(calls: list[Call]) -> None:
    gzip.compress(trace_request(calls, "svc").SerializeToString(), compresslevel=5)
    window = MetricsWindow(0)
    for call in calls:
        window.add(call)
    window.request(1, "svc").SerializeToString()


def _spool(calls: list[Call]) -> None:
    "\n".join(json.dumps(row_to_json(call_to_row(call))) for call in calls)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    logging.getLogger("llmtally.otel.export").setLevel(logging.ERROR)
    calls = _calls(args.calls)
    print("round  export us/call  spool line us/call  ratio  submit() us/call")
    for n in range(args.rounds):
        export, spool = _per_call(_export, calls, 20), _per_call(_spool, calls, 20)
        settings = OtlpExport(endpoint="http://127.0.0.1:9", max_queue=10**6, interval_s=60)
        exporter = OtlpExporter(settings)
        started = time.perf_counter()
        for call in calls * 20:
            exporter.submit(call)
        submit = (time.perf_counter() - started) / (20 * len(calls)) * 1e6
        exporter.close(0.1)
        print(f"{n:>5}  {export:>14.1f}  {spool:>18.1f}  {export / spool:>4.2f}x  {submit:>16.2f}")


if __name__ == "__main__":
    main()
