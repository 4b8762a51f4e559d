"""How long ``advise()`` takes over a month of calls on SQLite (issue 15: 10M in < 30 s).

    .venv/bin/python benchmarks/advise.py [--calls 10000000] [--rounds 2] [--profile 25]

The ledger (``benchmarks/.data/advise-<calls>.sqlite3``, git-ignored) is made once:
up to 1,000,000 calls from ``benchmarks/synthetic.py``'s ``calls()`` (12 models,
15 features, 60% streamed with ``ttft_ms``, 40 system-prompt fingerprints with
per-role counts, cache reads on a third, 2% errors; here each feature has 3 system
prompts of its own, as fingerprints), written through
``Store.insert_rows``; each call has a ``request_sha256`` (as the gateway records
it) where the ledger has that column, 10% of them drawn from 3 bodies per
(feature, model, 20 minutes), so identical requests repeat within the hour.
Above 1,000,000 the ledger is that million copied in SQL (``INSERT ... SELECT``)
as often as needed, each copy with new ids (and request digests: a copy repeats
its own requests as the original does) and its calls 37 s x copy earlier;
the advisor's rollups are then rebuilt from every call (the dashboard's are not:
the advisor does not read them).

Timed, rounds interleaved, medians reported: ``advise()`` over the 30 days,
against a baseline in the same process: one SQL scan of the same calls
(``COUNT`` and four ``SUM``s over the period, what any report of the month costs).
``--profile N`` adds one cProfiled ``advise()`` and prints the top N functions by
cumulative time.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import hashlib
import json
import pstats
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / ".data"
sys.path.insert(0, str(ROOT / "benchmarks"))

DAYS = 30
BATCH = 20_000
BASE = 1_000_000
REPEAT_SHARE = 0.10
SHIFT_S = 37
GOAL_CALLS, GOAL_S = 10_000_000, 30.0


def _digest(rng: random.Random, row: dict[str, Any]) -> str:
    """One of 3 requests per feature, model and 20 minutes (repeats within the
    hour) for 10% of calls; a request of its own for the others."""
    if rng.random() >= REPEAT_SHARE:
        return hashlib.sha256(row["id"].encode()).hexdigest()
    slot = int(row["started_at"].timestamp()) // 1200
    text = f"{row['feature']} {row['model_served']} {slot} {rng.randrange(3)}"
    return hashlib.sha256(text.encode()).hexdigest()


def _fill(url: str, total: int, now: dt.datetime) -> None:
    import synthetic
    from llmtally.ledger import open_store
    from llmtally.ledger.schema import calls

    hashed = "request_sha256" in calls.c
    rng = random.Random(11)
    rows: list[dict[str, Any]] = []
    with open_store(url) as store:
        for row in synthetic.calls(total, DAYS, now):
            if row["prompt_fingerprint"] is not None:  # a feature's own system prompts
                row["prompt_fingerprint"] = f"{row['feature']}-{rng.randrange(3)}"
            if hashed:
                row["request_sha256"] = _digest(rng, row)
            rows.append(row)
            if len(rows) == BATCH:
                store.insert_rows(rows, [])
                rows = []
        store.insert_rows(rows, [])


def _copy(url: str, base: int, total: int) -> None:
    """Copies of the first ``base`` calls until the ledger holds ``total``."""
    from sqlalchemy import text

    from llmtally.ledger import open_store
    from llmtally.ledger.schema import calls

    names = [c.name for c in calls.columns]
    with open_store(url) as store, store.engine.begin() as conn:
        for copy in range(1, -(-total // base)):
            shifted = {
                "id": f"id || '.{copy}'",
                # a copy repeats its own requests, not the original's
                "request_sha256": f"request_sha256 || '.{copy}'",
                # whole seconds earlier, the microseconds kept as the ledger writes them
                "started_at": f"datetime(started_at, '-{copy * SHIFT_S} seconds') "
                "|| substr(started_at, 20)",
            }
            columns = ", ".join(shifted.get(n, n) for n in names)
            limit = min(base, total - copy * base)
            conn.execute(
                text(
                    f"INSERT INTO calls ({', '.join(names)}) SELECT {columns} FROM calls "
                    f"WHERE id NOT LIKE '%.%' ORDER BY id LIMIT {limit}"
                )
            )


def _rebuild(url: str) -> None:
    """The advisor's rollups of every call, the copies included (an ``INSERT ...
    SELECT`` bypasses the writer that keeps them)."""
    from llmtally.ledger import open_store
    from llmtally.ledger.advice_rollup import rebuild_advice
    from llmtally.ledger.advice_tables import ADVICE_TABLES

    with open_store(url) as store, store.engine.begin() as conn:
        for table in ADVICE_TABLES.values():
            conn.execute(table.delete())
        rebuild_advice(conn)


def ledger(total: int) -> tuple[str, dt.datetime]:
    """The ledger's URL and the moment it was made (made first when missing)."""
    path = DATA / f"advise-{total}.sqlite3"
    info = path.with_suffix(".sqlite3.json")
    if not info.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        started = time.perf_counter()
        url = f"sqlite:///{path}"
        _fill(url, min(total, BASE), now)
        if total > BASE:
            _copy(url, BASE, total)
            _rebuild(url)
        facts = {"calls": total, "now": now.isoformat(), "seconds": time.perf_counter() - started}
        info.write_text(json.dumps(facts))
    meta = json.loads(info.read_text())
    print(f"ledger: {path.name}, {meta['calls']:,} calls over {DAYS} days to {meta['now']}, "
          f"made in {meta['seconds']:.0f} s, {path.stat().st_size / 1e9:,.1f} GB")  # fmt: skip
    return f"sqlite:///{path}", dt.datetime.fromisoformat(meta["now"])


