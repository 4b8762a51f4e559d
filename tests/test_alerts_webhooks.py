"""Issue 12's "must show" for alerts, on SQLite and PostgreSQL: traffic through
the gateway (the real openai SDK against the local replay upstream) crosses
50/80/100% of a rule and a spike is written into the ledger; a local receiver
gets each webhook exactly once, although the evaluator runs many times and two
evaluators (and two ``llmtally serve`` processes) run at once on one ledger;
the spike's webhook names the user that grew.

The cost of a call is worked out by hand: the replayed ``openai_chat`` answer
reports 19 prompt and 10 completion tokens of gpt-4o-2024-08-06, at $2.50 and
$10.00 per 1M tokens: 19 x 2.5e-6 + 10 x 1e-5 = $0.0001475.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import openai
import pytest
from sqlalchemy import select

from alerts_support import Receiver, paid
from gateway_support import LLMTALLY, free_port, live_gateway, wait_up
from llmtally.alerts import AlertsConfig, AlertService
from llmtally.alerts.store import AlertStore
from llmtally.ledger import LedgerWriter, Store, open_store
from llmtally.ledger.schema import alert_attempts, alert_deliveries, alerts
from replay_upstream import ReplayUpstream
from test_ledger_support import db_url, pg_base_url  # noqa: F401

PER_CALL = Decimal("0.0001475")
HELLO = [{"role": "user", "content": "Say hello."}]
SECRET = "tok-SECRET-9"


def _send(url: str, n: int, user: str) -> None:
    client = openai.OpenAI(
        base_url=f"{url}/v1",
        api_key="sk-test",
        max_retries=0,
        default_headers={"x-llmtally-user": user},
    )
    for _ in range(n):
        client.chat.completions.create(model="gpt-4o", messages=HELLO)
    client.close()


def _wait_for(check: Callable[[], bool], what: str, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def _stored(store: Store, n: int) -> None:
    _wait_for(lambda: store.count() == n, f"{n} calls in the ledger")


def _evaluate_together(url: str, settings: AlertsConfig, environ: dict[str, str]) -> None:
    """Two evaluators, each on its own connections to the ledger (as two processes
    would be), started together; each runs three passes, 0.1 s apart."""
    start = threading.Barrier(2)
    failures: list[BaseException] = []

    def run() -> None:
        try:
            with open_store(url) as own:
                service = AlertService(own, settings, environ=environ)
                start.wait()
                for _ in range(3):
                    service.check()
                    time.sleep(0.1)
        except BaseException as exc:  # reported by the test below
            failures.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []


def _secret_free(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    with store.engine.connect() as conn:
        rows = [list(conn.execute(select(t))) for t in (alerts, alert_deliveries, alert_attempts)]
    assert SECRET not in repr(rows) + caplog.text


def test_thresholds_through_the_gateway_reach_the_receiver_once_each(
    replay_upstream: ReplayUpstream,
    db_url: str,  # noqa: F811
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    amount = PER_CALL * 10
    with Receiver(fail_first=1) as receiver, open_store(db_url) as store:
        environ = {"TEAM_HOOK": f"{receiver.url}/hooks/llmtally?token={SECRET}"}
        settings = AlertsConfig.model_validate(
            {
                "webhooks": {"ops": {"url_env": "TEAM_HOOK"}},
                "rules": [
                    {
                        "name": "team-a",
                        "scope": {"user": "team-a"},
                        "period": "total",
                        "amount_usd": str(amount),
                    }
                ],
                "delivery": {"backoff_s": 0.05},
            }
        )
        config = {
            "upstreams": {"openai": {"kind": "openai", "base_url": replay_upstream.url}},
            "routes": [{"match": "*", "upstream": "openai"}],
        }
        writer = LedgerWriter(store, tmp_path / "spool.jsonl", flush_interval=0.02)
        steps = [("other", 6, []), ("team-a", 4, []), ("team-a", 1, [50])]
        steps += [
            ("team-a", 3, [50, 80]),
            ("team-a", 2, [50, 80, 100]),
            ("team-a", 3, [50, 80, 100]),
        ]
        sent = 0
        with caplog.at_level(logging.INFO), live_gateway(config, recorder=writer) as (url, _):
            for user, calls, levels in steps:
                _send(url, calls, user)
                sent += calls
                _stored(store, sent)
                _evaluate_together(db_url, settings, environ)
                assert [b["threshold_percent"] for b in receiver.bodies()] == levels, user
        assert writer.close(timeout=20)
        fired = AlertStore(store).fired()
        _secret_free(store, caplog)
    assert receiver.refused == 1  # the 50% alert's first POST: retried after 0.05 s
    assert sorted((a.level, a.notify) for a in fired) == [(50, True), (80, True), (100, True)]
    fifty, eighty, hundred = receiver.received
    assert fifty.path == f"/hooks/llmtally?token={SECRET}"
    assert fifty.headers["x-llmtally-alert"] == fifty.body["id"]
    assert fifty.body | {"id": None, "fired_at": None} == {
        "schema": "llmtally.alert/1",
        "id": None,
        "rule": "team-a",
        "kind": "threshold",
        "scope": {"user": "team-a"},
        "threshold_percent": 50,
        "spend_usd": "0.0007375",  # 5 calls
        "amount_usd": "0.001475",
        "period": "total",
        "period_start": None,
        "period_end": None,
        "projected_usd": None,
        "elapsed_share": None,
        "usual_usd": None,
        "factor": None,
        "cause": None,
        "fired_at": None,
        "text": "llmtally alert 'team-a' (user=team-a): 50% of the $0.00148 total amount "
        "reached: $0.000738 spent in total.",
    }
    assert (eighty.body["spend_usd"], hundred.body["spend_usd"]) == ("0.00118", "0.001475")
    by_level = {a.level: a for a in fired}
    assert [d.attempts for d in by_level[50].deliveries] == [2]
    assert all(d.state == "delivered" for a in fired for d in a.deliveries)


SPIKE_NOW = dt.datetime(2026, 11, 8, 12, 0, tzinfo=dt.UTC)


def test_a_spike_reaches_the_receiver_once_naming_the_user_that_grew(
    db_url: str,  # noqa: F811
) -> None:
    calls = []
    for k in range(0, 8):  # the same hour on 7 days before, and now: alice and bob
        day = SPIKE_NOW - dt.timedelta(days=k)
        calls += [
            paid("0.04", day - dt.timedelta(minutes=40), user="alice", feature="chat"),
            paid("0.06", day - dt.timedelta(minutes=25), user="bob", feature="search"),
        ]
    for minute in range(1, 31):  # mallory's batch job: 30 calls of $0.07 in the last hour
        calls.append(paid("0.07", SPIKE_NOW - dt.timedelta(minutes=minute), user="mallory"))
    settings = AlertsConfig.model_validate(
        {"webhooks": {"ops": {"url_env": "HOOK"}}, "anomalies": [{"name": "spikes"}]}
    )
    with Receiver() as receiver, open_store(db_url) as store:
        store.insert_many(calls)
        environ = {"HOOK": f"{receiver.url}/spikes"}
        services = [
            AlertService(store, settings, clock=lambda: SPIKE_NOW, environ=environ)
            for _ in range(2)
        ]
        start = threading.Barrier(2)

        def run(service: AlertService) -> None:
            start.wait()
            for _ in range(4):
                service.check()

        threads = [threading.Thread(target=run, args=(s,)) for s in services]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert len(AlertStore(store).fired()) == 1
    (body,) = receiver.bodies()
    # now: 0.04 + 0.06 + 30 x 0.07 = 2.20; usual: 0.10; mallory grew by all of the 2.10
    assert (body["kind"], body["spend_usd"], body["usual_usd"]) == ("anomaly", "2.2", "0.1")
    assert body["cause"]["top"] | {"share_of_increase": None} == {
        "dimension": "user",
        "value": "mallory",
        "spend_usd": "2.1",
        "usual_usd": "0",
        "growth_usd": "2.1",
        "share_of_increase": None,
    }
    assert body["cause"]["top"]["share_of_increase"] == "1"
    assert "22.0x the usual $0.10" in body["text"]
    assert "Grew most: user mallory +$2.10 (100% of the increase)." in body["text"]


@contextlib.contextmanager
def _serve(tmp_path: Path, name: str, config: str, database: str) -> Iterator[str]:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "llmtally.yaml").write_text(config)
    port = free_port()
    process = subprocess.Popen(
        [LLMTALLY, "serve", "--port", str(port), "--config", str(folder / "llmtally.yaml")]
        + ["--database-url", database],
        env={**os.environ, "LLMTALLY_HOME": str(folder / "home")},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_up(url, process)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
        assert process.returncode == 0, err.decode()
        assert SECRET not in err.decode()


def test_two_gateway_processes_on_one_ledger_send_each_alert_once(
    replay_upstream: ReplayUpstream,
    db_url: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    with Receiver() as receiver:
        config = (
            f"upstreams: {{openai: {{kind: openai, base_url: '{replay_upstream.url}'}}}}\n"
            "routes: [{match: '*', upstream: openai}]\n"
            "alerts:\n"
            "  interval_s: 0.1\n"
            f"  webhooks: {{ops: {{url: '{receiver.url}/hook?token={SECRET}'}}}}\n"
            f"  rules: [{{name: four, period: total, amount_usd: '{PER_CALL * 4}',\n"
            "           thresholds: [50, 75, 100]}]\n"
        )
        with (
            _serve(tmp_path, "one", config, db_url) as first,
            _serve(tmp_path, "two", config, db_url) as second,
        ):
            for n, (url, levels) in enumerate(
                [(first, [50]), (second, [50, 75]), (first, [50, 75, 100])]
            ):
                _send(url, 2 if n == 0 else 1, "anyone")
                _wait_for(lambda lv=levels: len(receiver.bodies()) >= len(lv), f"{levels}")
                time.sleep(0.5)  # both evaluators pass several more times
                assert [b["threshold_percent"] for b in receiver.bodies()] == levels
        with open_store(db_url) as store:
            assert store.count() == 4
            assert len(AlertStore(store).fired()) == 3
