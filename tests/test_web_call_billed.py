"""The dashboard's call page for a call billed in CNY (issue 17): shown in CNY it
shows what was billed, exactly, not the ledger's USD converted back; in USD it
states what was billed and the rate (``llmtally.web.call_billed``). Through the
real app, and in Debian's chromium (screenshot call-billed-cny.png).

The rates are the shipped table alone: the CFETS central parity of 2025-02-25,
7.1726 CNY per USD (src/llmtally/currency/data/rates.yaml,
http://china.org.cn/china/Off_the_Wire/2025-02/25/content_117731713.htm), the
latest on or before the calls' day; 1 CNY = 1/7.1726 =
0.1394194573794718790954465605 USD to 28 digits (bc -l). The price is the
shipped alibaba-cn qwen-plus entry of 2026-04-02 (alibaba_cn.yaml, from
https://help.aliyun.com/zh/model-studio/model-pricing): ¥0.8 input, ¥2 output
per 1M tokens up to 131,072 prompt tokens.

The call: 120,000 input and 36,000 output tokens on 2026-12-01.

- billed: 120,000 x 0.8 / 1M = ¥0.096; 36,000 x 2 / 1M = ¥0.072; total ¥0.168.
- stored USD (bc -l, x r): 0.096 x r = 0.01338426790|84... -> 0.0133842679;
  0.072 x r = 0.01003820093|13... -> 0.0100382009; 0.168 x r = 0.02342246883|97...
  -> 0.0234224688 (= 0.0133842679 + 0.0100382009, no residue).
- converted back at 7.1726 (what the page showed before, and still shows for the
  components when the call cannot be priced again): 0.0133842679 x 7.1726 =
  0.09599999993954; 0.0100382009 x 7.1726 = 0.07199999977534; 0.0234224688 x 7.1726
  = 0.16799999971488.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import re
from collections.abc import Iterator
from decimal import Decimal
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
from currency_support import chat_call
from llmtally.catalog import Catalog
from llmtally.catalog.price import Rates
from llmtally.ledger import Store, open_store
from llmtally.usage import Call, Usage
from llmtally.web import Dashboard

AT = dt.datetime(2026, 12, 1, 10, tzinfo=dt.UTC)
NOW = dt.datetime(2026, 12, 3, 18, tzinfo=dt.UTC)
USAGE = Usage(input_tokens=120_000, output_tokens=36_000)
CFETS = "http://china.org.cn/china/Off_the_Wire/2025-02/25/content_117731713.htm"
BILLED_LINE = (
    "Billed ¥0.168 CNY; the ledger keeps it in USD at 1 CNY = "
    f"0.1394194573794718790954465605 USD (2025-02-25, {CFETS})."
)


@dataclasses.dataclass(frozen=True)
class Ledger:
    web: Dashboard
    billed: Call  # priced at the catalog's entry: repriced exactly
    old_entry: Call  # its row names an entry the catalog no longer has
    other_rates: Call  # the catalog's entry, but it no longer gives the billed total
    usd: Call
    no_rate: Call  # on a day before the table's first CNY rate: stored unpriced


def _seed(store: Store, catalog: Catalog) -> Ledger:
    price = catalog.price_at("alibaba-cn", "qwen-plus", AT)
    billed = chat_call("alibaba-cn", "qwen-plus", price, AT, USAGE)
    # an entry of 2025-01-01 at the same rates: same cost, another price_id
    old = dataclasses.replace(price, effective=dt.date(2025, 1, 1), memo={})
    old_entry = chat_call("alibaba-cn", "qwen-plus", old, AT, USAGE)
    # the same entry id at ¥0.9 input: billed 120,000 x 0.9 / 1M + 0.072 = ¥0.18
    dearer = dataclasses.replace(  # memo: the plan derived from the rates, not shared
        price, rates=Rates(input=Decimal("0.9"), output=Decimal(2)), memo={}
    )
    other_rates = chat_call("alibaba-cn", "qwen-plus", dearer, AT, USAGE)
    usd_price = catalog.price_at("openai", "gpt-4o-mini", AT)
    usd = chat_call("openai", "gpt-4o-mini", usd_price, AT, USAGE)
    # the first CNY rate of the table is of 2014-10-24 (the ECB's, through EUR)
    early = dt.datetime(2014, 1, 2, 10, tzinfo=dt.UTC)
    no_rate = chat_call("alibaba-cn", "qwen-plus", price, early, USAGE)
    store.insert_many([billed, old_entry, other_rates, usd, no_rate])
    web = Dashboard(store, catalog, clock=lambda: NOW)
    return Ledger(web, billed, old_entry, other_rates, usd, no_rate)


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    folder = tmp_path_factory.mktemp("callbilled")
    patch = pytest.MonkeyPatch()
    patch.setenv("LLMTALLY_HOME", str(folder))  # no override file: the shipped rates
    patch.delenv("LLMTALLY_RATES", raising=False)
    patch.delenv("LLMTALLY_CURRENCY", raising=False)
    with open_store(f"sqlite:///{folder / 'ledger.sqlite3'}") as opened:
        found = _seed(opened, Catalog.load())
        yield found
        found.web.close()
    patch.undo()


def _page(ledger: Ledger, call: Call, query: str = "") -> str:
    response = fetch(ledger.web, f"/calls/{call.id}{query}")
    assert response.status_code == 200, response.text[:500]
    return response.text


def _rows(page: str, table: str) -> dict[str, str]:
    body = re.search(rf'id="{table}">(.*?)</table>', page, re.S)
    assert body, page[:500]
    cells = re.findall(r"<th>(.*?)</th><td[^>]*>(.*?)</td>", body.group(1), re.S)
    return {name: html.unescape(re.sub(r"<[^>]+>", "", value)).strip() for name, value in cells}


def _text(page: str, element_id: str) -> str | None:
    found = re.search(rf'<p[^>]* id="{element_id}">(.*?)</p>', page, re.S)
    if found is None:
        return None
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", found.group(1))).split())


def test_in_the_billed_currency_the_call_shows_what_was_billed(ledger: Ledger) -> None:
    page = _page(ledger, ledger.billed, "?currency=CNY")
    assert _rows(page, "cost-components") == {
        "input": "¥0.096 CNY",
        "output": "¥0.072 CNY",
        "total": "¥0.168 CNY",
    }
    assert _text(page, "billed-note") is None
    assert _text(page, "billed") == BILLED_LINE
    # nothing on the cost table was converted: no rate is listed for it
    assert "7.1726 CNY per USD" not in page


def test_in_usd_the_call_states_what_was_billed(ledger: Ledger) -> None:
    page = _page(ledger, ledger.billed)
    # the ledger's USD, as stored (see the module's docstring)
    assert _rows(page, "cost-components") == {
        "input": "$0.0133842679",
        "output": "$0.0100382009",
        "total": "$0.0234224688",
    }
    assert _text(page, "billed") == BILLED_LINE
    assert f'<a href="{CFETS}" rel="noreferrer noopener">' in page


def test_a_usd_call_states_no_billed_amount(ledger: Ledger) -> None:
    assert _text(_page(ledger, ledger.usd), "billed") is None
    assert _text(_page(ledger, ledger.usd, "?currency=CNY"), "billed") is None


def test_an_entry_the_catalog_no_longer_has_shows_the_total_as_billed(ledger: Ledger) -> None:
    page = _page(ledger, ledger.old_entry, "?currency=CNY")
    # the total as billed; the components the stored USD x 7.1726 (docstring)
    assert _rows(page, "cost-components") == {
        "input": "¥0.09599999993954 CNY",
        "output": "¥0.07199999977534 CNY",
        "total": "¥0.168 CNY",
    }
    note = _text(page, "billed-note")
    assert note is not None and "The total is as billed" in note
    assert "the catalog's price is now alibaba-cn/qwen-plus@2026-04-02 (CNY)" in note
    assert "7.1726 CNY per USD (2025-02-25" in page  # the components' rate, stated


def test_a_repricing_that_misses_the_billed_total_is_not_used(ledger: Ledger) -> None:
    page = _page(ledger, ledger.other_rates, "?currency=CNY")
    rows = _rows(page, "cost-components")
    assert rows["total"] == "¥0.18 CNY"  # as billed: 0.108 + 0.072
    # the catalog's ¥0.8 gives 0.096 + 0.072 = 0.168
    note = _text(page, "billed-note")
    assert note is not None and "priced again it comes to ¥0.168 CNY, not the billed total" in note


def test_a_call_with_no_rate_states_what_was_billed(ledger: Ledger) -> None:
    for query in ("", "?currency=CNY"):
        page = _page(ledger, ledger.no_rate, query)
        assert _text(page, "billed") == "Billed ¥0.168 CNY; not converted to USD."
        error = _text(page, "cost-error")
        assert error is not None and "Unpriced: priced at 0.168 CNY" in error


def test_the_call_page_in_chromium(
    browser: Browser,  # noqa: F811
    ledger: Ledger,
    screenshots: Path,  # noqa: F811
) -> None:
    with served(gateway_with(ledger.web)) as base:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        tab = Watched(context.new_page(), base, screenshots)
        page = tab.open(f"/calls/{ledger.billed.id}?currency=CNY")
        cells = page.locator("#cost-components td").all_inner_texts()
        assert cells == ["¥0.096 CNY", "¥0.072 CNY", "¥0.168 CNY"]
        assert " ".join(page.locator("#billed").inner_text().split()) == BILLED_LINE
        tab.screenshot("call-billed-cny")
        page = tab.open(f"/calls/{ledger.billed.id}")
        assert page.locator("#call-cost").inner_text().strip() == "$0.0234224688"
        assert " ".join(page.locator("#billed").inner_text().split()) == BILLED_LINE
        tab.check()
        context.close()
