"""The dashboard's Budgets page: every budget with its current window's spent,
reserved (a gateway's calls in flight), left, used and renewal, on SQLite and
PostgreSQL; the empty page; bad input a 400; Debian's chromium (no console
error; screenshot budgets.png in a temporary folder, or docs/screenshots with
`make screenshots`).

The ledger, at NOW (Wednesday 2026-11-18 14:30:20 UTC), worked out by hand:

- team search (keys search-api and search-batch), $500/month: $120.25 (Nov 3)
  + $80.125 + $49.50 (today) = $249.875 spent; $300 on Oct 30 is last month's.
  One call in flight holds $0.0123456789. Left 500 - 249.875 - 0.0123456789
  = $250.1126543211; used 249.8873456789 / 500 = 49.98%, shown 49%.
- key ci, 60 requests/minute: 45 calls in 14:30 (5 more at 14:29 do not
  count), 3 in flight: 48 / 60 = 80% (amber), 12 left, renews at 14:31:00.
- key ci's own budget, $20/day: 50 calls today x $0.35 = $17.50 spent, the 3
  in flight hold $0.80 + $0.85 + $0.85 = $2.50: 100% (red), $0 left.
- user alice, 2,000,000 tokens/day: 1,200,000 + 34,567 tokens today
  (yesterday's 265,433 do not count) = 1,234,567; 765,433 left; 61.7%, shown 61%.
- feature chat, $100/week: nothing spent; renews Monday 2026-11-23.
- tag beta, $1,000 total: $0.0012232 spent (shown $0.00122): <1%, never renews.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from alerts_support import paid
from browser_support import (  # noqa: F401 (browser, screenshots: fixtures)
    Watched,
    browser,
    fetch,
    gateway_with,
    screenshots,
    served,
)
from llmtally.budgets.book import BudgetBook
from llmtally.budgets.counters import BudgetCounters, Claim
from llmtally.budgets.rules import Budget, window_of
from llmtally.catalog import Catalog
from llmtally.ledger import Store, open_store
from llmtally.ledger.keys import KeyStore
from llmtally.usage import Usage
from llmtally.web import Dashboard
from test_ledger_support import db_url, pg_base_url, store  # noqa: F401

NOW = dt.datetime(2026, 11, 18, 14, 30, 20, tzinfo=dt.UTC)
TODAY = NOW.replace(hour=0, minute=0, second=0)


def _claim(budget: Budget, amount: str) -> Claim:
    start, end = window_of(budget.period, NOW)
    return Claim(budget, start, end, Decimal(amount))


def _calls(ledger: Store, keys: dict[str, str]) -> None:
    search = [
        paid("120.25", dt.datetime(2026, 11, 3, 9, 0, tzinfo=dt.UTC), key_id=keys["search-api"]),
        paid("80.125", TODAY + dt.timedelta(hours=10), key_id=keys["search-api"]),
        paid("49.50", TODAY + dt.timedelta(hours=14), key_id=keys["search-batch"]),
        paid("300", dt.datetime(2026, 10, 30, 12, 0, tzinfo=dt.UTC), key_id=keys["search-api"]),
    ]
    minute = NOW.replace(second=0)
    ci = [paid("0.35", minute + dt.timedelta(seconds=i / 3), key_id=keys["ci"]) for i in range(45)]
    ci += [paid("0.35", minute - dt.timedelta(seconds=50 - i), key_id=keys["ci"]) for i in range(5)]
    alice = [
        paid("0.5", TODAY + dt.timedelta(hours=9), user="alice",
             usage=Usage(input_tokens=1_200_000, output_tokens=34_567)),
        paid("0.1", TODAY - dt.timedelta(hours=2), user="alice",
             usage=Usage(input_tokens=250_000, output_tokens=15_433)),
    ]  # fmt: skip
    beta = [paid("0.0012232", dt.datetime(2026, 6, 1, tzinfo=dt.UTC), tags=("beta", "eu"))]
    ledger.insert_many([*search, *ci, *alice, *beta])


def seed_budgets(ledger: Store) -> dict[str, Budget]:
    """The ledger of the module docstring; its budgets by name."""
    keys = KeyStore(ledger)
    made = {
        "search-api": keys.create("search-api", team="search", now=NOW),
        "search-batch": keys.create("search-batch", team="search", now=NOW),
        "ci": keys.create("ci", budget_usd=Decimal(20), period="day", now=NOW),
    }
    _calls(ledger, {name: new.key.id for name, new in made.items()})
    book = BudgetBook(ledger)
    found = {
        "team": book.add("team", "search", "usd", "month", Decimal(500), NOW),
        "rate": book.add("key", "ci", "requests", "minute", Decimal(60), NOW),
        "alice": book.add("user", "alice", "tokens", "day", Decimal(2_000_000), NOW),
        "chat": book.add("feature", "chat", "usd", "week", Decimal(100), NOW),
        "beta": book.add("tag", "beta", "usd", "total", Decimal(1_000), NOW),
    }
    found["ci"] = next(b for b in book.all() if b.id == f"key:{made['ci'].key.id}")
    counters = BudgetCounters(ledger, clock=lambda: NOW)
    assert counters.reserve("gw-1", [_claim(found["team"], "0.0123456789")]) is None
    in_flight = [[_claim(found["rate"], "1"), _claim(found["ci"], share)]
                 for share in ("0.80", "0.85", "0.85")]  # fmt: skip
    assert counters.reserve_many("gw-1", in_flight) == [None, None, None]
    return found


def _row(page: str, budget: Budget) -> str:
    found = re.search(
        rf'<tr class="[^"]*" data-budget="{re.escape(budget.id)}".*?</tr>', page, re.S
    )
    assert found is not None, budget.id
    return found.group(0)


def _cells(row: str) -> list[str]:
    """Each cell's text as it reads: tags dropped (a line break is a space)."""
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    texts = (re.sub(r"<[^>]+>", "", c.replace("<br>", " ")) for c in cells)
    return [" ".join(html.unescape(t).split()) for t in texts]


