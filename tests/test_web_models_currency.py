"""The dashboard's Models page shows each price in the currency its price file
bills in (issue 17), through the real app and in chromium.

Every expected figure is read off the shipped price files (each cites the
provider's official pricing page) and formatted by hand by the rule for unit
prices (llmtally.money.usd_rate: cents at least, up to four significant
digits) with the currency's sign: ``¥`` for CNY alone, ``CN¥``/``JP¥`` when
both are on the page. The hover title holds the file's exact digits and the
code (``¥0.7 CNY``); a USD price keeps the bare ``$0.6`` of the other money.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from browser_support import (  # noqa: F401 (browser, screenshots: fixtures)
    NOW,
    Watched,
    browser,
    dashboard,
    fetch,
    gateway_with,
    screenshots,
    served,
)
from llmtally.catalog import Catalog
from llmtally.ledger import Store, open_store
from llmtally.web import Dashboard

Cell = tuple[str, list[str]]  # the text as it reads, the hover titles inside


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    folder = tmp_path_factory.mktemp("models")
    with open_store(f"sqlite:///{folder / 'ledger.sqlite3'}") as opened:
        yield opened


@pytest.fixture(scope="module")
def web(store: Store) -> Iterator[Dashboard]:
    app = dashboard(store)
    yield app
    app.close()


def _page(app: Dashboard, query: str) -> str:
    response = fetch(app, f"/models?{query}")
    assert response.status_code == 200, response.text[:500]
    return response.text


def _text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", fragment)).split())


def _header(page: str) -> list[str]:
    head = re.search(r'<table class="calls" id="models">\s*<thead>(.*?)</thead>', page, re.S)
    assert head, page[:500]
    return [_text(th) for th in re.findall(r"<th[^>]*>(.*?)</th>", head.group(1), re.S)]


def _rows(page: str) -> dict[str, dict[str, Cell]]:
    """provider/model -> column name -> (text, hover titles)."""
    names = _header(page)
    body = re.search(r'id="models">.*?<tbody>(.*?)</tbody>', page, re.S)
    assert body, page[:500]
    found = {}
    for row in re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        assert len(cells) == len(names), (names, cells)
        shown = {
            name: (_text(cell), [html.unescape(t) for t in re.findall(r'title="([^"]*)"', cell)])
            for name, cell in zip(names, cells, strict=True)
        }
        found[f"{shown['provider'][0]}/{shown['model'][0]}"] = shown
    return found


def _heading(page: str) -> str:
    found = re.search(r'id="price-heading">(.*?)</small>', page, re.S)
    assert found, page[:500]
    return _text(found.group(1))


def test_a_cny_model_in_yuan(web: Dashboard) -> None:
    # moonshot_cn.yaml, https://platform.moonshot.cn/docs/pricing/chat (page version
    # 2026-02-09): kimi-k2.5 input "4.00", cache_read "0.70", output "21.00" CNY per
    # 1M; no batch tier. Shown to the cent: ¥4.00, ¥0.70, ¥21.00; the titles carry
    # the file's digits without trailing zeros: ¥4, ¥0.7, ¥21, then "CNY".
    page = _page(web, "q=moonshot-cn/kimi-k2.5")
    row = _rows(page)["moonshot-cn/kimi-k2.5"]
    assert row["currency"] == ("CNY", [])
    assert row["input"] == ("¥4.00", ["¥4 CNY"])
    assert row["cached input"] == ("¥0.70", ["¥0.7 CNY"])
    assert row["output"] == ("¥21.00", ["¥21 CNY"])
    assert row["batch in / out"] == ("—", [])
    assert "$" not in _text(re.sub(r"<footer>.*?</footer>", "", page, flags=re.S))
    # the only currency on the page is named in the heading and the count line
    assert _heading(page) == "prices per 1M tokens (CNY), in force now"
    assert re.search(r'id="price-currencies">CNY</span>', page)
    # no row has a thinking price: no such column
    assert "thinking output" not in _header(page)


def test_the_same_model_in_dollars_and_in_yuan(web: Dashboard) -> None:
    # moonshot.yaml (platform.moonshot.ai, archived 2026-03-26): kimi-k2.5 input
    # "0.60", cache_read "0.10", output "3.00" USD -> $0.60, $0.10, $3.00; the USD
    # titles as the dashboard's other money: $0.6, $0.1, $3. The CNY row as above;
    # with no JPY on the page the yuan keeps the plain ¥.
    page = _page(web, "q=kimi-k2.5")
    rows = _rows(page)
    usd = rows["moonshot/kimi-k2.5"]
    assert usd["currency"] == ("USD", [])
    assert usd["input"] == ("$0.60", ["$0.6"])
    assert usd["cached input"] == ("$0.10", ["$0.1"])
    assert usd["output"] == ("$3.00", ["$3"])
    cny = rows["moonshot-cn/kimi-k2.5"]
    assert (cny["input"], cny["output"]) == (("¥4.00", ["¥4 CNY"]), ("¥21.00", ["¥21 CNY"]))
    assert _heading(page) == "prices per 1M tokens (¥ CNY, $ USD), in force now"
    assert re.search(r'id="price-currencies">CNY, USD</span>', page)


def test_thinking_output_and_batch_in_yuan(web: Dashboard) -> None:
    # alibaba_cn.yaml, https://help.aliyun.com/zh/model-studio/model-pricing (中国内地,
    # effective 2026-04-02, in force on the app's day 2026-11-28): qwen-plus input
    # "0.8", output "2", output_thinking "8" CNY per 1M; batch {discount: "0.5"}:
    # 0.8 x 0.5 = 0.40 and 2 x 0.5 = 1.0. Shown: ¥0.80, ¥2.00, ¥8.00, ¥0.40 / ¥1.00;
    # titles ¥0.8, ¥2, ¥8, ¥0.4, ¥1 (then CNY). No cache_read price: a dash.
    page = _page(web, "q=alibaba-cn/qwen-plus")
    assert "thinking output" in _header(page)
    row = _rows(page)["alibaba-cn/qwen-plus"]
    assert row["input"] == ("¥0.80", ["¥0.8 CNY"])
    assert row["cached input"] == ("—", [])
    assert row["output"] == ("¥2.00", ["¥2 CNY"])
    assert row["thinking output"] == ("¥8.00", ["¥8 CNY"])
    assert row["batch in / out"] == ("¥0.40 / ¥1.00", ["¥0.4 CNY", "¥1 CNY"])
    assert row["since"] == ("2026-04-02", [])


def _tier_rows(page: str) -> list[list[Cell]]:
    table = re.search(r'id="length-tiers">.*?<tbody>(.*?)</tbody>', page, re.S)
    assert table, page[-2000:]
    return [
        [
            (_text(cell), [html.unescape(t) for t in re.findall(r'title="([^"]*)"', cell)])
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        for row in re.findall(r"<tr>(.*?)</tr>", table.group(1), re.S)
    ]


def test_length_tiers_in_yuan(web: Dashboard) -> None:
    # alibaba_cn.yaml qwen-plus long_context: above 131072 (128K = 128 x 1,024) input
    # "2.4", output "20", output_thinking "24"; above 262144 (256K): "4.8", "48",
    # "64" CNY per 1M. No cache_read in the tiers nor the model: a dash.
    page = _page(web, "q=alibaba-cn/qwen-plus")
    assert "Length tiers: the whole request re-priced at" in _text(page)
    lines = _tier_rows(page)
    first = lines[0]
    assert first[0] == ("alibaba-cn/qwen-plus", [])
    assert first[1:] == [
        ("prompt > 131,072", []),
        ("¥2.40", ["¥2.4 CNY"]),
        ("—", []),
        ("¥20.00", ["¥20 CNY"]),
        ("¥24.00", ["¥24 CNY"]),
    ]
    second = lines[1]
    assert second[0] == ("", [])  # the model is named once
    assert [text for text, _ in second[1:]] == [
        "prompt > 262,144",
        "¥4.80",
        "—",
        "¥48.00",
        "¥64.00",
    ]
    assert second[5] == ("¥64.00", ["¥64 CNY"])


def test_no_tiers_no_tier_table(web: Dashboard) -> None:
    # moonshot_cn.yaml kimi-k2.5 has no long_context
    assert 'id="length-tiers"' not in _page(web, "q=moonshot-cn/kimi-k2.5")


OVERRIDE = """\
providers:
  - provider: acme-cn
    name: ACME CN
    pricing_url: https://acme.example/cn
    currency: CNY
    models:
      - id: sakura-cn
        prices:
          - {source: "https://acme.example/cn", input: "1.5", output: "6.125"}
  - provider: acme-jp
    name: ACME JP
    pricing_url: https://acme.example/jp
    currency: JPY
    models:
      - id: sakura-jp
        prices:
          - {source: "https://acme.example/jp", input: "150", output: "600"}
