"""A ledger that is a few hours old, in a real browser (Debian's chromium via
Playwright): the spend charts show dates and a day-wide bar, the month-end
projection says it has not enough data, and a client that sends only trace ids
(no parent ids) sees its traces counted once each."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from browser_support import (  # noqa: F401 (browser: a fixture)
    NOW,
    browser,
    dashboard,
    gateway_with,
    seed_id,
    served,
)
from llmtally.ledger import open_store
from llmtally.meter import cost
from llmtally.usage import Usage
from test_ledger_support import full_call, price

TRACES = 21
CALLS = sum(1 + t % 5 for t in range(TRACES))  # 4 x (1+2+3+4+5) for t < 20, then 1: 61


def _calls() -> list[Any]:
    """61 calls this morning in 21 traces of 1 to 5 calls, trace ids only."""
    made = []
    for t in range(TRACES):
        for k in range(1 + t % 5):
            started = NOW - dt.timedelta(hours=3) + dt.timedelta(minutes=7 * t, seconds=k)
            usage = Usage(input_tokens=1_000 + t, output_tokens=50)
            made.append(
                full_call(
                    id=seed_id(started, t * 10 + k),
                    started_at=started,
                    usage=usage,
                    cost=cost(usage, price()),
                    trace_id=f"session-{t:02}",
                    parent_id=None,
                )
            )
    return made


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("one-day")
    with open_store(f"sqlite:///{folder / 'ledger.sqlite3'}") as store:
        store.insert_many(_calls())
        web = dashboard(store)
        with served(gateway_with(web)) as url:
            yield url
        web.close()


@pytest.fixture
def page(browser: Browser, base_url: str) -> Iterator[Page]:  # noqa: F811
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    opened.set_default_timeout(15_000)
    opened.goto(base_url)
    yield opened
    assert errors == []
    context.close()


def _ticks(page: Page, chart: str) -> list[str]:
    page.wait_for_selector(f"#{chart} svg.main-svg")
    return page.locator(f"#{chart} .xtick text").all_text_contents()


def _bar_share(page: Page, chart: str) -> float:
    """The first bar's width as a share of the plot area's width."""
    bar = page.locator(f"#{chart} .bars .point path").first.bounding_box()
    plot = page.locator(f"#{chart} .nsewdrag").first.bounding_box()
    assert bar is not None and plot is not None
    return bar["width"] / plot["width"]


@pytest.mark.parametrize(("path", "chart"), [("/calls", "spend-chart"), ("/", "daily-chart")])
def test_one_day_of_calls_is_one_bar_among_dates(page: Page, path: str, chart: str) -> None:
    page.goto(page.url.rstrip("/") + path)
    ticks = _ticks(page, chart)
    assert ticks, chart
    for tick in ticks:  # dates such as "Nov 28", never "12:00:00.0005"
        assert re.search(r"\b(Oct|Nov|Dec)\b", tick) or re.fullmatch(r"\d{1,2}", tick), ticks
        assert "." not in tick, ticks
    assert 0.02 < _bar_share(page, chart) < 0.2, chart


def test_a_few_hours_of_history_give_no_projection_and_say_why(page: Page) -> None:
    card = page.locator("#spend-projected")
    assert card.inner_text() == "—"
    caption = page.locator("#spend .label:text('projected month-end') ~ small").inner_text()
    assert caption.startswith("not enough data")


def test_trace_ids_without_parents_count_once_per_trace(page: Page) -> None:
    assert page.inner_text("#trace-count") == str(TRACES)
    assert page.inner_text("#calls-per-trace") == f"{CALLS / TRACES:.1f}" == "2.9"
