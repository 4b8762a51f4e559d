"""Wrong admin tokens are rate limited per client address: 5 in a minute, then
429 with Retry-After until the oldest is a minute old (the right token too)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from browser_support import NOW, seed, served
from llmtally.catalog import Catalog
from llmtally.ledger import open_store
from llmtally.web import Dashboard
from llmtally.web.auth import COOKIE
from llmtally.web.throttle import LoginThrottle

TOKEN = "s3cret-admin-token-0123456789"
WRONG = "not-the-admin-token-0000000"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def web(tmp_path_factory: pytest.TempPathFactory, clock: Clock) -> Iterator[Dashboard]:
    folder = tmp_path_factory.mktemp("throttle")
    with open_store(f"sqlite:///{folder / 'ledger.sqlite3'}") as store:
        seed(store)
        throttle = LoginThrottle(clock=clock)  # the default limits, on a clock we move
        board = Dashboard(store, Catalog.load(), TOKEN, lambda: NOW, login_throttle=throttle)
        yield board
        board.close()


def _request(app: Any, address: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=(address, 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:4000") as c:
            return await c.request(method, path, **kwargs)

    return asyncio.run(go())


def login(app: Any, token: str, address: str = "10.0.0.1") -> httpx.Response:
    return _request(app, address, "POST", "/login", data={"token": token, "next": "/calls"})


def test_the_sixth_attempt_in_a_minute_waits_even_with_the_right_token(
    web: Dashboard, clock: Clock
) -> None:
    for second in range(5):  # failures at 1000, 1001, ... 1004
        clock.now = 1000.0 + second
        assert login(web, WRONG).status_code == 401
    refused = login(web, TOKEN)
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "56"  # the first failure is a minute old at 1060
    assert "try again in 56 s" in refused.text
    assert "set-cookie" not in refused.headers


def test_another_address_is_not_held_up(web: Dashboard) -> None:
    for _ in range(5):
        login(web, WRONG, "10.0.0.1")
    assert login(web, WRONG, "10.0.0.1").status_code == 429
    answer = login(web, TOKEN, "10.0.0.2")
    assert answer.status_code == 303 and answer.headers["location"] == "/calls"
    assert answer.headers["set-cookie"].startswith(f"{COOKIE}=")


def test_attempts_come_back_as_failures_age_past_the_minute(web: Dashboard, clock: Clock) -> None:
    for second in range(5):
        clock.now = 1000.0 + second
        login(web, WRONG)
    clock.now = 1059.5
    assert login(web, TOKEN).headers["retry-after"] == "1"  # 0.5 s, rounded up
    clock.now = 1060.0  # the failure at 1000 is a minute old: one attempt is free
    assert login(web, WRONG).status_code == 401
    assert login(web, TOKEN).headers["retry-after"] == "1"  # 1001 + 60 - 1060
    clock.now = 1061.0
    assert login(web, TOKEN).status_code == 303


def test_a_successful_login_forgets_the_failures(web: Dashboard) -> None:
    for _ in range(4):
        assert login(web, WRONG).status_code == 401
    assert login(web, TOKEN).status_code == 303
    for _ in range(5):
        assert login(web, WRONG).status_code == 401
    assert login(web, WRONG).status_code == 429


def test_wrong_bearer_tokens_count_and_wait_but_a_session_cookie_does_not(
    web: Dashboard,
) -> None:
    cookie = login(web, TOKEN).headers["set-cookie"].split(";")[0]
    for _ in range(5):
        wrong = {"authorization": f"Bearer {WRONG}"}
        assert _request(web, "10.0.0.1", "GET", "/calls", headers=wrong).status_code == 401
    right = {"authorization": f"Bearer {TOKEN}"}
    waited = _request(web, "10.0.0.1", "GET", "/calls", headers=right)
    assert waited.status_code == 429 and waited.headers["retry-after"] == "60"
    assert login(web, TOKEN).status_code == 429  # the form and the header share the count
    session = _request(web, "10.0.0.1", "GET", "/calls", headers={"cookie": cookie})
    assert session.status_code == 200  # a valid session is no guess


def test_over_a_real_socket_the_client_address_is_the_peer(web: Dashboard) -> None:
    with served(web) as url, httpx.Client(base_url=url, follow_redirects=False) as client:
        codes = [
            client.post("/login", data={"token": WRONG, "next": "/"}).status_code for _ in range(6)
        ]
        assert client.post("/login", data={"token": TOKEN, "next": "/"}).status_code == 429
    assert codes == [401] * 5 + [429]


def test_memory_is_bounded_by_the_number_of_addresses(clock: Clock) -> None:
    throttle = LoginThrottle(limit=2, clock=clock, max_addresses=3)
    for n in range(5):
        throttle.failed(f"10.0.0.{n}")
        throttle.failed(f"10.0.0.{n}")
    assert throttle.retry_after("10.0.0.0") is None  # dropped, the oldest
    assert throttle.retry_after("10.0.0.1") is None
    assert [throttle.retry_after(f"10.0.0.{n}") for n in (2, 3, 4)] == [60, 60, 60]
