"""Budgets on every scope through the gateway: several apply to one call and
all must hold; rate limits per minute; a model with no price; the counters'
database down (refuse by default, or let through flagged); the CLI.

The calls are ``openai_chat`` (gpt-4o, 19 prompt tokens) with ``max_tokens=10``:
at most 29 tokens and $0.0001475 each (19 x $2.50/1M + 10 x $10/1M), which
is also what each one costs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from gateway_support import live_gateway
from llmtally.budgets.book import BudgetBook
from llmtally.catalog import Catalog
from llmtally.cli import app
from llmtally.gateway.app import Gateway
from llmtally.gateway.budget_gate import BudgetGate
from llmtally.gateway.config import GatewayConfig
from llmtally.gateway.keys import KeyGate
from llmtally.ledger import LedgerWriter, Store, open_store
from llmtally.ledger.keys import KeyStore
from replay_upstream import ReplayUpstream

CHAT = [
    {"role": "developer", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Hello!"},
]


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[tuple[str, Store, LedgerWriter]]:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    with open_store(url) as opened:
        writer = LedgerWriter(opened, tmp_path / "spool.jsonl", flush_interval=0.01)
        yield url, opened, writer
        writer.close()


class Running:
    def __init__(self, base: str, secret: str, budgets: BudgetGate, upstream: ReplayUpstream):
        self.base, self.secret, self.budgets, self.upstream = base, secret, budgets, upstream

    def settled(self) -> None:
        """Wait until every call so far is settled (recorded after its answer)."""
        budgets = self.budgets.budgets
        for _ in range(500):
            if all(r == 0 for _, r in self.budgets.counters.state(budgets).values()):
                return
            time.sleep(0.01)
        raise AssertionError(self.budgets.counters.state(budgets))

    def ask(self, model: str = "gpt-4o", **headers: str) -> Any:
        with openai.OpenAI(
            base_url=f"{self.base}/v1",
            api_key=self.secret,
            max_retries=0,
            default_headers={f"x-llmtally-{k}": v for k, v in headers.items()},
        ) as client:
            return client.chat.completions.create(
                model=model,
                messages=CHAT,  # type: ignore[arg-type]
                max_tokens=10,
            )


@contextlib.contextmanager
def _gateway(store: Store, writer: LedgerWriter, secret: str, **settings: Any) -> Iterator[Running]:
    gate = KeyGate(KeyStore(store)).start()
    budgets = BudgetGate(store, Catalog.load(), **settings).start()
    try:
        with ReplayUpstream() as upstream:
            config = {
                "upstreams": {"openai": {"kind": "openai", "base_url": upstream.url}},
                "routes": [{"match": "*", "upstream": "openai"}],
            }
            with live_gateway(config, None, writer, gate=gate, budgets=budgets) as (base, _):
                yield Running(base, secret, budgets, upstream)
    finally:
        budgets.close()
        gate.close()


def test_every_budget_that_covers_a_call_must_hold(
    ledger: tuple[str, Store, LedgerWriter],
) -> None:
    _, store, writer = ledger
    made = KeyStore(store).create("growth-bot", team="growth")
    book = BudgetBook(store)
    book.add("team", "growth", "requests", "minute", Decimal(5))
    book.add("tag", "beta", "tokens", "day", Decimal(100))
    book.add("user", "alice", "usd", "month", Decimal("1"))
    with _gateway(store, writer, made.secret) as running:
        for _ in range(3):  # 3 x 29 = 87 tokens of the tag's 100
            running.ask(user="alice", tags="beta")
        running.settled()
        with pytest.raises(openai.RateLimitError) as caught:
            running.ask(user="alice", tags="beta")  # 87 + 29 > 100
        assert caught.value.code == "rate_limit_exceeded"
        assert "the daily token limit of tag 'beta' is 100: 87 spent" in str(caught.value)
        running.ask(user="alice")  # no tag: the team's 4th request this minute
        running.ask(user="bob")  # the 5th
        running.settled()
        with pytest.raises(openai.RateLimitError) as caught:
            running.ask(user="carol")
        assert "the per-minute request limit of team 'growth' is 5: 5 spent" in str(caught.value)
        assert 0 < int(caught.value.response.headers["retry-after"]) <= 60
        assert len(running.upstream.served) == 5  # a refused call reserves nothing anywhere
        metrics = httpx.get(f"{running.base}/metrics").text
        assert 'llmtally_refused_calls_total{reason="rate_limit_exceeded"} 2.0' in metrics
        states = running.budgets.counters.state(running.budgets.budgets)
    spent = {running.budgets.book.get(i).describe(): s for i, s in states.items()}  # type: ignore[union-attr]
    assert spent == {
        "the per-minute request limit of team 'growth'": (Decimal(5), Decimal(0)),
        "the daily token limit of tag 'beta'": (Decimal(87), Decimal(0)),
        "the monthly budget of user 'alice'": (Decimal("0.0005900"), Decimal(0)),  # 4 calls
    }


def test_a_model_without_a_price_cannot_spend_a_dollar_budget(
    ledger: tuple[str, Store, LedgerWriter],
) -> None:
    _, store, writer = ledger
    made = KeyStore(store).create("capped", Decimal("5"), "month")
    with _gateway(store, writer, made.secret) as running:
        with pytest.raises(openai.PermissionDeniedError) as caught:
            running.ask(model="some-model-nobody-prices")
        assert caught.value.code == "budget_unbounded"
        assert "add the model's price" in str(caught.value)
        assert running.upstream.served == []


def _drop_counters(store: Store) -> None:
    with store.engine.connect() as conn, conn.begin():
        conn.execute(text("DROP TABLE budget_counters"))


def test_counters_down_refuse_budgeted_calls_by_default(
    ledger: tuple[str, Store, LedgerWriter],
) -> None:
    _, store, writer = ledger
    made = KeyStore(store).create("capped", Decimal("5"), "month")
    free = KeyStore(store).create("free")  # no budget: not affected
    with _gateway(store, writer, made.secret) as running:
        _drop_counters(store)
        with pytest.raises(openai.InternalServerError) as caught:
            running.ask()
        assert caught.value.status_code == 503 and caught.value.code == "budget_store_unavailable"
        assert int(caught.value.response.headers["retry-after"]) > 0
        running.secret = free.secret
        assert running.ask().choices[0].message.content
        assert len(running.upstream.served) == 1


def test_counters_down_with_allow_let_calls_through_flagged(
    ledger: tuple[str, Store, LedgerWriter],
) -> None:
    _, store, writer = ledger
    made = KeyStore(store).create("capped", Decimal("5"), "month")
    with _gateway(store, writer, made.secret, on_store_down="allow") as running:
        _drop_counters(store)
        running.ask()
    writer.flush(10)
    [call] = store.list(limit=5)
    assert call.status == 200 and call.flags == ("budget_unchecked",)


def test_budgets_cli_adds_lists_and_removes(ledger: tuple[str, Store, LedgerWriter]) -> None:
    url, store, _ = ledger
    env = {"LLMTALLY_DATABASE_URL": url}
    run = CliRunner().invoke
    empty = run(app, ["budgets", "list"], env=env)
    assert empty.exit_code == 0 and empty.stdout.startswith("No budgets yet. Add one")
    made = KeyStore(store).create("ci", Decimal("2.5"), "week")
    added = run(
        app, ["budgets", "add", "--user", "alice", "--usd", "12.5", "--period", "day"], env=env
    )
    assert added.exit_code == 0, added.output
    assert "the daily budget of user 'alice' is $12.50" in added.stdout
    limit = run(
        app,
        ["budgets", "add", "--key", "ci", "--requests", "60", "--period", "minute", "--json"],
        env=env,
    )
    assert limit.exit_code == 0, limit.output
    assert json.loads(limit.stdout)["subject"] == made.key.id
    listed = json.loads(run(app, ["budgets", "list", "--json"], env=env).stdout)
    assert [(b["name"], b["metric"], b["period"], b["amount"], b["spent"]) for b in listed] == [
        ("alice", "usd", "day", "12.5", "0"),
        ("ci", "requests", "minute", "60", "0"),
        ("ci", "usd", "week", "2.5", "0"),  # the key's own budget
    ]
    table = run(app, ["budgets", "list"], env=env, terminal_width=80)
    assert table.exit_code == 0 and "3 budgets" in table.stdout
    assert all(len(line) <= 80 for line in table.stdout.splitlines())
    twice = run(
        app, ["budgets", "add", "--user", " alice ", "--usd", "1", "--period", "day"], env=env
    )  # the same user: edge spaces are not part of a name
    assert twice.exit_code == 1
    assert twice.stderr == (
        f"error: the daily budget of user 'alice' exists already ({listed[0]['id']}): "
        "remove it first\n"
    )
    for bad, message in [
        (["--user", "a", "--usd", "-1"], "positive amount"),
        (["--user", "a", "--tokens", "0"], "positive amount"),
        (["--user", "a", "--usd", "1", "--period", "year"], "unknown period"),
        (["--key", "nope", "--usd", "1"], "no gateway key"),
        (["--user", "a", "--team", "b", "--usd", "1"], "exactly one of --key"),
        (["--user", "a", "--usd", "12345678901234567890"], "too large for a budget"),
        (["--user", "a", "--tokens", "99999999999999999999999"], "too large for a budget"),
    ]:
        result = run(app, ["budgets", "add", *bad], env=env)
        assert result.exit_code != 0 and message in result.stderr, (bad, result.output)
        assert result.exception is None or isinstance(result.exception, SystemExit)
    key_budget = "key:" + made.key.id
    own = run(app, ["budgets", "remove", key_budget], env=env)
    assert own.exit_code == 1 and "goes with the key" in own.stderr
    gone = run(app, ["budgets", "remove", listed[0]["id"]], env=env)
    assert gone.exit_code == 0 and "Removed budget" in gone.stdout
    assert len(json.loads(run(app, ["budgets", "list", "--json"], env=env).stdout)) == 2


def test_a_request_cancelled_in_flight_gives_its_reservation_back(
    ledger: tuple[str, Store, LedgerWriter],
) -> None:
    """A request that ends without being recorded (here its task is cancelled,
    as a server shutting down does, while the upstream is still streaming)
    leaves nothing reserved: a live process's reservations never expire."""
    _, store, writer = ledger
    made = KeyStore(store).create("capped", Decimal("5"), "month")
    gate = KeyGate(KeyStore(store)).start()
    budgets = BudgetGate(store, Catalog.load()).start()
    [key_budget] = budgets.budgets
    body = json.dumps(
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello."}],
         "stream": True, "max_tokens": 6}
    ).encode()  # fmt: skip
    scope = {
        "type": "http", "method": "POST", "path": "/v1/chat/completions", "query_string": b"",
        "headers": [(b"authorization", b"Bearer " + made.secret.encode()),
                    (b"content-type", b"application/json"), (b"host", b"127.0.0.1")],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 4000), "scheme": "http",
        "http_version": "1.1", "root_path": "",
    }  # fmt: skip
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if not sent and not getattr(receive, "done", False):
            receive.done = True  # type: ignore[attr-defined]
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def run(app: Gateway) -> None:
        task = asyncio.ensure_future(app(scope, receive, send))
        while not sent:  # the stream started: reserved, and relaying
            await asyncio.sleep(0.01)
        assert running_reserved() == Decimal("0.0000051")
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        for _ in range(200):  # given back through the settling thread, not at exit
            if running_reserved() == 0:
                break
            await asyncio.sleep(0.01)
        assert running_reserved() == 0
        await app.aclose()

    def running_reserved() -> Decimal:
        return budgets.counters.state([key_budget])[key_budget.id][1]

    try:
        with ReplayUpstream() as upstream:
            upstream.delay = 0.5
            config = GatewayConfig.model_validate(
                {"upstreams": {"openai": {"kind": "openai", "base_url": upstream.url}},
                 "routes": [{"match": "*", "upstream": "openai"}]}
            )  # fmt: skip
            app = Gateway(config, writer, Catalog.load(), gate=gate, budgets=budgets)
            asyncio.run(run(app))
    finally:
        budgets.close()
        gate.close()
    writer.flush(5)
    assert store.count() == 0  # not recorded: it never ended
    assert budgets.counters.state([key_budget])[key_budget.id] == (Decimal(0), Decimal(0))


def test_a_call_that_alone_exceeds_a_limit_is_refused_without_retry_after(
    ledger: tuple[str, Store, LedgerWriter],
) -> None:
    """28 tokens a day can never hold a call of 19 + 10 = 29: waiting for the
    next window would not help, so no Retry-After (and no SDK retry)."""
    _, store, writer = ledger
    made = KeyStore(store).create("small")
    BudgetBook(store).add("user", "dora", "tokens", "day", Decimal(28))
    with _gateway(store, writer, made.secret) as running:
        with pytest.raises(openai.PermissionDeniedError) as caught:
            running.ask(user="dora")
        assert caught.value.code == "exceeds_budget"
        assert "retry-after" not in caught.value.response.headers
        assert str(caught.value).endswith(
            "the daily token limit of user 'dora' is 28, and this call alone may use 29 "
            "(19 prompt tokens + 10 output tokens at most: the request's cap): it can never "
            "fit; ask for fewer output tokens"
        )
        assert running.upstream.served == []
