"""The Advice page's "Realised savings" section (issue 15) on the ledger of
tests/test_advisor_realised.py (a model switch and a move to batch detected, a
trimmed prompt marked), in the HTML and in Debian's chromium at 1280 and 390 px
(screenshots advice-realised.png and advice-realised-narrow.png in the run's
screenshot folder).

Hand-computed in tests/test_advisor_realised.py, a month being 30 days of the
time since each change:
- summarise, gpt-4o -> gpt-4o-mini from Nov 6 (detected): 150 x $0.0329 = $4.935
  in 10 days, $14.805 a month ($14.81 shown); per call $0.035 -> $0.0021.
- nightly, standard -> batch from Nov 8 (detected): 80 x $0.0105 = $0.84 in 8
  days, $3.15 a month.
- support, trim_prompt marked at Nov 9 12:00: 26 x $0.0018 = $0.0468 in 6.5 days,
  $0.216 a month ($0.22 shown).
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from browser_support import (  # noqa: F401 (browser, screenshots: fixtures)
    Watched,
    browser,
    fetch,
    gateway_with,
    screenshots,
    served,
)
from llmtally.advisor.applied import mark_applied
from llmtally.catalog import Catalog
from llmtally.ledger import Store, open_store
from llmtally.web import Dashboard
from test_advisor_realised import TRIMMED_AT, applied_ledger

NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
CATALOG = Catalog.load()
PERIOD = "/advice?since=2026-11-01&until=2026-11-16"


def _web(ledger: Store) -> Dashboard:
    return Dashboard(ledger, CATALOG, clock=lambda: NOW)


def _text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", fragment)).split())


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Store]:
    with open_store(f"sqlite:///{tmp_path / 'ledger.sqlite3'}") as opened:
        applied_ledger().store(opened)
        mark_applied(opened, "trim_prompt", "support", TRIMMED_AT, note="v2 prompt")
        yield opened


def _realised(page: str) -> dict[str, str]:
    """feature -> the realised card's text, in page order."""
    card = r'<li class="rec realised-item[^"]*"[^>]*data-feature="([^"]+)"[^>]*>(.*?)</li>'
    return {feature: _text(body) for feature, body in re.findall(card, page, re.S)}


def test_the_realised_section_in_the_html(ledger: Store) -> None:
    web = _web(ledger)
    response = fetch(web, PERIOD)
    web.close()
    assert response.status_code == 200, response.text
    cards = _realised(response.text)
    assert list(cards) == ["summarise", "nightly", "support"]  # the most saving first
    x = cards["summarise"]
    assert x.startswith("right_size detected $14.81/month")
    assert "openai/gpt-4o → openai/gpt-4o-mini" in x and "applied 2026-11-06 00:00:00 UTC" in x
    assert "$0.035 before (150 calls) → $0.0021 after (150 calls); $4.94 saved" in x
    assert cards["nightly"].startswith("batch detected $3.15/month")
    z = cards["support"]
    assert z.startswith("trim_prompt marked $0.22/month") and "note: v2 prompt" in z
    assert "$0.0036 before (26 calls) → $0.0018 after (26 calls)" in z
    # the exact amounts on hover
    assert 'title="$14.805">$14.81</span>' in response.text
    assert 'title="$0.216">$0.22</span>' in response.text


def test_no_change_says_so(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'empty.sqlite3'}") as opened:
        web = _web(opened)
        page = fetch(web, PERIOD).text
        web.close()
    assert 'id="none-realised"' in page and "realised-item" not in page


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    path = tmp_path_factory.mktemp("realisedweb") / "ledger.sqlite3"
    with open_store(f"sqlite:///{path}") as opened:
        applied_ledger().store(opened)
        mark_applied(opened, "trim_prompt", "support", TRIMMED_AT, note="v2 prompt")
        web = _web(opened)
        yield web
        web.close()


def test_realised_savings_in_chromium(
    browser: Browser,  # noqa: F811
    site: Dashboard,
    screenshots: Path,  # noqa: F811
) -> None:
    with served(gateway_with(site)) as url:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        tab = Watched(context.new_page(), url, screenshots)
        page = tab.open(PERIOD)
        cards = page.locator("#realised li.realised-item")
        assert cards.count() == 3
        first = cards.first
        assert first.get_attribute("data-how-known") == "detected"
        assert first.locator(".amount").inner_text() == "$14.81"
        assert first.locator(".amount .money").get_attribute("title") == "$14.805"
        assert first.locator(".before .money").get_attribute("title") == "$0.035"
        assert first.locator(".after .money").get_attribute("title") == "$0.0021"
        assert cards.nth(2).get_attribute("data-how-known") == "marked"
        page.locator("#realised").scroll_into_view_if_needed()
        tab.screenshot("advice-realised", max_bytes=400_000)
        tab.check()
        context.close()


def test_realised_savings_on_a_narrow_screen(
    browser: Browser,  # noqa: F811
    site: Dashboard,
    screenshots: Path,  # noqa: F811
) -> None:
    with served(gateway_with(site)) as url:
        context = browser.new_context(viewport={"width": 390, "height": 800})
        tab = Watched(context.new_page(), url, screenshots)
        page = tab.open(PERIOD)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        for n in range(3):
            box = page.locator("#realised li.realised-item").nth(n).bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, n
        tab.screenshot("advice-realised-narrow", max_bytes=400_000)
        tab.check()
        context.close()
