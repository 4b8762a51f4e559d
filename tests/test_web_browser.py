"""The dashboard in a real browser: Debian's chromium (Playwright) against the
gateway + dashboard served by uvicorn over a seeded SQLite ledger.

Every number compared here comes from a hand-written SQL query over the same
ledger; every page must load without a console error or a page error. A
full-page screenshot of each page goes to a temporary folder
(`make screenshots`: to docs/screenshots/).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from playwright.sync_api import Browser, Locator, Page
from sqlalchemy import text

from browser_support import (  # noqa: F401 (browser, screenshots: fixtures)
    NOW,
    TRACE,
    Seeded,
    Watched,
    browser,
    dashboard,
    gateway_with,
    money,
    number,
    screenshots,
    seed,
    served,
    sql_time,
    sql_totals,
)
from llmtally.ledger import Store, open_store
from money_support import significant_digits, written

VIEWPORT = {"width": 1280, "height": 900}


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, Seeded]]:
    folder = tmp_path_factory.mktemp("web")
    with open_store(f"sqlite:///{folder / 'ledger.sqlite3'}") as store:
        yield store, seed(store)


@pytest.fixture(scope="module")
def base_url(ledger: tuple[Store, Seeded]) -> Iterator[str]:
    web = dashboard(ledger[0])
    with served(gateway_with(web)) as url:
        yield url
    web.close()


@pytest.fixture
def tab(browser: Browser, base_url: str, screenshots: Path) -> Iterator[Watched]:  # noqa: F811
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    watched = Watched(context.new_page(), base_url, screenshots)
    yield watched
    watched.check()
    context.close()


def shown_totals(page: Page) -> tuple[int, int, int, Decimal]:
    return (
        number(page.inner_text("#total-calls")),
        number(page.inner_text("#total-input")),
        number(page.inner_text("#total-output")),
        read_money(page.locator("#total-cost")),
    )


def expect_totals(page: Page, store: Store, where: str, **params: Any) -> None:
    want = sql_totals(store, where, **params)
    assert want.calls > 0, f"the seed should give {where} some calls"
    assert shown_totals(page) == (want.calls, want.input_tokens, want.output_tokens, want.cost)
    assert number(page.inner_text("#total-errors")) == want.errors
    rows = page.locator("table.calls tbody tr").count()
    assert rows == min(want.calls, 50)


CASES = [
    ("", "1=1", {}),
    ("?model=gpt-4o-mini", "model_served = :m", {"m": "gpt-4o-mini"}),
    ("?user=bob", "user_id = :u", {"u": "bob"}),
    ("?status=error", "status >= 400", {}),
    ("?status=200&feature=search", "status = 200 AND feature = :f", {"f": "search"}),
    ("?tag=beta", "tags LIKE '%\"beta\"%'", {}),
]


@pytest.mark.parametrize(("query", "where", "params"), CASES)
def test_explorer_totals_equal_plain_sql(
    tab: Watched, ledger: tuple[Store, Seeded], query: str, where: str, params: dict[str, Any]
) -> None:
    page = tab.open("/calls" + query)
    expect_totals(page, ledger[0], where, **params)


def test_time_filter_and_the_form_change_the_totals(
    tab: Watched, ledger: tuple[Store, Seeded]
) -> None:
    store = ledger[0]
    page = tab.open("/calls?since=24h")
    since = sql_time(store, NOW.replace(day=27))
    expect_totals(page, store, "started_at >= :s", s=since)
    page.fill("input[name=user]", "carol")
    page.click("#filters button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "user=carol" in page.url and "since=24h" in page.url
    expect_totals(page, store, "started_at >= :s AND user_id = :u", s=since, u="carol")
    tab.check()


def test_explorer_draws_the_spend_chart(tab: Watched, ledger: tuple[Store, Seeded]) -> None:
    page = tab.open("/calls?since=24h")  # hourly bars
    page.wait_for_selector("#spend-chart svg.main-svg")
    traces = page.evaluate("document.getElementById('spend-chart').data.length")
    points = page.evaluate("document.getElementById('spend-chart').data[0].x.length")
    assert traces == 2 and points >= 3
    assert page.locator("#spend-chart .bars .point").count() >= 3
    tab.screenshot("explorer")


def test_keyset_pages_cover_every_call_once(tab: Watched, ledger: tuple[Store, Seeded]) -> None:
    store, seeded = ledger
    page = tab.open("/calls?since=all")
    seen: list[str] = []
    for _ in range(5):
        seen += [href.rsplit("/", 1)[1] for href in _links(page, "a.call-link")]
        if page.locator("#older").count() == 0:
            break
        page.click("#older")
        page.wait_for_load_state("networkidle")
    newest_first = sorted(seeded.calls, key=lambda c: (c.started_at, c.id), reverse=True)
    assert seen == [c.id for c in newest_first]
    tab.check()


def _links(page: Page, selector: str) -> list[str]:
    return [a.get_attribute("href") or "" for a in page.locator(selector).all()]


def test_call_page_shows_bodies_tokens_and_cost(tab: Watched, ledger: tuple[Store, Seeded]) -> None:
    root = ledger[1].root
    assert root.cost is not None
    page = tab.open(f"/calls/{root.id}")
    assert "What is 2+2?" in page.inner_text("#request-body")
    assert '"content": "4"' in page.inner_text("#response-body")
    components = page.inner_text("#cost-components")
    for label, amount in (("input", root.cost.input), ("output", root.cost.output)):
        assert f"${amount.normalize():f}" in components, label
    assert "cache read" in components
    assert money(page.inner_text("#call-cost")) == root.cost.total
    assert root.cost.price.entry_id in page.inner_text("#price-used")
    assert f"{root.usage.input_tokens:,}" in page.inner_text("#token-kinds")
    assert "latest user" in page.inner_text("#token-roles")
    tab.screenshot("call")
    page.click("#trace-link")
    page.wait_for_load_state("networkidle")
    assert page.url.endswith(f"/traces/{quote(TRACE)}")
    tab.check()


def test_unpriced_call_says_why(tab: Watched, ledger: tuple[Store, Seeded]) -> None:
    page = tab.open(f"/calls/{ledger[1].orphan.id}")
    assert "unknown model" in page.inner_text("#cost-error")
    assert "Not recorded" in page.inner_text("#request-body")


def test_trace_page_shows_the_tree(tab: Watched, ledger: tuple[Store, Seeded]) -> None:
    store, seeded = ledger
    page = tab.open(f"/traces/{TRACE}")
    rows = page.locator("#trace-tree tbody tr")
    order = [(r.get_attribute("data-call"), r.get_attribute("data-depth")) for r in rows.all()]
    assert order == [
        (seeded.root.id, "0"),
        (seeded.child.id, "1"),
        (seeded.grandchild.id, "2"),
        (seeded.orphan.id, "0"),
    ]
    assert "parent not recorded" in rows.nth(3).inner_text()
    want = sql_totals(store, "trace_id = :t", t=TRACE)
    assert number(page.inner_text("#trace-calls")) == want.calls == 4
    assert read_money(page.locator("#trace-cost")) == want.cost
    tab.screenshot("trace")


def test_models_search_narrows_the_list(tab: Watched) -> None:
    page = tab.open("/models")
    everything = number(page.inner_text("#model-count"))
    assert everything == page.locator("#models tbody tr").count() > 100
    page.fill("input[name=q]", "claude")
    page.click("#model-search button[type=submit]")
    page.wait_for_load_state("networkidle")
    narrowed = number(page.inner_text("#model-count"))
    assert 0 < narrowed < everything
    models = page.locator("#models tbody td.model").all_inner_texts()
    assert len(models) == narrowed and all("claude" in m.lower() for m in models)
    tab.open("/models?q=gpt-4o-mini")
    tab.screenshot("models")


def test_overview_numbers_equal_plain_sql(tab: Watched, ledger: tuple[Store, Seeded]) -> None:
    store = ledger[0]
    page = tab.open("/")
    midnight = NOW.replace(hour=0, minute=0)
    windows = (
        ("#spend-today", midnight),
        ("#spend-7d", midnight - dt.timedelta(days=6)),
        ("#spend-mtd", midnight.replace(day=1)),
    )
    for selector, since in windows:
        want = sql_totals(store, "started_at >= :s", s=sql_time(store, since))
        assert want.calls > 0 and read_money(page.locator(selector)) == want.cost, selector
    month = sql_totals(
        store, "started_at >= :s", s=sql_time(store, midnight - dt.timedelta(days=29))
    )
    top = page.locator("#top-models tbody tr").first
    name = top.locator("td").first.inner_text()
    assert (
        read_money(top.locator("td").last)
        == sql_totals(store, "coalesce(model_served, model_requested) = :m", m=name).cost
    )
    users = page.locator("#top-users tbody tr td:last-child").all()
    assert sum(read_money(u) for u in users) == month.cost  # three users + none: every call
    input_side = sql_money(store, "sum(cost_input) + sum(cost_cache_read) + sum(cost_cache_write)")
    assert read_money(page.locator("#hidden-input-side")) == input_side
    for chart in ("#daily-chart", "#hidden-chart", "#latency-chart"):
        page.wait_for_selector(f"{chart} svg.main-svg")
        assert page.locator(f"{chart} .bars .point").count() >= 1, chart
    assert page.locator("#models-latency tbody tr").count() == 3
    # one trace id: 4 calls
    with store.engine.connect() as conn:
        traces = conn.execute(text("SELECT count(DISTINCT trace_id) FROM calls")).scalar_one()
    traced = sql_totals(store, "trace_id IS NOT NULL")
    assert number(page.inner_text("#trace-count")) == traces == 1
    assert page.inner_text("#calls-per-trace") == f"{traced.calls / traces:.1f}" == "4.0"
    assert read_money(page.locator("#cost-per-trace")) == traced.cost / traces
    tab.screenshot("overview")


def read_money(element: Locator) -> Decimal:
    """The amount in a money element: checked to be shown as a person writes it
    (``$0.01``, ``$0.00479``, never more than 4 significant digits below a
    dollar), and returned exactly, from its hover title."""
    span = element.locator("span.money")
    shown, title = span.inner_text(), span.get_attribute("title") or ""
    exact = Decimal(title.replace("$", "", 1))
    assert shown == written(exact), (shown, title)
    assert abs(exact) >= 1 or significant_digits(shown) <= 4, shown
    return exact


def sql_money(store: Store, expression: str) -> Decimal:
    with store.engine.connect() as conn:
        found = Decimal(conn.execute(text(f"SELECT {expression} FROM calls")).scalar_one())
    return found / Decimal(10) ** 10 if store.dialect == "sqlite" else found


def test_overview_links_lead_to_the_calls_behind_a_number(
    tab: Watched, ledger: tuple[Store, Seeded]
) -> None:
    page = tab.open("/")
    shown = read_money(page.locator("#spend-today"))
    page.click("#spend-today")
    page.wait_for_load_state("networkidle")
    assert "/calls?since=2026-11-28" in page.url
    assert read_money(page.locator("#total-cost")) == shown
    tab.check()


def test_overview_and_nav(tab: Watched) -> None:
    page = tab.open("/")
    assert page.locator("header nav a").all_inner_texts() == [
        "Overview",
        "Explorer",
        "Models",
        "Lab",
        "Alerts",
        "Budgets",
        "Reconcile",
        "Advice",
    ]
    page.click("header nav >> text=Explorer")
    page.wait_for_load_state("networkidle")
    assert page.url.endswith("/calls")
    tab.check()


def test_money_reads_as_a_person_writes_it_with_the_exact_amount_on_hover(
    tab: Watched, ledger: tuple[Store, Seeded]
) -> None:
    store = ledger[0]
    page = tab.open("/")
    today = sql_totals(store, "started_at >= :s", s=sql_time(store, NOW.replace(hour=0, minute=0)))
    card = page.locator("#spend-today span.money")
    shown = card.inner_text()
    assert shown == written(today.cost) and shown.startswith("$0.") is (today.cost < 1)
    assert significant_digits(shown) <= 4 and today.cost != Decimal(shown.removeprefix("$"))
    card.hover()
    assert card.get_attribute("title") == f"${today.cost.normalize():f}"  # every digit
    amounts = page.locator("main span.money").all()
    assert len(amounts) > 20
    for amount in amounts:
        read_money(amount.locator(".."))
    page.wait_for_selector("#daily-chart svg.main-svg")
    ticks = page.locator("#daily-chart .ytick text").all_text_contents()
    assert ticks and all(t.startswith("$") and not t[-1].isalpha() for t in ticks), ticks
