"""No web page can spend through the gateway: the Host allow-list (DNS
rebinding), the Origin check and JSON-only bodies, down to a real page on
another local origin in headless chromium."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from browser_support import browser, dashboard, fetch, gateway_with  # noqa: F401
from gateway_support import ListRecorder, live_gateway, openai_and_claude
from llmtally.gateway.guard import LOOPBACK_NAMES, BrowserGuard
from llmtally.ledger import open_store
from replay_upstream import ReplayUpstream

LOCAL = {"host": "127.0.0.1:4000"}


@pytest.mark.parametrize("host", ["127.0.0.1:4000", "localhost:4000", "[::1]:4000", "LOCALHOST"])
def test_loopback_names_are_answered(host: str) -> None:
    assert BrowserGuard(LOOPBACK_NAMES).refuse({"host": host}) is None


@pytest.mark.parametrize("host", ["evil.example:4000", "127.0.0.1.evil.example", "", "[::2]"])
def test_other_hosts_are_refused_on_loopback(host: str) -> None:
    refusal = BrowserGuard(LOOPBACK_NAMES).refuse({"host": host})
    assert refusal is not None and refusal.status == 421


def test_origins_other_than_the_gateways_own_are_refused() -> None:
    guard = BrowserGuard(LOOPBACK_NAMES, ["https://app.example"])
    assert guard.refuse({**LOCAL, "origin": "http://127.0.0.1:4000"}) is None  # its own pages
    assert guard.refuse({**LOCAL, "origin": "https://app.example/"}) is None  # allowed
    for origin in ("http://127.0.0.1:4001", "http://evil.example", "null"):
        refusal = guard.refuse({**LOCAL, "origin": origin})
        assert refusal is not None and refusal.status == 403, origin


def test_off_loopback_any_host_is_answered_unless_listed() -> None:
    assert BrowserGuard.for_listener("0.0.0.0", None, ()).refuse({"host": "llm.corp"}) is None
    listed = BrowserGuard.for_listener("0.0.0.0", ["llm.corp"], ())
    assert listed.refuse({"host": "llm.corp:443"}) is None
    assert listed.refuse({"host": "other.corp"}) is not None
    assert BrowserGuard.for_listener("127.0.0.1", None, ()).refuse({"host": "llm.corp"})


def test_refusals_are_json_on_api_paths_and_text_on_the_dashboard(tmp_path: Path) -> None:
    gateway = gateway_with(dashboard(open_store(f"sqlite:///{tmp_path / 'l.sqlite3'}")))
    body = {"model": "gpt-4o", "messages": []}
    rebound = fetch(gateway, "/v1/chat/completions", "POST", json=body,
                    headers={"host": "evil.example:4000"})  # fmt: skip
    assert rebound.status_code == 421 and "evil.example" in rebound.json()["error"]["message"]
    page = fetch(gateway, "/", headers={"host": "evil.example:4000"})
    assert page.status_code == 421 and page.headers["content-type"].startswith("text/plain")
    foreign = fetch(gateway, "/v1/messages", "POST", json=body,
                    headers={"origin": "http://evil.example"})  # fmt: skip
    assert foreign.status_code == 403 and foreign.json()["type"] == "error"  # Anthropic's shape
    plain = fetch(gateway, "/v1/chat/completions", "POST", content=b"{}",
                  headers={"content-type": "text/plain"})  # fmt: skip
    assert plain.status_code == 415 and "application/json" in plain.json()["error"]["message"]
    form = fetch(gateway, "/v1/chat/completions", "POST", data={"model": "gpt-4o"})
    assert form.status_code == 415


ATTACK = """<!doctype html><title>cat pictures</title><script>
const target = "%s/v1/chat/completions";
const body = JSON.stringify({model: "gpt-4o", messages: [{role: "user", content: "spend"}]});
Promise.allSettled([
  fetch(target, {method: "POST", mode: "no-cors", headers: {"content-type": "text/plain"}, body}),
  fetch(target, {method: "POST", mode: "no-cors", body}),
  fetch(target, {method: "POST", headers: {"content-type": "application/json"}, body}),
  fetch(target, {method: "POST", mode: "no-cors",
                 headers: {"content-type": "application/x-www-form-urlencoded"}, body}),
]).then(() => { document.title = "done"; });
</script>"""


@pytest.fixture
def attacker() -> Iterator[tuple[str, ReplayUpstream, ListRecorder]]:
    """A gateway (over the replay upstream) and a page on another local origin
    that tries to make it spend."""
    with ReplayUpstream() as upstream, live_gateway(openai_and_claude(upstream.url)) as (url, rec):
        page = (ATTACK % url).encode()

        class Page(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                self.send_response(200)
                self.send_header("content-type", "text/html")
                self.send_header("content-length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, format: str, *args: object) -> None:
                return

        server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}/", upstream, rec
        finally:
            server.shutdown()
            server.server_close()


def test_a_page_on_another_origin_cannot_make_the_gateway_spend(
    browser: Browser,  # noqa: F811
    attacker: tuple[str, ReplayUpstream, ListRecorder],
) -> None:
    page, upstream, recorder = attacker
    tab = browser.new_page()
    try:
        tab.goto(page)
        tab.wait_for_function("document.title === 'done'", timeout=15_000)
    finally:
        tab.close()
    time.sleep(0.3)  # the gateway records after answering: give a forwarded call time to land
    assert upstream.served == []  # nothing reached the provider
    assert recorder.calls == []  # nothing was spent or recorded
