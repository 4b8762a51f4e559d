"""The dashboard's pages through ASGI: bad input is a 400/404 page that says why
(never a 500), an empty ledger shows how to start, output is escaped, and the
static files (Plotly.js from the plotly wheel) are served for caching."""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from browser_support import NOW, TRACE, Seeded, dashboard, fetch, seed
from llmtally.ledger import Store, open_store
from llmtally.web import Dashboard
from llmtally.web.static import plotly_js
from test_ledger_support import full_call, simple_call


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Dashboard, Seeded]]:
    folder = tmp_path_factory.mktemp("pages")
    with open_store(f"sqlite:///{folder / 'ledger.sqlite3'}") as store:
        found = seed(store)
        web = dashboard(store)
        yield web, found
        web.close()


@pytest.fixture
def empty(tmp_path: Path) -> Iterator[Dashboard]:
    with open_store(f"sqlite:///{tmp_path / 'ledger.sqlite3'}") as store:
        web = dashboard(store)
        yield web
        web.close()


def message(body: str) -> str:
    found = re.search(r'id="error-message">(.*?)</p>', body, re.S)
    assert found, body[:500]
    return html.unescape(found.group(1))


BAD = [
    ("/calls?since=banana", "since: 'banana' is neither a duration (30m, 6h, 7d) nor a date"),
    ("/calls?since=1h&until=2h", "must be before until"),
    ("/calls?since=2026-11-02&until=2026-11-01", "must be before until"),
    ("/calls?status=abc", "status: 'abc' is not a status; use ok, error or an HTTP code"),
    ("/calls?status=999", "is not a status"),
    ("/calls?modle=gpt-4o", "unknown parameter 'modle'"),
    ("/calls?model=a&model=b", "model: given more than once"),
    ("/calls?before=yesterday", "before: 'yesterday' is not a page position"),
    ("/calls?before=2026-11-01T00:00:00~", "is not a page position"),
    ("/calls?since=99999999999d", "is neither a duration"),
    ("/calls?since=0001-01-01T00:00%2B01:00", "out of range"),
    ("/calls?model=a%00b", "model: contains control characters"),
    ("/calls?user=" + "x" * 600, "user: longer than 500 characters"),
    ("/calls/abc%00def", "call id: contains control characters"),
    ("/models?q=%01", "q: contains control characters"),
    ("/models?x=1", "unknown parameter 'x'"),
    ("/?since=1d", "unknown parameter 'since'"),
]


@pytest.mark.parametrize(("path", "expected"), BAD)
def test_bad_input_is_a_400_page_that_says_why(
    seeded: tuple[Dashboard, Seeded], path: str, expected: str
) -> None:
    response = fetch(seeded[0], path)
    assert response.status_code == 400, response.text[:300]
    assert response.headers["content-type"].startswith("text/html")
    assert expected in message(response.text)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/calls/01NOSUCHCALL", "No call with id '01NOSUCHCALL' in the ledger."),
        ("/traces/no-such-trace", "No call in the ledger belongs to trace 'no-such-trace'."),
        ("/nothing/here", "There is no page at /nothing/here."),
        ("/static/nope.js", "There is no file 'nope.js'."),
        ("/static/..%2Fapp.py", "There is no file '../app.py'."),
    ],
)
def test_unknown_things_are_a_404_page(
    seeded: tuple[Dashboard, Seeded], path: str, expected: str
) -> None:
    response = fetch(seeded[0], path)
    assert response.status_code == 404
    assert expected in message(response.text)


def test_pages_are_read_only(seeded: tuple[Dashboard, Seeded]) -> None:
    response = fetch(seeded[0], "/calls", method="POST", data={"x": "1"})
    assert response.status_code == 405
    assert "not allowed" in message(response.text)


def test_every_page_answers_with_security_headers(seeded: tuple[Dashboard, Seeded]) -> None:
    web, found = seeded
    for path in ("/", "/calls", f"/calls/{found.root.id}", f"/traces/{TRACE}", "/models"):
        response = fetch(web, path)
        assert response.status_code == 200, path
        assert "script-src 'self'" in response.headers["content-security-policy"]
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cache-control"] == "no-store"
        assert "<script>" not in response.text  # no inline script: the CSP would block it
    head = fetch(web, "/calls", method="HEAD")
    assert head.status_code == 200 and head.content == b""


def test_trailing_slash_redirects(seeded: tuple[Dashboard, Seeded]) -> None:
    response = fetch(seeded[0], "/calls/")
    assert response.status_code == 303 and response.headers["location"] == "/calls"


@pytest.mark.parametrize("path", ["/", "/calls", "/calls?model=x&since=1h"])
def test_an_empty_ledger_says_how_to_start(empty: Dashboard, path: str) -> None:
    response = fetch(empty, path)
    assert response.status_code == 200
    assert 'id="empty-state"' in response.text
    assert "No calls recorded yet" in response.text
    assert "http://127.0.0.1:4000/v1" in response.text


