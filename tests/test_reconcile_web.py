"""The dashboard's Reconcile page (``/reconcile``, issue 14): a known ledger beside
synthetic provider reports (tests/reconcile_synthetic.py, the documented
shapes), the figures read from the HTML, links to the calls behind each
explanation, bad input a 400 in the page, the page only reads; and Debian's
chromium (the chart drawn, no console error; screenshots reconcile.png and
reconcile-narrow.png in the run's screenshot folder).

Prices (the built-in catalog, USD per 1M tokens): openai/gpt-4o-mini input
0.15, cached input 0.075, output 0.60; anthropic/claude-sonnet-4-5 input 3.00,
cache read 0.30, 5m write 3.75, 1h write 6.00, output 15.00.

The ledger and the reports, worked out by hand:

- 2026-11-03 openai: o1 $0.195 (served as gpt-4o-mini-2024-07-18), o2 $0.42,
  f1 failed (500) $0.015 = ledger $0.63. The provider saw o1, o2 and 400,000 in
  + 50,000 out on key_bypass (project proj_side): 0.06 + 0.03 = $0.09, and
  billed 0.195 + 0.42 + 0.09 = $0.705. Difference 0.63 - 0.705 = -$0.075 =
  not billed +0.015 (f1) + unrecorded -0.09: nothing unexplained.
- 2026-11-04 anthropic: a1 $0.36825, a2 cut stream (499) $0.06 = $0.42825;
  billed $0.36825 (a1): +$0.06, all of it a2, not billed.
- 2026-11-05 openai: o3 $0.45, billed $0.45: clean.
- 2026-11-06 openai: nothing in the ledger; the provider reports 1,010 tokens
  of gpt-unheard-of (a model the catalog lacks, so not priced) on key_x and
  bills $0.50: -$0.50, unexplained.
- 2026-11-07 anthropic: a4 $0.09, usage but no cost report: left out.

Headline over the four billed rows: ledger 0.63 + 0.42825 + 0.45 + 0 = $1.50825;
billed 0.705 + 0.36825 + 0.45 + 0.50 = $2.02325; difference -$0.515;
-0.515 / 2.02325 x 100 = -25.45409... -> -25.454%. Unrecorded (priced) $0.09;
unexplained -$0.50.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

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
from llmtally.catalog import Catalog
from llmtally.ledger import Store, open_store
from llmtally.pricing import price_usage
from llmtally.reconcile.load import import_page
from llmtally.usage import Call, Usage
from llmtally.web import Dashboard
from reconcile_synthetic import (
    Seen,
    anthropic_cost_page,
    anthropic_usage_page,
    openai_costs_page,
    openai_usage_page,
    seen,
)
from test_ledger_support import db_url, pg_base_url, store  # noqa: F401

NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
CATALOG = Catalog.load()
PERIOD = "/reconcile?since=2026-11-01&until=2026-12-01"


def _call(call_id: str, day: int, provider: str, model: str, usage: Usage, **more: Any) -> Call:
    """A call priced as the ledger prices it (the catalog's price of the day)."""
    started = dt.datetime(2026, 11, day, 12, tzinfo=dt.UTC)
    priced = price_usage(usage, CATALOG, provider, more.get("model_served") or model, started)
    fields: dict[str, Any] = {
        "id": call_id,
        "started_at": started,
        "provider": provider,
        "model_requested": model,
        "model_served": None,
        "endpoint": "/v1/chat/completions" if provider == "openai" else "/v1/messages",
        "status": 200,
        "latency_ms": 100.0,
        "usage": usage,
        "cost": priced.cost,
        "cost_error": priced.reason,
    }
    return Call(**(fields | more))


MINI, SONNET = "gpt-4o-mini", "claude-sonnet-4-5"
O1 = _call("o1", 3, "openai", MINI,
           Usage(input_tokens=1_000_000, cache_read_tokens=200_000, output_tokens=100_000),
           model_served="gpt-4o-mini-2024-07-18")  # 0.12 + 0.015 + 0.06 = $0.195  # fmt: skip
O2 = _call("o2", 3, "openai", MINI, Usage(input_tokens=2_000_000, output_tokens=200_000))  # 0.42
F1 = _call("f1", 3, "openai", MINI, Usage(input_tokens=100_000), status=500)  # 0.015
O3 = _call("o3", 5, "openai", MINI, Usage(input_tokens=1_000_000, output_tokens=500_000))
# o3: 1,000,000 x 0.15 = 0.15; 500,000 x 0.60 = 0.30 -> $0.45
A1 = _call("a1", 4, "anthropic", SONNET,
           Usage(input_tokens=100_000, cache_read_tokens=40_000, cache_write_tokens=20_000,
                 cache_write_1h_tokens=5_000, output_tokens=10_000),
           model_served="claude-sonnet-4-5-20250929")  # fmt: skip
# a1: 40,000 x 3 = 0.12; 40,000 x 0.30 = 0.012; 15,000 x 3.75 = 0.05625; 5,000 x 6 = 0.03;
# 10,000 x 15 = 0.15 -> $0.36825
A2 = _call("a2", 4, "anthropic", SONNET,
           Usage(input_tokens=10_000, output_tokens=2_000, source="estimated"),
           status=499, flags=("client_disconnected",))  # 0.03 + 0.03 = $0.06  # fmt: skip
A4 = _call("a4", 7, "anthropic", SONNET, Usage(input_tokens=20_000, output_tokens=2_000))
# a4: 20,000 x 3 = 0.06; 2,000 x 15 = 0.03 -> $0.09
BYPASS = Seen(dt.date(2026, 11, 3), "gpt-4o-mini-2024-07-18", "key_bypass", "proj_side",
              input=400_000, output=50_000)  # fmt: skip
STRAY = Seen(dt.date(2026, 11, 6), "gpt-unheard-of", "key_x", None, input=1_000, output=10)


def seed_reconcile(ledger: Store) -> None:
    """The ledger and the providers' reports of the module docstring."""
    ledger.insert_many([O1, O2, F1, O3, A1, A2, A4])
    openai_seen = [*seen([O1, O2, O3], "key_gateway", "proj_main"), BYPASS, STRAY]
    billed = {
        dt.date(2026, 11, 3): Decimal("0.705"),
        dt.date(2026, 11, 5): Decimal("0.45"),
        dt.date(2026, 11, 6): Decimal("0.50"),
    }
    import_page(ledger, "openai", "usage:completions", openai_usage_page(openai_seen), "test")
    import_page(ledger, "openai", "costs", openai_costs_page(billed), "test")
    usage = anthropic_usage_page(seen([A1, A4], "apikey_gateway", "wrk_main"))
    import_page(ledger, "anthropic", "usage:messages", usage, "test")
    cost = anthropic_cost_page(
        {(dt.date(2026, 11, 4), "claude-sonnet-4-5-20250929"): Decimal("0.36825")}
    )
    import_page(ledger, "anthropic", "costs", cost, "test")


def _web(ledger: Store) -> Dashboard:
    return Dashboard(ledger, CATALOG, clock=lambda: NOW)


def _text(fragment: str) -> str:
    """An HTML fragment as it reads: tags dropped, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", fragment)).split())


def _by_id(page: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>(.*?)</(span|a)>', page, re.S)
    assert found is not None, element_id
    return _text(found.group(1))


def _day(page: str, day: str, provider: str) -> str:
    found = re.search(
        rf'<tbody class="day" data-day="{day}" data-provider="{provider}">(.*?)</tbody>', page, re.S
    )
    assert found is not None, (day, provider)
    return found.group(1)


def _cells(row: str) -> list[str]:
    return [_text(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]


def _rows(group: str, kind: str) -> list[list[str]]:
    return [_cells(r) for r in re.findall(rf'<tr class="{kind}"[^>]*>(.*?)</tr>', group, re.S)]


def _page(ledger: Store, path: str = PERIOD) -> str:
    web = _web(ledger)
    response = fetch(web, path)
    web.close()
    assert response.status_code == 200, response.text
    return response.text


def test_the_headline_and_the_table(store: Store) -> None:  # noqa: F811
    seed_reconcile(store)
    page = _page(store)
    assert _by_id(page, "error-percent") == "-25.454%"
    assert _by_id(page, "ledger-total") == "$1.51"
    assert 'id="ledger-total"><span class="money" title="$1.50825">' in page
    assert _by_id(page, "billed-total") == "$2.02"
    assert 'id="billed-total"><span class="money" title="$2.02325">' in page
    assert _by_id(page, "difference-total") == "-$0.52"  # -0.515 rounds away from zero
    assert _by_id(page, "unrecorded-total") == "$0.09"
    assert _by_id(page, "unexplained-total") == "-$0.50"
    assert "no cost report: 2026-11-07 anthropic" in _text(page)
    # day x provider rows: ledger, billed, difference, unexplained, explained by
    nov3 = _day(page, "2026-11-03", "openai")
    [day3] = _rows(nov3, "day-row")
    assert day3 == ["2026-11-03 openai", "$0.63", "$0.71", "-$0.08", "$0",
                    "not billed, unrecorded"]  # fmt: skip
    assert 'title="$0.705"' in nov3 and 'title="-$0.075"' in nov3
    # OpenAI's cost lines name no model: the model row has no billed figure
    [mini3] = _rows(nov3, "model-row")
    assert mini3[1:] == ["$0.63", "—", "—", "—", "not billed, unrecorded"]
    assert mini3[0].startswith("gpt-4o-mini calls:") and "1 failed" in mini3[0]
    nov4 = _day(page, "2026-11-04", "anthropic")
    assert _rows(nov4, "day-row")[0][1:5] == ["$0.43", "$0.37", "+$0.06", "$0"]
    # Anthropic's lines name the model: billed and difference per model too
    assert _rows(nov4, "model-row")[0][1:5] == ["$0.43", "$0.37", "+$0.06", "$0"]
    assert 'title="$0.42825"' in nov4 and 'title="$0.36825"' in nov4
    assert _rows(_day(page, "2026-11-05", "openai"), "day-row")[0][1:5] == [
        "$0.45", "$0.45", "$0", "$0"]  # fmt: skip
    # each row links the names the ledger's calls carry that day (o3 only on Nov 5)
    assert _rows(_day(page, "2026-11-05", "openai"), "model-row")[0][0] == (
        "gpt-4o-mini calls: gpt-4o-mini"
    )
    nov6 = _rows(_day(page, "2026-11-06", "openai"), "day-row")[0]
    assert nov6[1:6] == ["$0", "$0.50", "-$0.50", "-$0.50", "unrecorded"]
    nov7 = _rows(_day(page, "2026-11-07", "anthropic"), "day-row")[0]
    assert nov7[1:5] == ["$0.09", "no report", "—", "—"]


def _explanations(page: str) -> list[str]:
    return re.findall(r'<li class="explanation[^"]*" data-kind="[^"]+">(.*?)</li>', page, re.S)


def test_each_explanation_links_to_the_calls_behind_it(store: Store) -> None:  # noqa: F811
    seed_reconcile(store)
    page = _page(store)
    found = _explanations(page)
    texts = [_text(f) for f in found]
    assert [t.split(":")[0] for t in texts] == [
        "not billed · 2026-11-03 · openai / gpt-4o-mini",
        "unrecorded · 2026-11-03 · openai / gpt-4o-mini",
        "not billed · 2026-11-04 · anthropic / claude-sonnet-4-5",
        "unrecorded · 2026-11-06 · openai / gpt-unheard-of",
        "unexplained · 2026-11-06 · openai",
    ]
    assert "$0.02 in the ledger, not billed" in texts[0]  # f1
    assert '<span class="money" title="$0.015">$0.02</span>' in found[0]
    assert re.findall(r'class="call-id" href="([^"]+)"', found[0]) == ["/calls/f1"]
    assert re.findall(r'class="call-id" href="([^"]+)"', found[2]) == ["/calls/a2"]
    assert "$0.09 billed, not in the ledger" in texts[1]
    assert "from key key_bypass (project proj_side): $0.09 (450,000 tokens)" in texts[1]
    assert "not priced" in texts[3] and "from key key_x: not priced (1,010 tokens)" in texts[3]
    assert "-$0.50" in texts[4]
    # the links select the calls of the day, provider and each name the ledger used
    links = [html.unescape(h) for h in re.findall(r'class="calls-link" href="([^"]+)"', found[0])]
    day = "/calls?since=2026-11-03&until=2026-11-04&provider=openai&model="
    assert links == [day + "gpt-4o-mini", day + "gpt-4o-mini-2024-07-18"]
    web = _web(store)
    listed = set()
    for href in links:
        listed |= set(re.findall(r'class="call-link" href="/calls/([^"]+)"', fetch(web, href).text))
    web.close()
    assert listed == {"o1", "o2", "f1"}


def test_the_unrecorded_spend_with_its_keys(store: Store) -> None:  # noqa: F811
    seed_reconcile(store)
    page = _page(store)
    table = re.search(r'id="unrecorded-table">.*?<tbody>(.*?)</tbody>', page, re.S)
    assert table is not None
    rows = [_cells(r) for r in re.findall(r"<tr>(.*?)</tr>", table.group(1), re.S)]
    assert [r[:5] for r in rows] == [
        ["2026-11-03", "openai / gpt-4o-mini", "key key_bypass (project proj_side)",
         "450,000", "$0.09"],
        ["2026-11-06", "openai / gpt-unheard-of", "key key_x", "1,010", "not priced"],
    ]  # fmt: skip


def test_the_chart_is_the_ledger_beside_the_bill_per_day(store: Store) -> None:  # noqa: F811
    seed_reconcile(store)
    page = _page(store)
    label = re.search(r'id="reconcile-chart"[^>]*aria-label="([^"]+)"', page)
    assert label is not None
    # ledger over 5 days: 0.63 + 0.42825 + 0.45 + 0 + 0.09 = 1.59825; billed over the
    # 4 days with a report: 2.02325
    assert html.unescape(label.group(1)).startswith(
        "Ledger vs billed per day, 2026-11-03 to 2026-11-07: ledger $1.60 over 5 days, "
        "billed $2.02 over the 4 days with a cost report."
    )
    figure = re.search(r'id="reconcile-figure">(.*?)</script>', page, re.S)
    assert figure is not None
    text = figure.group(1)
    assert '"y": [0.63, 0.42825, 0.45, 0.0, 0.09]' in text
    assert '"y": [0.705, 0.36825, 0.45, 0.5]' in text


def test_a_provider_filter_keeps_its_days(store: Store) -> None:  # noqa: F811
    seed_reconcile(store)
    page = _page(store, PERIOD + "&provider=anthropic")
    assert re.findall(r'data-provider="(\w+)"', page) == ["anthropic", "anthropic"]
    # 0.42825 against 0.36825: +0.06 / 0.36825 x 100 = 16.2932... -> +16.293%
    assert _by_id(page, "error-percent") == "+16.293%"
    assert '<option value="anthropic" selected>' in page


def test_no_provider_figures_says_how_to_get_them(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'ledger.sqlite3'}") as opened:
        opened.insert_many([O1])
        page = _page(opened)
    assert 'id="no-reports"' in page and 'id="reconcile-table"' not in page
    assert "No provider figures for 2026-11-01 to 2026-11-30" in _text(page)
    assert "llmtally reconcile fetch --provider openai" in page
    assert "llmtally reconcile import FILE" in page


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("since=banana", "since: 'banana' is neither a duration (30m, 6h, 7d) nor a date"),
        ("since=2026-11-05&until=2026-11-02", "until (2026-11-02) must be after since"),
        # the page accepts the catalog's providers, sorted (Catalog.providers): the
        # price files' ids begin alibaba (alibaba.yaml), alibaba-cn (alibaba_cn.yaml;
        # a prefix sorts first), anthropic (anthropic.yaml; "l" < "n")
        ("provider=nope", "provider: 'nope' is not one of alibaba, alibaba-cn, anthropic, "),
        ("since=2000-01-01", "is 9,829 days; this page reconciles at most 366 at a time"),
        ("since=99999999999d", "since: '99999999999d' is neither a duration"),
        ("since=9999-12-30&until=9999-12-31T12:00", "out of the range of dates"),
        ("until=%00", "until: contains control characters"),
        ("since=" + "1" * 600, "since: longer than 500 characters"),
        ("by=model", "unknown parameter by; this page takes: since, until, provider"),
    ],
)
def test_bad_parameters_are_a_400_in_the_page(tmp_path: Path, query: str, message: str) -> None:
    # 2000-01-01 to 2026-11-29 (today included): 26 years of 365 days + 7 leap
    # days (2000, 04, 08, 12, 16, 20, 24) = 9,497 + 332 days to Nov 29 = 9,829
    with open_store(f"sqlite:///{tmp_path / 'ledger.sqlite3'}") as opened:
        web = _web(opened)
        response = fetch(web, f"/reconcile?{query}")
        web.close()
    assert response.status_code == 400
    page = response.text
    assert message in html.unescape(page)
    assert 'id="reconcile-error"' in page and 'id="filters"' in page
    assert "Traceback" not in page


def test_the_page_only_reads(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    with open_store(f"sqlite:///{path}") as opened:
        seed_reconcile(opened)
        before = hashlib.sha256(path.read_bytes()).hexdigest()
        web = _web(opened)
        assert fetch(web, PERIOD).status_code == 200
        assert fetch(web, "/reconcile?since=nope").status_code == 400
        refused = fetch(web, "/reconcile", method="POST", data={"since": "7d"})
        again = fetch(web, "/reconcile?since=7d&since=30d")
        web.close()
        assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert refused.status_code == 405
    assert again.status_code == 400 and "since: given more than once" in again.text


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    path = tmp_path_factory.mktemp("reconcileweb") / "ledger.sqlite3"
    with open_store(f"sqlite:///{path}") as opened:
        seed_reconcile(opened)
        web = _web(opened)
        yield web
        web.close()


def test_the_reconcile_page_in_chromium(
    browser: Browser,  # noqa: F811
    site: Dashboard,
    screenshots: Path,  # noqa: F811
) -> None:
    with served(gateway_with(site)) as url:
        context = browser.new_context(viewport={"width": 1280, "height": 700})
        tab = Watched(context.new_page(), url, screenshots)
        page = tab.via_nav("/budgets", "Reconcile", "/reconcile")
        page = tab.open(PERIOD)
        chart = page.locator("#reconcile-chart")
        chart.locator(".main-svg").first.wait_for()
        # two traces: the ledger on 5 days, the bill on the 4 with a cost report
        bars = chart.locator("g.trace.bars")
        assert bars.count() == 2
        assert bars.nth(0).locator("path").count() == 5
        assert bars.nth(1).locator("path").count() == 4
        assert "ledger $1.60 over 5 days" in (chart.get_attribute("aria-label") or "")
        assert page.locator(".legendtext").all_text_contents() == [
            "ledger (llmtally)",
            "billed (provider)",
        ]
        assert page.locator("#error-percent").inner_text() == "-25.454%"
        tab.screenshot("reconcile", max_bytes=400_000)
        page.click("a.call-id >> text=f1")
        page.wait_for_load_state("networkidle")
        assert page.url.endswith("/calls/f1")
        tab.check()
        context.close()


def test_the_reconcile_page_on_a_narrow_screen(
    browser: Browser,  # noqa: F811
    site: Dashboard,
    screenshots: Path,  # noqa: F811
) -> None:
    with served(gateway_with(site)) as url:
        context = browser.new_context(viewport={"width": 390, "height": 800})
        tab = Watched(context.new_page(), url, screenshots)
        page = tab.open(PERIOD)
        page.locator("#reconcile-chart .main-svg").first.wait_for()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nav included
        for selector in ("#reconcile-table", "#unrecorded-table", "#headline", ".explanations"):
            box = page.locator(selector).first.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, selector
        row = page.locator("#reconcile-table tr.day-row").first
        assert row.locator("td.ledger").inner_text().endswith("$0.63")
        tab.screenshot("reconcile-narrow", max_bytes=400_000)
        tab.check()
        context.close()
