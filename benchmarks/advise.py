"""How long ``advise()`` takes over a month of calls on SQLite (issue 15: 10M in < 30 s).

    .venv/bin/python benchmarks/advise.py [--calls 100000] [--rounds 2] [--profile 25]

The ledger (``benchmarks/.data/advise-<calls>.sqlite3``, git-ignored) is made once
from ``benchmarks/synthetic.py``'s ``calls()`` (12 models, 15 features, 60%
streamed with ``ttft_ms``, 40 system-prompt fingerprints with per-role counts, 2%
errors) plus stored request bodies on 10% of the calls, drawn from 3 bodies per
(feature, model, 20 minutes), so identical requests repeat within the hour
(duplicates).
Rows go in through ``Store.insert_rows`` in batches of 20,000; later runs reuse it.

Timed, rounds interleaved, medians reported: ``advise()`` over the 30 days,
against a baseline in the same process: reading every call once
(``Store.list(since=..., limit=None)``, rows to ``Call``s). The 10M figure is a
linear extrapolation of the per-call time (said so in the output).
``--profile N`` adds one cProfiled ``advise()`` and prints the top N functions by
cumulative time.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
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
BODY_SHARE = 0.10
GOAL_CALLS, GOAL_S = 10_000_000, 30.0


def _body(rng: random.Random, row: dict[str, Any]) -> str:
    """One of 3 bodies per feature, model and 20 minutes: repeats within the hour."""
    slot = int(row["started_at"].timestamp()) // 1200
    content = f"{row['feature']} {slot} {rng.randrange(3)}"
    text = {"model": row["model_served"], "messages": [{"role": "user", "content": content}]}
    return json.dumps({**text, "temperature": 0})


def _fill(url: str, total: int, now: dt.datetime) -> int:
    import synthetic
    from llmtally.ledger import open_store

    rng = random.Random(11)
    rows: list[dict[str, Any]] = []
    bodies: list[dict[str, Any]] = []
    with open_store(url) as store:
        for row in synthetic.calls(total, DAYS, now):
            rows.append(row)
            if rng.random() < BODY_SHARE:
                body = _body(rng, row)
                bodies.append({"call_id": row["id"], "request_body": body,
                               "response_body": None, "request_truncated": False,
                               "response_truncated": False})  # fmt: skip
            if len(rows) == BATCH:
                store.insert_rows(rows, bodies)
                rows, bodies = [], []
        store.insert_rows(rows, bodies)
    return total


def ledger(total: int) -> tuple[str, dt.datetime]:
    """The ledger's URL and the moment it was made (made first when missing)."""
    path = DATA / f"advise-{total}.sqlite3"
    info = path.with_suffix(".sqlite3.json")
    if not info.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        started = time.perf_counter()
        _fill(f"sqlite:///{path}", total, now)
        facts = {"calls": total, "now": now.isoformat(), "seconds": time.perf_counter() - started}
        info.write_text(json.dumps(facts))
    meta = json.loads(info.read_text())
    print(f"ledger: {path.name}, {meta['calls']:,} calls over {DAYS} days to {meta['now']}, "
          f"made in {meta['seconds']:.0f} s, {path.stat().st_size / 1e6:,.0f} MB")  # fmt: skip
    return f"sqlite:///{path}", dt.datetime.fromisoformat(meta["now"])


def _timed(fn: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def measure(url: str, now: dt.datetime, rounds: int, profile: int) -> dict[str, list[float]]:
    from llmtally.advisor import advise
    from llmtally.catalog import Catalog
    from llmtally.ledger import open_store

    since = now - dt.timedelta(days=DAYS)
    catalog = Catalog.load()
    times: dict[str, list[float]] = {"advise": [], "read all": []}
    with open_store(url) as store:
        tasks = [
            ("advise", lambda: advise(store, catalog, since, now)),
            ("read all", lambda: store.list(since=since, limit=None)),
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
        print(f"  {name:9s} median {med[name]:.2f} s (range {min(values):.2f}-{max(values):.2f})")
    ratio = med["advise"] / med["read all"]
    at_goal = med["advise"] / calls * GOAL_CALLS
    verdict = "met" if at_goal < GOAL_S else "NOT met"
    print(f"advise over {calls:,} calls: {med['advise']:.2f} s, {ratio:.2f}x reading every call "
          f"once ({med['read all']:.2f} s)")  # fmt: skip
    print(f"linear extrapolation to {GOAL_CALLS:,} calls: {at_goal:.0f} s "
          f"(goal < {GOAL_S:.0f} s: {verdict}; extrapolated, not measured)")  # fmt: skip


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
