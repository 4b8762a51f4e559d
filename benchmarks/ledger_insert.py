"""What the advisor's rollups cost the ledger's writer (issue 15, migration 0015).

    .venv/bin/python benchmarks/ledger_insert.py [--calls 40000] [--batch 200] [--rounds 3]
        [--same-cell]

``Store.insert_rows`` keeps the dashboard's rollups and, since migration 0015, the
advisor's (``ledger/advice_rollup.py``) in the transaction that inserts the calls.
Timed here: inserting ``--calls`` synthetic calls (``benchmarks/synthetic.py``,
with a request digest each, 10% of them repeated) in batches of ``--batch`` (the
gateway's writer takes up to a few hundred at a time) into a fresh SQLite ledger,
with the advisor's rollups and, as the baseline in the same process, with
``apply_advice`` replaced by a function that does nothing. Rounds alternate the
order; medians of microseconds per call and their ratio are printed.

``--same-cell``: the gateway benchmark's case instead, every call in one cell (one
day, feature, provider, model; no user, tags or trace; one system prompt and one
request digest): the synthetic gpt-4o-mini calls that succeeded, spread over 12 hours.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))


def _rows(total: int) -> list[dict[str, Any]]:
    import synthetic

    rng = random.Random(3)
    now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    rows = []
    for row in synthetic.calls(total, 2, now):
        seed = row["id"] if rng.random() > 0.1 else f"{row['feature']}{rng.randrange(50)}"
        row["request_sha256"] = hashlib.sha256(seed.encode()).hexdigest()
        rows.append(row)
    return rows


def _same_cell_rows(total: int) -> list[dict[str, Any]]:
    import synthetic

    start = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    step = dt.timedelta(hours=12) / total
    digest = hashlib.sha256(b"the same request").hexdigest()
    rows: list[dict[str, Any]] = []
    for row in synthetic.calls(total * 5, 2, start + dt.timedelta(days=2)):
        if row["model_served"] != "gpt-4o-mini" or row["status"] != 200:
            continue
        row.update(feature=None, user_id=None, key_id="key-0", tags=None, trace_id=None)
        row.update(parent_id=None, prompt_fingerprint=synthetic.FINGERPRINTS[0])
        row.update(started_at=start + len(rows) * step, request_sha256=digest)
        rows.append(row)
        if len(rows) == total:
            return rows
    raise RuntimeError(f"only {len(rows)} gpt-4o-mini calls in {total * 5} synthetic ones")


def _insert(rows: list[dict[str, Any]], batch: int, advice: bool) -> tuple[float, float]:
    """Wall-clock and CPU seconds (this thread's: the inserts run on it) of the inserts."""
    from llmtally.ledger import open_store, store

    real = store.apply_advice
    if not advice:
        store.apply_advice = lambda *args, **kwargs: None  # type: ignore[assignment]
    try:
        with tempfile.TemporaryDirectory() as folder:
            with open_store(f"sqlite:///{folder}/ledger.sqlite3") as ledger:
                started, cpu = time.perf_counter(), time.thread_time()
                for start in range(0, len(rows), batch):
                    ledger.insert_rows(rows[start : start + batch])
                return time.perf_counter() - started, time.thread_time() - cpu
    finally:
        store.apply_advice = real  # type: ignore[assignment]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=40_000)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--same-cell", action="store_true", help="every call in one cell")
    args = parser.parse_args()
    rows = _same_cell_rows(args.calls) if args.same_cell else _rows(args.calls)
    times: dict[str, list[float]] = {"with advice rollups": [], "without (baseline)": []}
    cpu: dict[str, list[float]] = {name: [] for name in times}
    for i in range(args.rounds):
        order = [True, False] if i % 2 == 0 else [False, True]
        for advice in order:
            name = "with advice rollups" if advice else "without (baseline)"
            seconds, cpu_seconds = _insert(rows, args.batch, advice)
            times[name].append(seconds / args.calls * 1e6)
            cpu[name].append(cpu_seconds / args.calls * 1e6)
        shown = ", ".join(
            f"{k} {v[-1]:.1f} us/call (CPU {cpu[k][-1]:.1f})" for k, v in times.items()
        )
        print(f"  round {i + 1}: {shown}")
    case = "one cell" if args.same_cell else "synthetic mix"
    for label, found in (("wall", times), ("CPU", cpu)):
        med = {name: statistics.median(values) for name, values in found.items()}
        ratio = med["with advice rollups"] / med["without (baseline)"]
        print(f"insert ({case}), {args.calls:,} calls in batches of {args.batch}, {label}: "
              f"{med['with advice rollups']:.1f} us/call with the advisor's rollups, "
              f"{med['without (baseline)']:.1f} without: {ratio:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
