"""The dashboard inside the gateway: API paths stay the gateway's (an unknown
``/v1`` path is still the JSON 404 SDKs expect), every other path is a page;
``llmtally serve`` refuses a public address without an admin token, and with
one the pages ask for it."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from browser_support import GATEWAY_CONFIG, dashboard, fetch, gateway_with
from gateway_support import LLMTALLY, ListRecorder, free_port, wait_up
from llmtally.catalog import Catalog
from llmtally.cli import app
from llmtally.gateway.app import Gateway, is_api_path
from llmtally.gateway.config import GatewayConfig
from llmtally.gateway.serve import check_admin_token
from llmtally.ledger import open_store
from llmtally.ledger.keys import KeyStore

TOKEN = "admin-token-for-the-tests-0123"


@pytest.fixture
def gateway(tmp_path: Path) -> Gateway:
    store = open_store(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    return gateway_with(dashboard(store))


@pytest.mark.parametrize(
    "path", ["/v1", "/v1/nope", "/v1/chat/completion", "/v1beta/models/x:nothing"]
)
def test_unknown_api_paths_are_still_json_404s(gateway: Gateway, path: str) -> None:
    response = fetch(gateway, path)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert "no such endpoint" in response.json()["error"]["message"]


def test_other_paths_are_the_dashboard(gateway: Gateway) -> None:
    for path in ("/", "/calls", "/models"):
        response = fetch(gateway, path)
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith("text/html")
    assert fetch(gateway, "/nope").status_code == 404
    models = fetch(gateway, "/v1/models")
    assert models.status_code == 200 and models.json()["object"] == "list"
    bad = fetch(
        gateway,
        "/v1/chat/completions",
        method="POST",
        content=b"{",
        headers={"content-type": "application/json"},
    )
    assert bad.status_code == 400 and "malformed JSON" in bad.json()["error"]["message"]


def test_without_a_dashboard_every_other_path_is_a_json_404() -> None:
    plain = Gateway(GatewayConfig.model_validate(GATEWAY_CONFIG), ListRecorder(), Catalog.load())
    response = fetch(plain, "/calls")
    assert response.status_code == 404 and response.headers["content-type"] == "application/json"


def test_api_paths() -> None:
    assert all(is_api_path(p) for p in ("/v1", "/v1/x", "/v1beta/models/m:y", "/metrics"))
    assert not any(is_api_path(p) for p in ("/", "/calls", "/v1x", "/metrics/x", "/static/a"))


def test_serve_refuses_a_public_address_without_an_admin_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LLMTALLY_ADMIN_TOKEN", raising=False)
    database = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    with open_store(database) as store:
        KeyStore(store).create("ci")  # the gateway's own check passes
    runner = CliRunner()
    args = ["serve", "--host", "0.0.0.0", "--database-url", database]
    refused = runner.invoke(app, args, env={"LLMTALLY_HOME": str(tmp_path)})
    assert refused.exit_code == 2
    assert "the dashboard needs an admin token on a non-loopback address" in refused.stderr
    short = runner.invoke(app, [*args, "--admin-token", "abc"], env={"LLMTALLY_HOME": "x"})
    assert short.exit_code == 2 and "at least 16 characters" in short.stderr
    check_admin_token("127.0.0.1", None)  # loopback: no token needed
    check_admin_token("::1", None)
    with pytest.raises(ValueError, match="admin token"):
        check_admin_token("192.168.1.10", None)


def test_serve_on_a_public_address_asks_for_the_admin_token(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    with open_store(database) as store:
        KeyStore(store).create("ci")
    config = tmp_path / "llmtally.yaml"
    config.write_text(
        "upstreams:\n  openai: {kind: openai, base_url: 'http://127.0.0.1:9'}\n"
        "routes:\n  - {match: '*', upstream: openai}\n"
    )
    port = free_port()
    process = subprocess.Popen(
        [LLMTALLY, "serve", "--host", "0.0.0.0", "--port", str(port), "--config", str(config)]
        + ["--database-url", database],
        env={**os.environ, "LLMTALLY_HOME": str(tmp_path / "home"), "LLMTALLY_ADMIN_TOKEN": TOKEN},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_up(url, process)
        with httpx.Client(base_url=url, timeout=10) as http:
            assert http.get("/calls").status_code == 303
            assert http.get("/calls", headers={"authorization": "Bearer wrong"}).status_code == 401
            allowed = http.get("/calls", headers={"authorization": f"Bearer {TOKEN}"})
            assert allowed.status_code == 200 and "Explorer" in allowed.text
            logged_in = http.post("/login", data={"token": TOKEN, "next": "/models"})
            assert logged_in.status_code == 303
            assert http.get("/models").status_code == 200  # the client kept the cookie
            missing = http.get("/v1/nope")
            assert missing.status_code == 404 and "error" in missing.json()
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err.decode()
    assert "dashboard:" in out.decode() and "asks for the admin token" in out.decode()


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 100_000 + b"]" * 100_000,  # deeper than Python's parser goes
        b'{"model": "gpt-4o", "messages": ' + b"[" * 65 + b"]" * 65 + b"}",
        b'{"model": "gpt-4o", "x": ' + b'{"a": ' * 70 + b"1" + b"}" * 70 + b"}",
    ],
)
def test_deeply_nested_json_is_a_json_400(gateway: Gateway, raw: bytes) -> None:
    response = fetch(
        gateway,
        "/v1/chat/completions",
        method="POST",
        content=raw,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "the JSON body nests deeper than 64 levels"
