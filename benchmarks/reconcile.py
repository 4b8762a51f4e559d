"""How long ``llmtally reconcile`` takes for a month of calls.

    .venv/bin/python benchmarks/reconcile.py [--calls 100000] [--rounds 2]

A SQLite ledger of ``--calls`` gpt-4o-mini calls spread over November 2026, and
the provider's usage and cost pages for them (tests/reconcile_synthetic.py, the
documented shapes) billed at exactly the ledger's cost, so the month reconciles
to 0.000%. Timed: ``reconcile()`` of the month, against a baseline in the same
process: reading every call of the ledger once (``Store.list``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from llmtally.catalog import Catalog
from llmtally.ledger import Store, open_store
from llmtally.pricing import price_usage
from llmtally.reconcile.compare import reconcile
from llmtally.reconcile.load import import_page
from llmtally.usage import Call, Usage

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from reconcile_synthetic import openai_costs_page, openai_usage_page, seen  # noqa: E402

SINCE = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
UNTIL = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def _calls(n: int, catalog: Catalog) -> list[Call]:
    made = []
    for i in range(n):
        started = SINCE + dt.timedelta(days=i % 30, hours=i % 24)
        usage = Usage(input_tokens=1000 + i % 500, output_tokens=100)
        priced = price_usage(usage, catalog, "openai", "gpt-4o-mini", started)
        made.append(
            Call(
                id=f"01M96F{i:020d}",
                started_at=started,
                provider="openai",
                model_requested="gpt-4o-mini",
                model_served="gpt-4o-mini",
                endpoint="/v1/chat/completions",
                status=200,
                latency_ms=1.0,
                usage=usage,
                cost=priced.cost,
            )
        )
    return made


def _fill(store: Store, calls: list[Call]) -> None:
    store.insert_many(calls)
    billed: dict[dt.date, Decimal] = {}
    for call in calls:
        assert call.cost is not None
        day = call.started_at.date()
        billed[day] = billed.get(day, Decimal(0)) + call.cost.total
    import_page(store, "openai", "usage:completions", openai_usage_page(seen(calls, "k1")), "b")
    import_page(store, "openai", "costs", openai_costs_page(billed), "bench")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    catalog = Catalog.load()
    with (
        tempfile.TemporaryDirectory() as folder,
        open_store(f"sqlite:///{Path(folder) / 'ledger.sqlite3'}") as store,
    ):
        _fill(store, _calls(args.calls, catalog))
        print("round  reconcile ms  read all calls ms  ratio  error bar")
        for n in range(args.rounds):
            started = time.perf_counter()
            result = reconcile(store, catalog, SINCE, UNTIL)
            took = time.perf_counter() - started
            started = time.perf_counter()
            store.list(limit=args.calls)
            read = time.perf_counter() - started
            error = result.headline().error_percent
            print(
                f"{n:>5}  {took * 1000:>12.0f}  {read * 1000:>17.0f}  {took / read:.2f}x  {error}%"
            )


if __name__ == "__main__":
    main()
