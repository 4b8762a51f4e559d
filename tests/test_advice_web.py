"""The dashboard's Advice page (``/advice``, issue 15) on the planted synthetic
ledger (tests/advisor_synthetic.py): the hand-computed monthly savings of
tests/test_advisor.py read from the HTML, the traps listed as considered, links
to the calls behind each card, bad input a 400 in the page, the empty state, the
page only reads; and Debian's chromium (reached from the nav, no console error;
screenshots advice.png and advice-narrow.png in the run's screenshot folder).

Prices (built-in catalog, USD per 1M tokens): gpt-4o-mini 0.15 in / 0.60 out,
batch half; gpt-4o 2.50 / 10.00. A BIG gpt-4o-mini call (100,000 in, 10,000 out)
= 0.015 + 0.006 = $0.021; a SMALL gpt-4o call (10,000 in, 1,000 out) = $0.035.
The period is the 15 days 2026-11-01 to 2026-11-16, a month is twice that:

- reports, duplicates: 150 repeats x $0.021 = $3.15, x2 = $6.30
- faq, duplicates: 40 repeats x $0.035 = $1.40, x2 = $2.80
- nightly, batch: 100 x ($0.021 - $0.0105) = $1.05, x2 = $2.10
- reports, batch after the duplicates: 50 x $0.0105 = $0.525, x2 = $1.05
- total 6.30 + 2.80 + 2.10 + 1.05 = $12.25
- tiny, batch: (1,000 x 0.075 + 100 x 0.30) / 1M = $0.000105, x2 = $0.00021 < $1
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from advisor_synthetic import planted
from browser_support import (  # noqa: F401 (browser, screenshots: fixtures)
    Watched,
    browser,
    fetch,
    gateway_with,
    screenshots,
    served,
)
from llmtally.catalog import Catalog
from llmtally.ledger import Store, open_store
from llmtally.web import Dashboard

NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
CATALOG = Catalog.load()
PERIOD = "/advice?since=2026-11-01&until=2026-11-16"


def _web(ledger: Store) -> Dashboard:
    return Dashboard(ledger, CATALOG, clock=lambda: NOW)


def _text(fragment: str) -> str:
    """An HTML fragment as it reads: tags dropped, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", fragment)).split())


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Store]:
    with open_store(f"sqlite:///{tmp_path / 'ledger.sqlite3'}") as opened:
        planted(CATALOG).store(opened)
        yield opened


def _get(ledger: Store, path: str, status: int = 200) -> str:
    web = _web(ledger)
    response = fetch(web, path)
    web.close()
    assert response.status_code == status, response.text
    return response.text


def _cards(page: str) -> list[tuple[str, str, str]]:
    """(kind, feature, the card's text) per recommendation, in page order."""
    card = r'<li class="rec [^"]*" data-kind="([^"]+)" data-feature="([^"]+)">(.*?)</li>'
    found = re.findall(card + r'\s*(?=<li class="rec|</ol>)', page, re.S)
    return [(kind, feature, body) for kind, feature, body in found]


def _saving(card: str) -> str:
    found = re.search(r'<span class="amount">(.*?)</span><small>', card, re.S)
    assert found is not None
    return found.group(1)


def test_the_planted_savings(ledger: Store) -> None:
    page = _get(ledger, PERIOD)
    cards = _cards(page)
    shown = [(kind, feature, _text(_saving(body))) for kind, feature, body in cards]
    assert shown == [
        ("duplicates", "reports", "$6.30"),
        ("duplicates", "faq", "$2.80"),
        ("batch", "nightly", "$2.10"),
        ("batch", "reports", "$1.05"),
    ]
    # the exact amount in the hover title
    assert _saving(cards[0][2]) == '<span class="money" title="$6.3">$6.30</span>'
    total = re.search(r'id="total-saving">(.*?)</span></span>', page, re.S)
    assert total is not None and _text(total.group(1)) == "$12.25"
    faq = _text(cards[1][2])
    assert "faq · openai / gpt-4o · 40 calls" in faq
    assert "medium confidence:" in faq
    assert "10 identical requests came after the window ended: not counted" in faq
    nightly = cards[2][2]
    assert "<pre>" in nightly and "client.batches.create" in nightly


def test_each_card_links_to_its_calls(ledger: Store) -> None:
    page = _get(ledger, PERIOD)
    nightly = _cards(page)[2][2]
    links = re.findall(r'class="calls-link" href="([^"]+)"', nightly)
    assert [html.unescape(h) for h in links] == [
        "/calls?feature=nightly&model=gpt-4o-mini"
        "&since=2026-11-01T00%3A00%3A00%2B00%3A00&until=2026-11-16T00%3A00%3A00%2B00%3A00"
    ]
    ids = re.findall(r'class="call-id" href="/calls/([^"]+)"', nightly)
    assert len(ids) == 10 and all(i.startswith("nightly-") for i in ids)
    web = _web(ledger)
    listed = fetch(web, html.unescape(links[0]))
    one = fetch(web, f"/calls/{ids[0]}")
    web.close()
    assert listed.status_code == 200 and one.status_code == 200
    features = set(re.findall(r'class="call-link" href="/calls/([a-z]+)-', listed.text))
    assert features == {"nightly"}