def _timed(fn: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def _scan(store: Any, since: dt.datetime, until: dt.datetime) -> Any:
    from sqlalchemy import func, select

    from llmtally.ledger.schema import calls

    query = select(
        func.count(),
        func.sum(calls.c.input_tokens),
        func.sum(calls.c.output_tokens),
        func.sum(calls.c.cache_read_tokens),
        func.sum(calls.c.cost_total),
    ).where(calls.c.started_at >= since, calls.c.started_at < until)
    with store.engine.connect() as conn:
        return conn.execute(query).one()


def measure(url: str, now: dt.datetime, rounds: int, profile: int) -> dict[str, list[float]]:
    from llmtally.advisor import advise
    from llmtally.catalog import Catalog
    from llmtally.ledger import open_store

    since = now - dt.timedelta(days=DAYS)
    catalog = Catalog.load()
    times: dict[str, list[float]] = {"advise": [], "scan": []}
    with open_store(url) as store:
        tasks = [
            ("advise", lambda: advise(store, catalog, since, now)),
            ("scan", lambda: _scan(store, since, now)),
        ]
        for i in range(rounds):
            for name, fn in tasks if i % 2 == 0 else reversed(tasks):
                seconds, result = _timed(fn)
                times[name].append(seconds)
                if name == "advise" and i == 0:
                    _show(result)
            print(f"  round {i + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()))
        if profile:
            profiler = cProfile.Profile()
            profiler.runcall(advise, store, catalog, since, now)
            stats = pstats.Stats(profiler).sort_stats("cumulative")
            stats.print_stats(profile)
    return times


def _show(advice: Any) -> None:
    print(f"  {len(advice.recommendations)} recommendations, {len(advice.considered)} considered")
    by_kind: dict[str, Any] = {}
    for rec in advice.recommendations:
        by_kind[rec.kind] = by_kind.get(rec.kind, 0) + rec.monthly_saving
    for kind, saving in sorted(by_kind.items()):
        print(f"    {kind:14s} ${saving:,.2f}/month")


def summary(times: dict[str, list[float]], calls: int) -> None:
    med = {name: statistics.median(values) for name, values in times.items()}
    for name, values in times.items():
        print(f"  {name:7s} median {med[name]:.2f} s (range {min(values):.2f}-{max(values):.2f})")
    ratio = med["advise"] / med["scan"]
    print(f"advise over {calls:,} calls: {med['advise']:.2f} s, {ratio:.2f}x one SQL scan of "
          f"them ({med['scan']:.2f} s)")  # fmt: skip
    if calls >= GOAL_CALLS:
        verdict = "met" if med["advise"] < GOAL_S else "NOT met"
        print(f"goal: {GOAL_CALLS:,} calls in < {GOAL_S:.0f} s: {verdict} (measured)")
    else:
        at_goal = med["advise"] / calls * GOAL_CALLS
        print(f"linear extrapolation to {GOAL_CALLS:,} calls: {at_goal:.0f} s "
              f"(goal < {GOAL_S:.0f} s; extrapolated, not measured)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--profile", type=int, default=0, help="top N functions (0: none)")
    args = parser.parse_args()
    url, now = ledger(args.calls)
    summary(measure(url, now, args.rounds, args.profile), args.calls)


if __name__ == "__main__":
    main()
