"""A dashboard page shown in another currency than USD keeps it on its links to the
other pages that take ``?currency=`` (overview, explorer, a call, a trace, budgets):
the nav, the call and trace links. The Models page shows each price as its provider
bills it, so it takes no currency and says why (a new user's trial found every
click dropping back to USD, and /models?currency=CNY a bare 400)."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from browser_support import TRACE, dashboard, fetch, seed
from llmtally.ledger import open_store

HREF = re.compile(r'href="([^"]+)"')


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> object:
    folder: Path = tmp_path_factory.mktemp("links")
    store = open_store(f"sqlite:///{folder / 'ledger.sqlite3'}")
    seeded = seed(store)
    web = dashboard(store)
    web.seeded = seeded  # type: ignore[attr-defined]
    return web


def _hrefs(web: object, path: str) -> list[str]:
    answer = fetch(web, path)
    assert answer.status_code == 200, answer.text
    return [html.unescape(h) for h in HREF.findall(answer.text)]


def _nav(hrefs: list[str]) -> dict[str, str]:
    """The nav's links: the first link to each page (the nav comes first)."""
    wanted = ("/", "/calls", "/models", "/lab", "/alerts", "/budgets", "/reconcile", "/advice")
    nav: dict[str, str] = {}
    for href in hrefs:
        path = href.partition("?")[0]
        if path in wanted:
            nav.setdefault(path, href)
    return nav


def test_the_nav_keeps_the_currency_on_spend_pages_only(web: object) -> None:
    nav = _nav(_hrefs(web, "/?currency=CNY"))
    assert nav["/"] == "/?currency=CNY"
    assert nav["/calls"] == "/calls?currency=CNY"
    assert nav["/budgets"] == "/budgets?currency=CNY"
    assert nav["/models"] == "/models" and nav["/lab"] == "/lab"
    # shown in USD: the links are as they always were
    plain = _nav(_hrefs(web, "/"))
    assert plain["/calls"] == "/calls" and plain["/"] == "/"


def test_call_and_trace_links_keep_it(web: object) -> None:
    seeded = web.seeded  # type: ignore[attr-defined]
    overview = _hrefs(web, "/?currency=EUR")
    calls = [h for h in overview if h.startswith("/calls/")]
    assert calls and all(h.endswith("?currency=EUR") for h in calls)
    explorer = _hrefs(web, "/calls?currency=CNY")
    rows = [h for h in explorer if h.startswith(("/calls/", "/traces/"))]
    assert rows and all(h.endswith("?currency=CNY") for h in rows)
    child = _hrefs(web, f"/calls/{seeded.child.id}?currency=CNY")
    assert f"/traces/{TRACE}?currency=CNY" in child
    assert f"/calls/{seeded.root.id}?currency=CNY" in child  # its parent
    trace = _hrefs(web, f"/traces/{TRACE}?currency=CNY")
    assert f"/calls/{seeded.grandchild.id}?currency=CNY" in trace
    # drill-downs built with a query keep theirs and add the currency once
    drills = [h for h in overview if h.startswith("/calls?")]
    assert drills and all(h.count("currency=EUR") == 1 for h in drills)


def test_the_models_page_says_why_it_takes_no_currency(web: object) -> None:
    answer = fetch(web, "/models?currency=CNY")
    assert answer.status_code == 400
    assert "each price in the currency its provider bills, not converted" in answer.text
    assert fetch(web, "/models?q=qwen").status_code == 200