def test_the_budgets_page_shows_each_budget_in_its_window(store: Store) -> None:  # noqa: F811
    budgets = seed_budgets(store)
    web = Dashboard(store, Catalog.load(), clock=lambda: NOW)
    response = fetch(web, "/budgets")
    web.close()
    assert response.status_code == 200
    page = response.text
    assert '<span id="budget-count">6</span> budgets' in page
    ids = re.findall(r'data-budget="([^"]+)"', page)
    assert ids == [budgets[n].id for n in ("team", "rate", "alice", "chat", "beta", "ci")]
    # name and id; limit; spent; reserved; left; used; renews
    team, rate, alice = (_cells(_row(page, budgets[n])) for n in ("team", "rate", "alice"))
    assert team == [f"team search {budgets['team'].id}", "$500.00/month", "$249.88",
                    "$0.01", "$250.11", "49%", "2026-12-01 00:00:00 in 12 d 9 h"]  # fmt: skip
    assert rate == [f"key ci {budgets['rate'].id}", "60 req/minute", "45", "3", "12", "80%",
                    "2026-11-18 14:31:00 in 40 s"]  # fmt: skip
    assert alice == [f"user alice {budgets['alice'].id}", "2,000,000 tok/day", "1,234,567",
                     "0", "765,433", "61%", "2026-11-19 00:00:00 in 9 h 29 min"]  # fmt: skip
    chat, beta, ci = (_cells(_row(page, budgets[n])) for n in ("chat", "beta", "ci"))
    assert chat[1:] == ["$100.00/week", "$0", "$0", "$100.00", "0%",
                        "2026-11-23 00:00:00 in 4 d 9 h"]  # fmt: skip
    assert beta[1:] == ["$1,000.00/total", "$0.00122", "$0", "$1,000.00", "<1%", "never (total)"]
    assert ci == [f"key ci {budgets['ci'].id}", "$20.00/day", "$17.50", "$2.50", "$0", "100%",
                  "2026-11-19 00:00:00 in 9 h 29 min"]  # fmt: skip
    # every digit on hover
    assert '<span class="money" title="$249.875">$249.88</span>' in _row(page, budgets["team"])
    assert 'title="$0.0123456789">$0.01</span>' in page
    assert 'title="$250.1126543211">$250.11</span>' in page
    assert 'title="$0.0012232">$0.00122</span>' in page
    assert 'title="$999.9987768">$1,000.00</span>' in page  # left: to the cent
    # highlighted from 80% (amber) and 100% (red)
    levels = re.findall(r'<tr class="level-(\w+)" data-budget="([^"]+)"', page)
    assert {budget: level for level, budget in levels} == {
        budgets["team"].id: "ok", budgets["rate"].id: "warn", budgets["alice"].id: "ok",
        budgets["chat"].id: "ok", budgets["beta"].id: "ok", budgets["ci"].id: "full",
    }  # fmt: skip
    assert "the per-minute request limit of key &#39;ci&#39;" in page  # the row's title