def test_the_traps_are_considered(ledger: Store) -> None:
    page = _get(ledger, PERIOD)
    items = re.findall(r'<li data-kind="([^"]+)" data-feature="([^"]+)">(.*?)</li>', page, re.S)
    considered = {(kind, feature): _text(body) for kind, feature, body in items}
    assert considered[("batch", "chat")] == (
        "batch · chat · openai / gpt-4o-mini: "
        "all 100 calls stream: someone is waiting for the answer"
    )
    assert "below the floor of $1.00" in considered[("batch", "tiny")]
    assert ("batch", "chat") not in {(k, f) for k, f, _ in _cards(page)}


def test_a_higher_floor_leaves_one_out(ledger: Store) -> None:
    page = _get(ledger, PERIOD + "&floor=1.10")
    assert [f for _, f, _ in _cards(page)] == ["reports", "faq", "nightly"]
    total = re.search(r'id="total-saving">(.*?)</span></span>', page, re.S)
    assert total is not None and _text(total.group(1)) == "$11.20"  # 12.25 - 1.05
    assert 'value="1.10"' in page


def test_nothing_above_the_floor(ledger: Store) -> None:
    page = _get(ledger, PERIOD + "&floor=1000")
    assert 'id="no-advice"' in page and "Nothing above the floor" in page
    assert 'id="recommendations"' not in page
    assert "all 100 calls stream" in page  # what was looked at is still listed


def test_an_empty_ledger(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'empty.sqlite3'}") as opened:
        page = _get(opened, "/advice")
    assert 'id="no-advice"' in page and 'id="none-considered"' in page
    total = re.search(r'id="total-saving">(.*?)</span></span>', page, re.S)
    assert total is not None and _text(total.group(1)) == "$0"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("since=banana", "since: 'banana' is neither a duration (30m, 6h, 7d) nor a date"),
        ("since=2026-11-05&until=2026-11-02", "until (2026-11-02 00:00) must be after since"),
        ("floor=lots", "floor: 'lots' is not an amount in USD"),
        ("floor=-1", "floor: '-1' must be a USD amount of 0 or more"),
        ("floor=NaN", "floor: 'NaN' must be a USD amount of 0 or more"),
        ("since=2000-01-01", "days; this page advises on at most 366 at a time"),
        ("since=99999999999d", "since: '99999999999d' is neither a duration"),
        ("until=%00", "until: contains control characters"),
        ("since=" + "1" * 600, "since: longer than 500 characters"),
        ("by=model", "unknown parameter by; this page takes: since, until, floor"),
        ("since=7d&since=30d", "since: given more than once"),
    ],
)
def test_bad_parameters_are_a_400_in_the_page(tmp_path: Path, query: str, message: str) -> None:
    with open_store(f"sqlite:///{tmp_path / 'ledger.sqlite3'}") as opened:
        page = _get(opened, f"/advice?{query}", status=400)
    assert message in html.unescape(page)
    assert "Traceback" not in page
    if "more than once" not in message:  # that one is refused before the page
        assert 'id="advice-error"' in page and 'id="filters"' in page


def test_the_page_only_reads(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    with open_store(f"sqlite:///{path}") as opened:
        planted(CATALOG).store(opened)
        before = hashlib.sha256(path.read_bytes()).hexdigest()
        web = _web(opened)
        assert fetch(web, PERIOD).status_code == 200
        assert fetch(web, "/advice?floor=x").status_code == 400
        refused = fetch(web, "/advice", method="POST", data={"floor": "0"})
        web.close()
        assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert refused.status_code == 405


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    path = tmp_path_factory.mktemp("adviceweb") / "ledger.sqlite3"
    with open_store(f"sqlite:///{path}") as opened:
        planted(CATALOG).store(opened)
        web = _web(opened)
        yield web
        web.close()


def test_the_advice_page_in_chromium(
    browser: Browser,  # noqa: F811
    site: Dashboard,
    screenshots: Path,  # noqa: F811
) -> None:
    with served(gateway_with(site)) as url:
        context = browser.new_context(viewport={"width": 1280, "height": 700})
        tab = Watched(context.new_page(), url, screenshots)
        page = tab.via_nav("/reconcile", "Advice", "/advice")
        page = tab.open(PERIOD)
        assert page.locator("#total-saving").inner_text() == "$12.25"
        first = page.locator("li.rec").first
        assert first.locator(".amount").inner_text() == "$6.30"
        assert first.locator(".amount .money").get_attribute("title") == "$6.3"
        assert first.locator("pre").is_visible()
        tab.screenshot("advice", max_bytes=400_000)
        page.locator("li.rec").nth(2).locator("a.call-id").first.click()
        page.wait_for_load_state("networkidle")
        assert re.search(r"/calls/nightly-\d{4}$", page.url)
        tab.check()
        context.close()


def test_the_advice_page_on_a_narrow_screen(
    browser: Browser,  # noqa: F811
    site: Dashboard,
    screenshots: Path,  # noqa: F811
) -> None:
    with served(gateway_with(site)) as url:
        context = browser.new_context(viewport={"width": 390, "height": 800})
        tab = Watched(context.new_page(), url, screenshots)
        page = tab.open(PERIOD)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nav included
        for selector in ("#headline", "#recommendations", "#considered", "li.rec pre"):
            box = page.locator(selector).first.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, selector
        tab.screenshot("advice-narrow", max_bytes=400_000)
        tab.check()
        context.close()
