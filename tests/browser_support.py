"""What the dashboard tests share: a seeded ledger, totals computed independently
in plain SQL, the dashboard served for real (uvicorn on 127.0.0.1), requests
through ASGI, and Debian's chromium driven by Playwright.

Expected numbers are never read from the code under test: ``sql_totals`` is a
hand-written ``SELECT count(*), sum(...) FROM calls WHERE ...``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright
from sqlalchemy import text

from gateway_support import ListRecorder, free_port
from llmtally.catalog import Catalog
from llmtally.gateway.app import Gateway
from llmtally.gateway.config import GatewayConfig
from llmtally.ledger import Store
from llmtally.ledger.rows import CallBodies
from llmtally.meter import cost
from llmtally.usage import Call, Usage
from llmtally.web import Dashboard
from test_ledger_support import full_call, price

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
REPO = Path(__file__).resolve().parents[1]
# Screenshots go to a temporary folder, so tests never modify tracked files;
# `make screenshots` sets this to docs/screenshots to regenerate the docs' copies.
SCREENSHOTS_ENV = "LLMTALLY_SCREENSHOTS"
# The dashboard's clock in these tests: relative filters (24h) are exact.
NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
TRACE = "trace-checkout-0001"
SECRET_BODY = '{"model": "gpt-4o", "messages": [{"role": "user", "content": "What is 2+2?"}]}'
GATEWAY_CONFIG = {
    "upstreams": {"openai": {"kind": "openai", "base_url": "http://127.0.0.1:9"}},
    "routes": [{"match": "*", "upstream": "openai"}],
}


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def seed_id(moment: dt.datetime, n: int) -> str:
    """A ULID-shaped id that is the same on every run (so screenshots are too)."""
    value = int(moment.timestamp() * 1000) << 80 | n
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def _call(minutes_ago: float, tokens: int, priced: bool = True, **changes: Any) -> Call:
    usage = Usage(input_tokens=tokens, output_tokens=tokens // 4 + 3, cache_read_tokens=tokens // 5)
    started = NOW - dt.timedelta(minutes=minutes_ago)
    fields: dict[str, Any] = {
        "id": seed_id(started, tokens),
        "started_at": started,
        "usage": usage,
        "trace_id": None,
        "parent_id": None,
    }
    if priced:
        fields["cost"] = cost(usage, price())
    else:
        fields.update(cost=None, cost_error="unknown model 'mystery-1' for provider 'openai'")
    fields.update(changes)
    return full_call(**fields)


@dataclass(frozen=True)
class Seeded:
    calls: list[Call]
    root: Call  # the trace's root, with stored bodies
    child: Call
    grandchild: Call
    orphan: Call  # in the trace, naming a parent that is not recorded


def seed(store: Store) -> Seeded:
    """60 calls over the last 3 days: three models, three users, errors,
    unpriced calls, a trace of four, bodies for one call."""
    users, features = ("alice", "bob", "carol"), ("search", "chat", None)
    models = ("gpt-4o-2024-08-06", "gpt-4o-mini", "o3-mini")
    found = []
    for i in range(56):
        status = (500, 429)[i % 2] if i % 9 == 4 else 200
        found.append(
            _call(
                minutes_ago=7 + i * 73,  # every ~1.2 h, back ~2.8 days
                tokens=1_000 + 917 * i,
                priced=i % 11 != 3,
                model_served=models[i % 3],
                user=users[i % 3],
                feature=features[i % 3],
                status=status,
                error="upstream failed" if status >= 400 else None,
                tags=("beta", "eu") if i % 4 == 0 else ("eu",) if i % 4 == 1 else (),
                key_id=None,
            )
        )
    root = _call(50, 12_345, trace_id=TRACE, feature="checkout", user="alice")
    child = _call(49, 2_222, trace_id=TRACE, parent_id=root.id, feature="checkout")
    grandchild = _call(48, 333, trace_id=TRACE, parent_id=child.id, model_served="gpt-4o-mini")
    orphan = _call(47, 4_444, trace_id=TRACE, parent_id="span-not-recorded", priced=False)
    trace = [root, child, grandchild, orphan]
    bodies = [CallBodies(root.id, SECRET_BODY, '{"choices": [{"message": {"content": "4"}}]}')]
    store.insert_many([*found, *trace], bodies)
    return Seeded([*found, *trace], root, child, grandchild, orphan)


@dataclass(frozen=True)
class SqlTotals:
    calls: int
    input_tokens: int
    output_tokens: int
    cost: Decimal
    errors: int


def sql_totals(store: Store, where: str = "1=1", **params: Any) -> SqlTotals:
    """Totals straight from the table, written out by hand."""
    query = text(
        "SELECT count(*), coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0), "
        "coalesce(sum(cost_total), 0), coalesce(sum(CASE WHEN status >= 400 THEN 1 ELSE 0 END), 0) "
        f"FROM calls WHERE {where}"
    )
    with store.engine.connect() as conn:
        row = conn.execute(query, params).one()
    money = Decimal(row[3])
    if store.dialect == "sqlite":  # integer 1e-10 units (llmtally.ledger.schema.Fixed)
        money = money / Decimal(10) ** 10
    return SqlTotals(int(row[0]), int(row[1]), int(row[2]), money, int(row[4]))


def sql_time(store: Store, moment: dt.datetime) -> Any:
    """A bind value for ``started_at``: SQLite keeps UTC as text."""
    utc = moment.astimezone(dt.UTC)
    return utc.strftime("%Y-%m-%d %H:%M:%S.%f") if store.dialect == "sqlite" else utc


def dashboard(store: Store, admin_token: str | None = None) -> Dashboard:
    return Dashboard(store, Catalog.load(), admin_token, clock=lambda: NOW)


def gateway_with(web: Dashboard) -> Gateway:
    config = GatewayConfig.model_validate(GATEWAY_CONFIG)
    return Gateway(config, ListRecorder(), Catalog.load(), web=web)


def fetch(app: Any, path: str, method: str = "GET", **kwargs: Any) -> httpx.Response:
    """One request through ASGI (no socket)."""

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:4000") as c:
            return await c.request(method, path, **kwargs)

    return asyncio.run(go())


@contextlib.contextmanager
def served(app: Any) -> Iterator[str]:
    """``app`` on uvicorn in a thread, on a free loopback port; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(1000):
        if server.started:
            break
        time.sleep(0.01)
    else:
        raise AssertionError("uvicorn did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def require_chromium() -> str:
    """Debian's chromium, or a failed test that says how to get it (never a skip)."""
    if not Path(CHROMIUM).is_file():
        pytest.fail(
            f"the dashboard's browser tests need Debian's chromium at {CHROMIUM}: "
            "make test installs it (scripts/ensure_chromium.sh)",
            pytrace=False,
        )
    return CHROMIUM


def screenshot_folder(environ: Mapping[str, str], scratch: Path) -> Path:
    """``$LLMTALLY_SCREENSHOTS`` (relative to the repository) when set, else ``scratch``."""
    chosen = environ.get(SCREENSHOTS_ENV)
    return REPO / chosen if chosen else scratch


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where this run's screenshots go: a temporary folder unless asked otherwise."""
    folder = screenshot_folder(os.environ, tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def number(shown: str) -> int:
    return int(shown.replace(",", "").strip())


def money(shown: str) -> Decimal:
    return Decimal(shown.strip().removeprefix("$"))


class Watched:
    """A page whose console errors and uncaught exceptions are collected."""

    def __init__(self, page: Page, base: str, shots: Path) -> None:
        self.page, self.base, self.shots = page, base, shots
        self.problems: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            self.problems.append(f"console {message.type}: {message.text}")

    def open(self, path: str) -> Page:
        response = self.page.goto(self.base + path, wait_until="load")
        assert response is not None and response.status == 200, (path, response)
        self.page.wait_for_load_state("networkidle")
        self.check()
        return self.page

    def via_nav(self, start: str, name: str, path: str) -> Page:
        """Open ``start``, click the nav's ``name``: the page at ``path``, marked active."""
        page = self.open(start)
        page.click(f"nav >> text={name}")
        page.wait_for_load_state("networkidle")
        assert page.url.endswith(path), page.url
        assert page.locator("nav a.active").inner_text() == name
        self.check()
        return page

    def check(self) -> None:
        assert self.problems == [], self.problems

    def screenshot(self, name: str, max_bytes: int = 400_000) -> None:
        """A full-page PNG of the current page, into the run's screenshot folder."""
        path = self.shots / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        assert 0 < path.stat().st_size < max_bytes, (name, path.stat().st_size)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = require_chromium()
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()