def test_filters_that_match_nothing_say_so(seeded: tuple[Dashboard, Seeded]) -> None:
    response = fetch(seeded[0], "/calls?model=no-such-model")
    assert response.status_code == 200
    assert 'id="no-match"' in response.text and 'id="total-calls" href="#calls">0<' in response.text
    assert "since=all" in response.text  # a way out of the default 7-day window


def test_a_model_search_that_matches_nothing_is_a_message(
    seeded: tuple[Dashboard, Seeded],
) -> None:
    response = fetch(seeded[0], "/models?q=zzqqxx-no-model")
    assert response.status_code == 200
    assert "unknown model 'zzqqxx-no-model'" in html.unescape(response.text)


def test_attribution_is_escaped(tmp_path: Path) -> None:
    hostile = "<script>alert(1)</script>"
    with open_store(f"sqlite:///{tmp_path / 'ledger.sqlite3'}") as store:
        call = full_call(started_at=NOW - dt.timedelta(hours=1), user=hostile, feature=hostile)
        store.insert_many([call])
        web = dashboard(store)
        try:
            for path in ("/calls", f"/calls/{call.id}"):
                body = fetch(web, path).text
                assert hostile not in body and "&lt;script&gt;alert(1)&lt;/script&gt;" in body
        finally:
            web.close()


@pytest.fixture
def store_down(tmp_path: Path) -> Iterator[Dashboard]:
    store = open_store(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    store.close()
    (tmp_path / "ledger.sqlite3").unlink()
    (tmp_path / "ledger.sqlite3").mkdir()  # the file is now a folder: every query fails
    web = dashboard(Store(store.engine))
    yield web
    web.close()


def test_a_database_failure_is_a_503_page(
    store_down: Dashboard, caplog: pytest.LogCaptureFixture
) -> None:
    response = fetch(store_down, "/calls")
    assert response.status_code == 503
    assert "The ledger database is not answering" in message(response.text)
    assert "the ledger database failed" in caplog.text


def test_a_page_that_fails_is_a_500_page_and_a_log_line(
    seeded: tuple[Dashboard, Seeded],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr("llmtally.web.pages.call_page", broken)
    response = fetch(seeded[0], "/calls")
    assert response.status_code == 500
    assert "This page failed" in message(response.text) and "a bug" not in response.text
    assert "GET /calls failed" in caplog.text and "a bug" in caplog.text


def test_plotly_comes_from_the_wheel_with_a_long_cache(seeded: tuple[Dashboard, Seeded]) -> None:
    web = seeded[0]
    page = fetch(web, "/calls").text
    url = re.search(r'src="(/static/plotly\.min\.js\?v=[0-9a-f]+)"', page)
    assert url, "the explorer loads plotly.min.js from this server"
    plain = fetch(web, url.group(1), headers={"accept-encoding": "identity"})
    assert plain.status_code == 200 and plain.content == plotly_js().read_bytes()
    assert plain.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert plain.headers["content-type"].startswith("text/javascript")
    zipped = fetch(web, url.group(1), headers={"accept-encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.content == plain.content  # httpx decoded it
    assert int(zipped.headers["content-length"]) < len(plain.content) // 2
    stale = fetch(web, "/static/plotly.min.js?v=old")
    assert stale.headers["cache-control"] == "no-cache"
    assert "cdn" not in page.lower()


def test_a_model_with_only_unpriced_calls_is_never_zero_dollars(tmp_path: Path) -> None:
    failed = simple_call(
        started_at=NOW - dt.timedelta(hours=1),
        model_requested="gpt-9-typo",
        model_served=None,
        status=502,
        cost_error="no usage reported (HTTP 502)",
    )
    with open_store(f"sqlite:///{tmp_path / 'ledger.sqlite3'}") as store:
        store.insert_many([failed])
        web = dashboard(store)
        try:
            body = fetch(web, "/").text
        finally:
            web.close()
    for table_id in ("top-models", "models-latency"):
        table = body[body.index(f'id="{table_id}"') :]
        start = table.index("gpt-9-typo")
        row = table[start : table.index("</tr>", start)]
        assert "unpriced" in row and "$0" not in row, table_id


def test_a_model_named_with_its_provider_is_shown_once(tmp_path: Path) -> None:
    refused = simple_call(
        started_at=NOW - dt.timedelta(hours=1),
        provider="local",
        model_requested="local/smollm2",
        model_served=None,
        status=502,
    )
    with open_store(f"sqlite:///{tmp_path / 'ledger.sqlite3'}") as store:
        store.insert_many([refused])
        web = dashboard(store)
        try:
            pages = [fetch(web, path).text for path in ("/", "/calls", f"/calls/{refused.id}")]
        finally:
            web.close()
    for page in pages:
        assert "local / smollm2" in page and "local / local/" not in page