def test_the_budgets_page_refuses_unknown_parameters(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'ledger.sqlite3'}") as opened:
        web = Dashboard(opened, Catalog.load(), clock=lambda: NOW)
        response = fetch(web, "/budgets?period=day")
        web.close()
    assert response.status_code == 400 and "unknown parameter period" in response.text


def test_an_empty_budgets_page_says_how_to_add_one(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'ledger.sqlite3'}") as opened:
        web = Dashboard(opened, Catalog.load(), clock=lambda: NOW)
        page = fetch(web, "/budgets").text
        web.close()
    assert 'id="no-budgets"' in page and 'id="budgets"' not in page
    assert "llmtally budgets add --team search --usd 500 --period month" in page
    assert "llmtally budgets add --key ci --requests 60 --period minute" in page


def test_with_an_admin_token_the_budgets_page_asks_for_it(tmp_path: Path) -> None:
    token = "s3cret-admin-token-0123456789"
    with open_store(f"sqlite:///{tmp_path / 'ledger.sqlite3'}") as opened:
        web = Dashboard(opened, Catalog.load(), admin_token=token, clock=lambda: NOW)
        anonymous = fetch(web, "/budgets")
        admin = fetch(web, "/budgets", headers={"authorization": f"Bearer {token}"})
        web.close()
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == "/login?next=%2Fbudgets"
    assert admin.status_code == 200 and 'id="no-budgets"' in admin.text


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    path = tmp_path_factory.mktemp("budgetsweb") / "ledger.sqlite3"
    with open_store(f"sqlite:///{path}") as opened:
        seed_budgets(opened)
        web = Dashboard(opened, Catalog.load(), clock=lambda: NOW)
        yield web
        web.close()


def test_the_budgets_page_in_chromium(
    browser: Browser,  # noqa: F811
    site: Dashboard,
    screenshots: Path,  # noqa: F811
) -> None:
    with served(gateway_with(site)) as url:
        context = browser.new_context(viewport={"width": 1280, "height": 560})
        tab = Watched(context.new_page(), url, screenshots)
        page = tab.via_nav("/alerts", "Budgets", "/budgets")
        rows = page.locator("#budgets tbody tr")
        assert rows.count() == 6
        assert page.locator("#budgets tr.level-full .pct").inner_text() == "100%"
        assert page.locator("#budgets tr.level-warn .pct").inner_text() == "80%"
        fill = page.locator("#budgets tr.level-warn .fill").bounding_box()
        gauge = page.locator("#budgets tr.level-warn .gauge").bounding_box()
        assert fill is not None and gauge is not None
        assert fill["width"] == pytest.approx(gauge["width"] * 0.8, abs=1)
        spent = rows.first.locator("td.spent .money")
        assert spent.get_attribute("title") == "$249.875"
        tab.screenshot("budgets", max_bytes=150_000)
        tab.check()
        context.close()
