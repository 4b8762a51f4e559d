"""The admin token: without it every page sends you to /login; a bearer header
or the login cookie lets you in; a wrong token never does. No token is needed
when none is configured (loopback only, which ``llmtally serve`` enforces)."""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Iterator
from pathlib import Path

import pytest

from browser_support import NOW, dashboard, fetch, seed
from llmtally.ledger import open_store
from llmtally.web import Dashboard, admin_token
from llmtally.web.auth import COOKIE, AdminAuth, safe_next
from llmtally.web.http import Request

TOKEN = "s3cret-admin-token-0123456789"
PAGES = ["/", "/calls", "/calls?user=bob", "/models", "/traces/x", "/calls/x"]


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    folder = tmp_path_factory.mktemp("auth")
    with open_store(f"sqlite:///{folder / 'ledger.sqlite3'}") as store:
        seed(store)
        web = dashboard(store, admin_token=TOKEN)
        yield web
        web.close()


@pytest.mark.parametrize("path", PAGES)
def test_without_the_token_every_page_redirects_to_login(guarded: Dashboard, path: str) -> None:
    response = fetch(guarded, path)
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith("/login?next=%2F")
    assert "calls" not in response.text and response.content == b""


def test_the_login_page_and_static_files_need_no_token(guarded: Dashboard) -> None:
    login = fetch(guarded, "/login?next=%2Fcalls%3Fuser%3Dbob")
    assert login.status_code == 200
    assert 'name="next" value="/calls?user=bob"' in login.text
    assert fetch(guarded, "/static/style.css").status_code == 200


@pytest.mark.parametrize("path", PAGES[:4])
def test_the_bearer_token_lets_you_in(guarded: Dashboard, path: str) -> None:
    response = fetch(guarded, path, headers={"authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200


@pytest.mark.parametrize("value", [f"Bearer {TOKEN}x", "Bearer ", f"Bearer {TOKEN[:-1]}"])
def test_a_wrong_bearer_token_is_401(guarded: Dashboard, value: str) -> None:
    response = fetch(guarded, "/calls", headers={"authorization": value})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="llmtally"'
    assert "not the dashboard's admin token" in html.unescape(response.text)


def login(web: Dashboard, token: str, target: str = "/calls") -> tuple[int, dict[str, str]]:
    response = fetch(web, "/login", method="POST", data={"token": token, "next": target})
    return response.status_code, dict(response.headers)


def test_the_login_form_sets_a_strict_httponly_cookie(guarded: Dashboard) -> None:
    status, headers = login(guarded, TOKEN, "/calls?user=bob")
    assert status == 303 and headers["location"] == "/calls?user=bob"
    cookie = headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert TOKEN not in cookie  # the cookie holds a signature, never the token
    value = cookie.split(";")[0]
    assert fetch(guarded, "/calls", headers={"cookie": value}).status_code == 200
    tampered = value[:-1] + ("0" if value[-1] != "0" else "1")
    assert fetch(guarded, "/calls", headers={"cookie": tampered}).status_code == 303


def test_a_wrong_login_is_refused(guarded: Dashboard) -> None:
    status, headers = login(guarded, "not-the-token-at-all")
    assert status == 401 and "set-cookie" not in headers
    response = fetch(guarded, "/login", method="POST", data={"token": "nope"})
    assert 'id="login-failed"' in response.text


def test_the_session_expires_and_the_cookie_is_useless_with_another_token() -> None:
    now = [NOW]
    auth = AdminAuth(TOKEN, clock=lambda: now[0])
    cookie = auth.session_cookie(secure=True)
    assert "; Secure" in cookie
    request = Request("GET", "/calls", {}, {"cookie": cookie.split(";")[0]})
    other = AdminAuth(TOKEN + "-rotated", clock=lambda: now[0])
    assert auth.verdict(request) == "ok" and other.verdict(request) == "missing"
    now[0] += dt.timedelta(hours=13)
    assert auth.verdict(request) == "missing"


@pytest.mark.parametrize(
    ("target", "safe"),
    [
        ("/calls?x=1", "/calls?x=1"),
        ("//evil.example/", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("/\t/evil.example", "/"),
        ("/\n/evil.example", "/"),
        ("/ /evil.example", "/"),
        ("", "/"),
        (None, "/"),
    ],
)
def test_login_only_returns_to_this_server(target: str | None, safe: str) -> None:
    assert safe_next(target) == safe


def test_logout_clears_the_cookie(guarded: Dashboard) -> None:
    response = fetch(guarded, "/logout")
    assert response.status_code == 303
    assert "Max-Age=0" in response.headers["set-cookie"]


def test_without_a_configured_token_no_login_is_needed(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'ledger.sqlite3'}") as store:
        web = dashboard(store)
        try:
            assert fetch(web, "/calls").status_code == 200
            login_page = fetch(web, "/login")
            assert login_page.status_code == 303 and login_page.headers["location"] == "/"
        finally:
            web.close()


def test_the_token_comes_from_the_option_then_the_environment() -> None:
    env = {"LLMTALLY_ADMIN_TOKEN": "from-the-environment-123"}
    assert admin_token(None, env) == "from-the-environment-123"
    assert admin_token("from-the-option-12345678", env) == "from-the-option-12345678"
    assert admin_token(None, {}) is None
    with pytest.raises(ValueError, match="at least 16 characters"):
        admin_token("short", {})
