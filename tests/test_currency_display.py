"""Reports and the dashboard in the user's currency (issue 17), through the real
CLI and the real dashboard app, on SQLite and PostgreSQL; the pages in Debian's
chromium (screenshots currency-overview.png, currency-explorer.png and
currency-budgets.png).

The rates are a test override file with round numbers (not real rates):
1 USD = 7.2 CNY on 2026-12-01 and 7.0 CNY on 2026-12-02 (and nothing later, so
2026-12-03 converts at 7.0, the latest on or before it); 1 USD = 150 JPY on
2026-12-01 and 155 JPY on 2026-12-02.

The ledger (USD, as the ledger keeps it) and the figures worked out by hand:

| call | day | model | USD | CNY | JPY |
| --- | --- | --- | --- | --- | --- |
| a | 2026-12-01 10:00 | gpt-4o | 1.50 | 1.50 x 7.2 = 10.80 | 1.50 x 150 = 225 |
| b | 2026-12-01 15:00 | gpt-4o-mini | 0.25 | 0.25 x 7.2 = 1.80 | 0.25 x 150 = 37.5 |
| c | 2026-12-02 09:00 | gpt-4o | 2.00 | 2.00 x 7.0 = 14.00 | 2.00 x 155 = 310 |
| d | 2026-12-03 12:00 | gpt-4o-mini | 1.00 | 1.00 x 7.0 = 7.00 | 1.00 x 155 = 155 |

- By model in CNY: gpt-4o 10.80 + 14.00 = 24.80 (USD 3.50); gpt-4o-mini
  1.80 + 7.00 = 8.80 (USD 1.25). Total 33.60 CNY (USD 4.75). In JPY:
  225 + 37.5 + 310 + 155 = 727.5, shown ¥728 (JPY has no minor digits).
- Overview at NOW = 2026-12-03 18:00 UTC: today ¥7.00, last 7 days and month
  to date ¥33.60. Month-end: the run rate is the mean of the whole days before
  today since the first call (2 days): (1.75 + 2.00) / 2 = 1.875 USD a day,
  times the 28.25 days left (2026-12-03 18:00 to 2027-01-01 00:00) = 52.96875
  USD, at today's rate 7.0 = 370.78125 CNY; plus month to date 33.60 =
  404.38125, shown ¥404.38.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Browser
from typer.testing import CliRunner

from alerts_support import paid
from browser_support import (  # noqa: F401 (browser, screenshots: fixtures)
    Watched,
    browser,
    fetch,
    gateway_with,
    screenshots,
    served,
)
from currency_support import use_rates
from llmtally.budgets.book import BudgetBook
from llmtally.catalog import Catalog
from llmtally.cli import app
from llmtally.currency import open_rates
from llmtally.ledger import Store, open_store
from llmtally.money import usd, usd_exact
from llmtally.web import Dashboard
from test_ledger_support import db_url, pg_base_url, store  # noqa: F401

NOW = dt.datetime(2026, 12, 3, 18, 0, tzinfo=dt.UTC)
RATES = """\
rates:
  - {date: 2026-12-01, base: USD, quote: CNY, rate: "7.2", source: test rate day 1}
  - {date: 2026-12-02, base: USD, quote: CNY, rate: "7.0", source: test rate day 2}
  - {date: 2026-12-01, base: USD, quote: JPY, rate: "150", source: test yen day 1}
  - {date: 2026-12-02, base: USD, quote: JPY, rate: "155", source: test yen day 2}
