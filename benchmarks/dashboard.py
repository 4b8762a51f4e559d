"""The dashboard's overview and ``llmtally report`` on a 10-million-call SQLite ledger.

    .venv/bin/python benchmarks/dashboard.py [--calls 10000000] [--rounds 5]

The ledger (``benchmarks/.data/ledger-<calls>.sqlite3``, git-ignored) is made
once by ``benchmarks/synthetic.py`` through ``Store.insert_rows``, so its
rollups are built by the gateway's own code; later runs reuse it. Every figure
is taken as of the moment the ledger was made (kept beside it as JSON), so that
all runs see the same 30 days.

Measured, each as the median of ``--rounds`` interleaved rounds after one
warm-up:

- overview: the library call ``overview(store, now)``, and ``GET /`` on the
  dashboard served for real (uvicorn on 127.0.0.1, httpx client), against the
  same figures computed directly from the ``calls`` table (spend windows,
  daily spend by model, top models/users/features/fingerprints/traces, hidden
  cost sums, latency by model: one SQL statement each);
- report: ``spend_report(store, now - 30d, "model")`` against the same report
  from ``calls`` alone (``spend_report_raw``), and the whole command
  ``llmtally report --by model --since 30d`` as a process.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, text

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / ".data"
sys.path.insert(0, str(ROOT / "benchmarks"))


def _stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


RAW_OVERVIEW = [
    "SELECT sum(cost_total), count(*) FROM calls WHERE started_at >= :today",
    "SELECT sum(cost_total), count(*) FROM calls WHERE started_at >= :week",
    "SELECT sum(cost_total), count(*) FROM calls WHERE started_at >= :month",
    "SELECT substr(started_at, 1, 10) AS d, coalesce(model_served, model_requested) AS m,"
    " sum(cost_total), count(*) FROM calls WHERE started_at >= :since GROUP BY d, m",
    "SELECT coalesce(model_served, model_requested) AS m, sum(cost_total), count(*),"
    " sum(input_tokens), sum(output_tokens) FROM calls WHERE started_at >= :since GROUP BY m",
    "SELECT user_id, sum(cost_total), count(*) FROM calls WHERE started_at >= :since"
    " GROUP BY user_id ORDER BY 2 DESC LIMIT 10",
    "SELECT feature, sum(cost_total), count(*) FROM calls WHERE started_at >= :since"
    " GROUP BY feature ORDER BY 2 DESC LIMIT 10",
    "SELECT prompt_fingerprint, sum(cost_total), count(*) FROM calls WHERE started_at >= :since"
    " GROUP BY prompt_fingerprint ORDER BY 2 DESC LIMIT 10",
    "SELECT trace_id, sum(cost_total), count(*) FROM calls WHERE started_at >= :since"
    " GROUP BY trace_id ORDER BY 2 DESC LIMIT 10",
    "SELECT sum(input_system_tokens), sum(input_tools_tokens), sum(input_history_tokens),"
    " sum(input_latest_user_tokens), sum(cost_input), sum(cost_cache_read),"
    " sum(cost_reasoning), sum(cost_output), sum(saved_cache) FROM calls"
    " WHERE started_at >= :since",
    "SELECT provider, coalesce(model_served, model_requested) AS m, count(*), avg(latency_ms),"
    " avg(ttft_ms), sum(status >= 400), avg(output_tokens_per_s) FROM calls"
    " WHERE started_at >= :since GROUP BY provider, m",
    "SELECT id, cost_total FROM calls WHERE cost_total IS NOT NULL AND started_at >= :since"
    " ORDER BY cost_total DESC LIMIT 10",
]


def raw_overview(conn: Connection, now: dt.datetime) -> None:
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    tomorrow = midnight + dt.timedelta(days=1)
    bounds = {
        "today": _stamp(midnight),
        "week": _stamp(tomorrow - dt.timedelta(days=7)),
        "month": _stamp(midnight.replace(day=1)),
        "since": _stamp(tomorrow - dt.timedelta(days=30)),
    }
    for statement in RAW_OVERVIEW:
        conn.execute(text(statement), bounds).all()


def timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


class Served:
    """The dashboard on uvicorn in a thread, as ``llmtally serve`` serves it."""

    def __init__(self, store: Any, now: dt.datetime) -> None:
        import uvicorn

        from llmtally.catalog import Catalog
        from llmtally.gateway.app import Gateway
        from llmtally.gateway.serve import default_config
        from llmtally.web import Dashboard

        port = 47000 + os.getpid() % 1000
        self.base = f"http://127.0.0.1:{port}"
        catalog = Catalog.load()
        self.web = Dashboard(store, catalog, clock=lambda: now)  # as of the ledger's making
        app = Gateway(default_config(), _Nowhere(), catalog, web=self.web)
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Served:
        import httpx

        self.thread.start()
        self.client = httpx.Client(base_url=self.base, timeout=60)
        for _ in range(200):
            try:
                self.client.get("/models")
                return self
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError("the dashboard did not start")

    def get(self, path: str) -> None:
        response = self.client.get(path)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path}: {response.status_code} {response.text[:300]}")

    def __exit__(self, *exc: object) -> None:
        self.client.close()
        self.server.should_exit = True
        self.thread.join(10)
        self.web.close()


class _Nowhere:
    """A recorder for a gateway that serves only the dashboard here."""

    def submit(self, call: Any, bodies: Any = None) -> None:
        raise AssertionError("the benchmark makes no gateway call")


def report_process(url: str) -> None:
    env = {**os.environ, "LLMTALLY_DATABASE_URL": url}
    command = [str(Path(sys.executable).parent / "llmtally"), "report", "--by", "model"]
    command += ["--since", "30d"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"llmtally report failed: {done.stderr[-500:]}")


def _median(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:,.0f} ms"


def measure(url: str, now: dt.datetime, rounds: int, raw_rounds: int) -> dict[str, list[float]]:
    from llmtally.analytics.overview import overview
    from llmtally.analytics.report import spend_report, spend_report_raw
    from llmtally.ledger import open_store

    since = now - dt.timedelta(days=30)
    times: dict[str, list[float]] = {}
    with open_store(url) as store, Served(store, now) as served:
        tasks: dict[str, Callable[[], Any]] = {
            "overview (library)": lambda: overview(store, now),
            "GET / (served)": lambda: served.get("/"),
            "GET /calls, last 7 days (served)": lambda: served.get("/calls"),
            "report --by model (library)": lambda: spend_report(store, since, "model"),
            "llmtally report (process)": lambda: report_process(url),
        }
        baselines: dict[str, Callable[[], Any]] = {
            "overview from calls (SQL)": lambda: _raw(store, now),
            "report from calls (SQL)": lambda: spend_report_raw(store, since, "model"),
        }
        for fn in (*tasks.values(), *baselines.values()):
            fn()  # warm-up: page cache, imports, compiled statements
        for i in range(rounds):
            ran = {**tasks, **(baselines if i < raw_rounds else {})}
            for name, fn in ran.items():
                times.setdefault(name, []).append(timed(fn))
            shown = ", ".join(f"{k} {times[k][-1] * 1000:,.0f} ms" for k in ran)
            print(f"  round {i + 1}: {shown}")
    return times


def _raw(store: Any, now: dt.datetime) -> None:
    with store.engine.connect() as conn:
        raw_overview(conn, now)


def _goal(ok: bool) -> str:
    return "met" if ok else "NOT met"


def summary(times: dict[str, list[float]]) -> None:
    med = {name: statistics.median(values) for name, values in times.items()}
    print("median of rounds:")
    for name, values in times.items():
        spread = f"{min(values) * 1000:,.0f}-{max(values) * 1000:,.0f} ms"
        print(f"  {name:30s} {_median(values)}  (range {spread})")
    overview_s, served_s = med["overview (library)"], med["GET / (served)"]
    report_s, process_s = med["report --by model (library)"], med["llmtally report (process)"]
    raw_overview_s, raw_report_s = med["overview from calls (SQL)"], med["report from calls (SQL)"]
    print(
        f"overview served in {served_s * 1000:,.0f} ms ({overview_s * 1000:,.0f} ms of it the"
        f" library call); goal < 300 ms: {_goal(served_s < 0.3)}"
    )
    ratio = raw_overview_s / served_s
    print(f"  the same figures from calls: {raw_overview_s:,.1f} s = {ratio:,.0f}x the served page")
    print(
        f"report --by model --since 30d: {report_s * 1000:,.0f} ms in the library,"
        f" {process_s * 1000:,.0f} ms as a process; goal < 1 s: {_goal(process_s < 1)}"
    )
    ratio = raw_report_s / report_s
    print(f"  the same report from calls: {raw_report_s:,.1f} s = {ratio:,.0f}x the rollups")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=10_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--raw-rounds", type=int, default=2, help="rounds of the slow baselines")
    args = parser.parse_args()
    import synthetic  # beside this file (sys.path above)

    url, now = synthetic.ledger(DATA, "ledger", args.calls)
    summary(measure(url, now, args.rounds, args.raw_rounds))


if __name__ == "__main__":
    main()