"""


def test_yuan_and_yen_on_one_page_get_distinct_signs(store: Store, tmp_path: Path) -> None:
    # a synthetic override file (no JPY price file ships): CNY and JPY share ¥, so
    # both show CLDR's CN¥ / JP¥, in the cell and in its title. 6.125 has four
    # significant digits: shown whole (CN¥6.125).
    override = tmp_path / "prices.yaml"
    override.write_text(OVERRIDE)
    app = Dashboard(store, Catalog.load(override=override), clock=lambda: NOW)
    try:
        page = _page(app, "q=sakura")
    finally:
        app.close()
    rows = _rows(page)
    assert rows["acme-cn/sakura-cn"]["input"] == ("CN¥1.50", ["CN¥1.5 CNY"])
    assert rows["acme-cn/sakura-cn"]["output"] == ("CN¥6.125", ["CN¥6.125 CNY"])
    assert rows["acme-jp/sakura-jp"]["input"] == ("JP¥150.00", ["JP¥150 JPY"])
    assert _heading(page) == "prices per 1M tokens (CN¥ CNY, JP¥ JPY), in force now"


def test_the_models_page_in_chromium(
    browser: Browser,  # noqa: F811
    web: Dashboard,
    screenshots: Path,  # noqa: F811
) -> None:
    with served(gateway_with(web)) as url:
        context = browser.new_context(viewport={"width": 1280, "height": 700})
        tab = Watched(context.new_page(), url, screenshots)
        page = tab.open("/models?q=kimi-k2.5")
        providers = page.locator("#models tbody td:first-child").all_inner_texts()
        rows = page.locator("#models tbody tr")
        cells = rows.nth(providers.index("moonshot-cn")).locator("td")
        # provider, model, kind, currency, input, cached input, output, ...
        assert cells.nth(3).inner_text() == "CNY"
        assert cells.nth(4).inner_text() == "¥4.00"
        assert cells.nth(4).locator(".money").get_attribute("title") == "¥4 CNY"
        heading = page.inner_text("#price-heading")
        assert heading == "prices per 1M tokens (¥ CNY, $ USD), in force now"
        usd = rows.nth(providers.index("moonshot")).locator("td")
        assert usd.nth(4).inner_text() == "$0.60"
        tab.screenshot("models-currency")
        # Qwen-Plus (alibaba_cn.yaml): output_thinking "8" -> ¥8.00; its 128K tier's
        # thinking output "24" -> ¥24.00 in the length-tier table
        page = tab.open("/models?q=alibaba-cn/qwen-plus")
        assert "thinking output" in page.locator("#models thead").inner_text()
        assert page.locator("#models tbody td.thinking").first.inner_text() == "¥8.00"
        tiers = page.locator("#length-tiers tbody tr").first.locator("td")
        assert tiers.nth(5).inner_text() == "¥24.00"
        tab.screenshot("models-thinking")
        tab.check()
        context.close()