"""
RANGE = ["--since", "2026-12-01", "--until", "2026-12-04"]
KNOWN = "(known: USD, EUR, GBP, CNY, JPY)"


@pytest.fixture(autouse=True)
def _rates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_rates(tmp_path, RATES, monkeypatch)
    monkeypatch.delenv("LLMTALLY_CURRENCY", raising=False)


def _day(day: int, hour: int) -> dt.datetime:
    return dt.datetime(2026, 12, day, hour, 0, tzinfo=dt.UTC)


def seed(ledger: Store) -> None:
    ledger.insert_many(
        [
            paid("1.50", _day(1, 10)),
            paid("0.25", _day(1, 15), model_served="gpt-4o-mini", user="alice"),
            paid("2.00", _day(2, 9)),
            paid("1.00", _day(3, 12), model_served="gpt-4o-mini"),
        ]
    )


@pytest.fixture
def url(db_url: str) -> str:  # noqa: F811
    with open_store(db_url) as opened:
        seed(opened)
    return db_url


def _report(url: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["report", *RANGE, "--database", url, *args])
    return result.exit_code, result.output


def test_the_report_in_cny_converts_each_day_at_its_rate(url: str) -> None:
    code, out = _report(url, "--currency", "CNY", "--format", "json")
    assert code == 0, out
    data = json.loads(out)
    assert data["currency"] == "CNY"
    rows = {row["key"]: row for row in data["rows"]}
    assert rows["gpt-4o"]["cost_total"] == {"amount": "24.8", "currency": "CNY"}
    assert rows["gpt-4o"]["cost_usd"] == "3.5"
    assert rows["gpt-4o-mini"]["cost_total"] == {"amount": "8.8", "currency": "CNY"}
    assert rows["gpt-4o-mini"]["cost_usd"] == "1.25"
    assert data["total"]["cost_total"] == {"amount": "33.6", "currency": "CNY"}
    assert data["total"]["cost_usd"] == "4.75" and data["total"]["calls"] == 4
    assert data["rates"] == [
        {"from": "USD", "to": "CNY", "rate": "7.2", "date": "2026-12-01",
         "source": "test rate day 1"},
        {"from": "USD", "to": "CNY", "rate": "7", "date": "2026-12-02",
         "source": "test rate day 2"},
    ]  # fmt: skip


def test_the_report_table_states_the_rates_used(url: str) -> None:
    code, out = _report(url, "--currency", "CNY", "--by", "day")
    assert code == 0, out
    assert "spend by day in CNY" in out and "(CNY)" in out  # "cost (CNY)", wrapped
    # day rows: 1.75 x 7.2 = 12.60; 2.00 x 7.0 = 14.00; 1.00 x 7.0 = 7.00
    for day, shown in (("2026-12-01", "¥12.60"), ("2026-12-02", "¥14.00"), ("2026-12-03", "¥7.00")):
        assert re.search(rf"{day}\s.*{re.escape(shown)}", out), (day, out)
    assert "¥33.60" in out
    assert "¥ at 7.2 CNY per USD (2026-12-01, test rate day 1)" in out
    assert "¥ at 7 CNY per USD (2026-12-02, test rate day 2)" in out


def test_the_report_in_jpy_has_no_minor_digits(url: str) -> None:
    code, out = _report(url, "--currency", "JPY")
    assert code == 0, out
    assert "¥728" in out and "¥727.5" not in out  # 727.5 rounds half up to 728
    code, out = _report(url, "--currency", "jpy", "--format", "json")
    assert json.loads(out)["total"]["cost_total"] == {"amount": "727.5", "currency": "JPY"}


def test_the_report_in_usd_is_unchanged(url: str) -> None:
    plain = _report(url, "--format", "json")
    assert plain == _report(url, "--format", "json", "--currency", "USD")
    assert json.loads(plain[1])["total"]["cost_total"] == "4.75"
    table = _report(url)
    assert table == _report(url, "--currency", "USD") and "$4.75" in table[1]


def test_the_currency_setting_is_the_default(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMTALLY_CURRENCY", "CNY")
    code, out = _report(url, "--format", "json")
    assert code == 0 and json.loads(out)["total"]["cost_total"]["currency"] == "CNY"
    monkeypatch.setenv("LLMTALLY_CURRENCY", "XYZ")
    code, out = _report(url)
    assert code == 2 and f"unknown currency 'XYZ' {KNOWN}" in out


def test_an_unknown_currency_is_a_clear_error(url: str) -> None:
    code, out = _report(url, "--currency", "DOGE")
    assert code == 2 and f"unknown currency 'DOGE' {KNOWN}" in out
    assert "Traceback" not in out


def test_a_day_without_a_rate_is_a_clear_error(db_url: str) -> None:  # noqa: F811
    with open_store(db_url) as opened:
        opened.insert_many([paid("1", dt.datetime(2010, 6, 1, tzinfo=dt.UTC))])
    result = CliRunner().invoke(
        app,
        ["report", "--since", "2010-01-01", "--until", "2010-12-31", "--currency", "CNY",
         "--database", db_url],
    )  # fmt: skip
    assert result.exit_code == 2
    # the range's first day has no rate either, but the error names the call's day
    assert "no USD->CNY exchange rate on or before 2010-06-01" in result.output
    assert "Traceback" not in result.output


def test_usd_display_is_one_home() -> None:
    # llmtally.money.usd is currency.display.format_money in USD: same text
    assert usd(Decimal("1234.5")) == "$1,234.50"
    assert usd(Decimal("0.0012232")) == "$0.00122"
    assert usd(Decimal("-0.5")) == "-$0.50"
    assert usd(Decimal(0)) == "$0"
    assert usd_exact(Decimal("0.0122324964")) == "$0.0122324964"


# ---- the dashboard ----


def _web(ledger: Store, currency: str | None = None) -> Dashboard:
    # the pages under test read no prices: an empty catalog
    return Dashboard(ledger, Catalog([]), clock=lambda: NOW, currency=currency)


def _text(page: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>(.*?)</(a|span|td)>', page, re.S)
    assert found is not None, element_id
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


def test_the_overview_in_cny(store: Store) -> None:  # noqa: F811
    seed(store)
    web = _web(store)
    page = fetch(web, "/?currency=CNY").text
    usd_page = fetch(web, "/").text
    web.close()
    assert _text(page, "spend-today") == "¥7.00"
    assert _text(page, "spend-7d") == "¥33.60"
    assert _text(page, "spend-mtd") == "¥33.60"
    assert _text(page, "spend-projected") == "¥404.38"
    assert "¥ at 7.2 CNY per USD (2026-12-01, test rate day 1)" in page
    assert "¥ at 7 CNY per USD (2026-12-02, test rate day 2)" in page
    # the USD page as before
    assert _text(usd_page, "spend-today") == "$1.00"
    assert _text(usd_page, "spend-mtd") == "$4.75"
    assert "Rates used" not in usd_page


def test_the_explorer_in_cny_converts_each_call_at_its_day(store: Store) -> None:  # noqa: F811
    seed(store)
    web = _web(store, currency="CNY")  # the setting, no query parameter
    page = fetch(web, "/calls?since=2026-12-01").text
    web.close()
    assert _text(page, "total-cost") == "¥33.60"
    # call a: 1.50 x 7.2 = 10.80 (exact on hover); call d: 1.00 x 7.0 = 7.00
    assert '<span class="money" title="¥10.8 CNY">¥10.80</span>' in page
    assert '<span class="money" title="¥7 CNY">¥7.00</span>' in page
    # filter links and the filter form keep the currency
    assert '<input type="hidden" name="currency" value="CNY">' in page
    assert 'href="/calls?since=2026-12-01&amp;user=alice&amp;currency=CNY"' in page


def test_the_call_and_trace_pages_in_cny(store: Store) -> None:  # noqa: F811
    first = paid("1.50", _day(1, 10), trace_id="tr-1", source_cost=Decimal("1.40"))
    store.insert_many([first, paid("2.00", _day(2, 10), trace_id="tr-1")])
    web = _web(store)
    call = fetch(web, f"/calls/{first.id}?currency=CNY").text
    trace = fetch(web, "/traces/tr-1?currency=CNY").text
    web.close()
    # every digit, at the call's day: 1.50 x 7.2 = 10.80
    assert '<td class="num" id="call-cost">¥10.8 CNY</td>' in call
    # the source's 1.40 x 7.2 = 10.08; the difference 0.10 x 7.2 = 0.72
    assert 'title="¥10.08 CNY">¥10.08</span>' in call
    assert '+<span class="money" title="¥0.72 CNY">¥0.72</span>' in call
    # the trace: 10.80 + 2.00 x 7.0 = 24.80
    assert _text(trace, "trace-cost") == "¥24.80"
    assert "¥ at 7 CNY per USD (2026-12-02, test rate day 2)" in trace


def test_the_budgets_page_shows_cn_and_jp_yen_apart(store: Store) -> None:  # noqa: F811
    seed(store)
    book = BudgetBook(store, open_rates())
    cny = book.add("team", "search", "usd", "month", Decimal(7000), NOW, currency="CNY")
    plain = book.add("feature", "chat", "usd", "month", Decimal(20), NOW)
    web = _web(store)
    page = fetch(web, "/budgets?currency=JPY").text
    web.close()
    # the CNY budget in CNY; the USD one in JPY at the month's first day's 150: 20 x 150
    assert re.search(rf'data-budget="{cny.id}".*?CN¥7,000.00</span>/month', page, re.S)
    assert re.search(rf'data-budget="{plain.id}".*?JP¥3,000</span>/month', page, re.S)
    assert "¥ at 7.2 CNY per USD (2026-12-01, test rate day 1)" in page
    assert "¥ at 150 JPY per USD (2026-12-01, test yen day 1)" in page


def test_a_bad_currency_parameter_is_a_clear_400(store: Store) -> None:  # noqa: F811
    seed(store)
    web = _web(store)
    hostile = fetch(web, "/?currency=%3Cscript%3Ealert(1)%3C%2Fscript%3E")
    huge = fetch(web, "/calls?currency=" + "A" * 5000)
    elsewhere = fetch(web, "/models?currency=CNY")
    old = fetch(web, "/calls?since=2010-01-01&until=2010-12-31&currency=CNY")
    store.insert_many([paid("1", dt.datetime(2010, 6, 1, tzinfo=dt.UTC))])
    no_rate = fetch(web, "/calls?since=2010-01-01&until=2010-12-31&currency=CNY")
    web.close()
    assert hostile.status_code == 400 and KNOWN in hostile.text
    assert "<script>alert" not in hostile.text
    assert huge.status_code == 400 and "AAAAAAAAA" not in huge.text
    assert elsewhere.status_code == 400 and "not converted" in elsewhere.text
    assert old.status_code == 200  # no calls then: nothing to convert
    assert no_rate.status_code == 400
    assert "no USD-&gt;CNY exchange rate on or before 2010-06-01" in no_rate.text  # the call's day


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    folder = tmp_path_factory.mktemp("currencyweb")
    patch = pytest.MonkeyPatch()
    use_rates(folder, RATES, patch)
    with open_store(f"sqlite:///{folder / 'ledger.sqlite3'}") as opened:
        seed(opened)
        book = BudgetBook(opened, open_rates())
        book.add("team", "search", "usd", "month", Decimal(7000), NOW, currency="CNY")
        book.add("feature", "chat", "usd", "month", Decimal(20), NOW)
        web = _web(opened)
        yield web
        web.close()
    patch.undo()


def test_the_pages_in_chromium(
    browser: Browser,  # noqa: F811
    site: Dashboard,
    screenshots: Path,  # noqa: F811
) -> None:
    with served(gateway_with(site)) as base:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        tab = Watched(context.new_page(), base, screenshots)
        page = tab.open("/?currency=CNY")
        assert page.locator("#spend-mtd").inner_text().strip() == "¥33.60"
        assert page.locator("#spend-mtd .money").get_attribute("title") == "¥33.6 CNY"
        assert "7.2 CNY per USD" in page.locator("#money-rates").inner_text()
        tab.screenshot("currency-overview")
        page = tab.open("/calls?since=2026-12-01&currency=CNY")
        assert page.locator("#total-cost").inner_text().strip() == "¥33.60"
        ticks = page.locator("g.ytick text").all_text_contents()
        assert ticks and all(t.startswith("¥") for t in ticks), ticks  # the spend axis
        tab.screenshot("currency-explorer")
        page = tab.open("/budgets?currency=JPY")
        limits = page.locator("#budgets tbody tr td:nth-child(2)").all_inner_texts()
        assert limits == ["CN¥7,000.00/month", "JP¥3,000/month"]
        tab.screenshot("currency-budgets", max_bytes=200_000)
        tab.check()
        context.close()
