"""Re-pricing a 1-million-call ledger on 5 models: ``llmtally estimate --from-ledger``.

    .venv/bin/python benchmarks/estimate.py [--calls 1000000] [--rounds 5]

The ledger (``benchmarks/.data/estimate-<calls>.sqlite3``, git-ignored) is
made once from ``benchmarks/synthetic.py``'s ``calls()`` generator, written with
``Store.insert_rows`` in time order; later runs reuse it. Every figure is taken
as of the moment the ledger was made (kept beside it as JSON).

Measured, each as the median of ``--rounds`` interleaved rounds after one
warm-up:

- re-pricing: the library call ``reprice(store, 5 models, now - 30d, by="feature")``
  (the work of ``llmtally estimate --from-ledger --models ... --since 30d``), and
- the baseline: merely reading those rows, a plain ``SELECT`` of the columns
  re-pricing needs over the same 30 days, every row fetched (the DB-API driver
  directly, no type conversion).

Goal: re-pricing under 10 s; the ratio to the plain read is reported.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / ".data"
sys.path.insert(0, str(ROOT / "benchmarks"))

TARGETS = [
    "openai/gpt-4.1-mini",
    "anthropic/claude-sonnet-4-5",  # has a long-context cliff at 200K
    "google/gemini-2.5-flash",
    "deepseek/deepseek-chat",
    "mistral/mistral-small-2501",
]
PLAIN_READ = (
    "SELECT provider, model_served, model_requested, service_tier, feature, input_tokens,"
    " cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, input_audio_tokens,"
    " input_image_tokens, output_tokens, reasoning_tokens, output_audio_tokens,"
    " output_image_tokens, requests, cost_total, images, audio_seconds, characters"
    " FROM calls WHERE started_at >= ?"
)


def timed(fn: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def plain_read(store: Any, since: dt.datetime) -> int:
    stamp = since.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    with store.engine.connect() as conn:
        return len(conn.exec_driver_sql(PLAIN_READ, (stamp,)).fetchall())


def measure(url: str, now: dt.datetime, rounds: int) -> dict[str, list[float]]:
    from llmtally.catalog import Catalog
    from llmtally.estimate import reprice
    from llmtally.ledger import open_store

    since = now - dt.timedelta(days=30)
    catalog = Catalog.load()
    times: dict[str, list[float]] = {"reprice": [], "plain read": []}
    with open_store(url) as store:
        rows = plain_read(store, since)  # warm-up: page cache, tokenizers, statements
        result = reprice(store, TARGETS, since, by="feature", catalog=catalog, at=now)
        print(f"rows in range: {rows:,}; re-priced: {result.total.calls:,}; left out: "
              f"{result.left_out}")  # fmt: skip
        for i in range(rounds):
            tasks = [("reprice", lambda: reprice(store, TARGETS, since, by="feature",
                                                 catalog=catalog, at=now)),
                     ("plain read", lambda: plain_read(store, since))]  # fmt: skip
            for name, fn in tasks if i % 2 == 0 else reversed(tasks):
                seconds, _ = timed(fn)
                times[name].append(seconds)
            print(f"  round {i + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()))
    print(f"recorded cost: ${result.total.actual:,.2f}")
    for info in result.targets:
        figure = result.total.figures[info.model]
        print(f"  {info.model:30s} ${figure.cost:>12,.2f}  {dict(figure.methods)}")
    return times


def summary(times: dict[str, list[float]], calls: int) -> None:
    med = {name: statistics.median(values) for name, values in times.items()}
    print("median of rounds:")
    for name, values in times.items():
        print(f"  {name:12s} {med[name]:.2f} s  (range {min(values):.2f}-{max(values):.2f} s)")
    ok = "met" if med["reprice"] < 10 else "NOT met"
    ratio = med["reprice"] / med["plain read"]
    print(
        f"re-pricing {calls:,} calls on {len(TARGETS)} models: {med['reprice']:.2f} s"
        f" (goal < 10 s: {ok}); {ratio:.2f}x the time to merely read the rows"
        f" ({med['plain read']:.2f} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    import synthetic  # beside this file (sys.path above)

    url, now = synthetic.ledger(DATA, "estimate", args.calls)
    summary(measure(url, now, args.rounds), args.calls)


if __name__ == "__main__":
    main()
