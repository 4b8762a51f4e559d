"""Chart axes a person can read, in a real browser (Debian's chromium through
Playwright): the lab chart's log "USD per answer" axis has labelled ticks
when the costs span less than a decade, and the Overview's "Where the input
cost goes" tick labels stay clear of the axis title. Screenshots go to the
run's screenshot folder (lab-ticks.png, overview-hidden-WIDTH.png)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from browser_support import (  # noqa: F401 (browser, screenshots: fixtures)
    NOW,
    Watched,
    browser,
    dashboard,
    gateway_with,
    screenshots,
    served,
)
from llmtally.catalog.price import Price, Rates
from llmtally.lab.checks import CheckResult
from llmtally.lab.store import CellRecord, LabStore, trace_prefix
from llmtally.ledger import Store, open_store
from llmtally.meter import cost
from llmtally.usage import Usage
from llmtally.web.charts import log_ticks
from test_ledger_support import full_call

PLAN = {
    "description": "two models, costs within a decade",
    "prompts": [{"id": "p1", "system": None, "user": "Say hi"}],
    "models": [{"name": "m-a"}, {"name": "m-b"}],
    "checks": ["contains hi"],
    "rows": 1,
    "repetitions": 1,
    "dataset": None,
}
# $2.50 / $10 per 1M tokens: 1,000 in + 60 out = $0.0025 + $0.0006 = $0.0031;
# 1,200 in + 120 out = $0.003 + $0.0012 = $0.0042. No 1, 2 or 5 of a decade
# lies near $0.0031..$0.0042, so an axis labelling only those shows nothing.
PRICE = Price(
    provider="openai",
    model="gpt-4o",
    effective=dt.date(2024, 10, 2),
    source="https://openai.com/api/pricing",
    catalog_version="2026-11-01",
    rates=Rates(input=Decimal("2.5"), output=Decimal("10")),
)
ANSWERS = (("k1", "m-a", 1_000, 60, True), ("k2", "m-b", 1_200, 120, False))


def _lab_run(store: Store) -> str:
    lab = LabStore(store)
    run = lab.create_run("ticks", "/x/exp.yaml", "f" * 16, PLAN, 2, None, "in-process")
    for key, model, tokens_in, tokens_out, passed in ANSWERS:
        usage = Usage(input_tokens=tokens_in, output_tokens=tokens_out)
        call = full_call(
            trace_id=trace_prefix(run.id, key) + "1",
            parent_id=None,
            usage=usage,
            cost=cost(usage, PRICE),
        )
        store.insert_many([call])
        lab.save_cell(
            CellRecord(
                run_id=run.id,
                cell_key=key,
                prompt_id="p1",
                row_index=0,
                model=model,
                repetition=1,
                row={},
                status="ok",
                output="hi" if passed else "no",
                call_id=call.id,
                attempts=1,
                error=None,
                checks=(CheckResult("contains hi", passed, "" if passed else "'hi' not found"),),
                passed=passed,
                client_latency_ms=12.0,
                client_ttft_ms=5.0,
                finished_at=dt.datetime(2026, 11, 28, tzinfo=dt.UTC),
            )
        )
    return run.id


def _small_calls(store: Store) -> None:
    """A new user's first hour on a cheap model: a few calls of well under a
    cent, their prompts counted by role (system, history, latest user turn)."""
    for i in range(6):
        usage = Usage(input_tokens=1_000 + 100 * i, output_tokens=50)
        store.insert_many(
            [
                full_call(
                    started_at=NOW - dt.timedelta(hours=i + 1),
                    usage=usage,
                    cost=cost(usage, PRICE),
                    trace_id=None,
                    parent_id=None,
                    input_system_tokens=300,
                    input_tools_tokens=0,
                    input_history_tokens=500 + 100 * i,
                    input_latest_user_tokens=200,
                )
            ]
        )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    folder = tmp_path_factory.mktemp("axes")
    with open_store(f"sqlite:///{folder / 'ledger.sqlite3'}") as store:
        _small_calls(store)
        run_id = _lab_run(store)
        web = dashboard(store)
        with served(gateway_with(web)) as url:
            yield url, run_id
        web.close()


@pytest.fixture
def tab(browser: Browser, site: tuple[str, str], screenshots: Path) -> Iterator[Watched]:  # noqa: F811
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    watched = Watched(context.new_page(), site[0], screenshots)
    yield watched
    watched.check()
    context.close()


def _tick_labels(page: Page, chart: str, axis: str) -> list[str]:
    page.wait_for_selector(f"{chart} svg.main-svg")
    texts = page.locator(f"{chart} .{axis}tick text").all_text_contents()
    return [t for t in texts if t.strip()]


def test_a_log_axis_narrower_than_a_decade_has_labelled_ticks(
    tab: Watched, site: tuple[str, str]
) -> None:
    page = tab.open(f"/lab/{site[1]}")
    # $0.0031..$0.0042, 5% of a decade of room each side: $0.00276..$0.0047
    assert _tick_labels(page, "#lab-chart", "x") == ["$0.003", "$0.0035", "$0.004", "$0.0045"]
    tab.screenshot("lab-ticks", max_bytes=600_000)


@pytest.mark.parametrize("width", [1024, 1280])  # at 1024 the labels stand upright
def test_the_input_cost_chart_keeps_tick_labels_clear_of_its_title(
    tab: Watched, width: int
) -> None:
    tab.page.set_viewport_size({"width": width, "height": 900})
    page = tab.open("/")
    assert len(_tick_labels(page, "#hidden-chart", "x")) >= 2
    ticks = page.locator("#hidden-chart .xtick text")
    title = page.locator("#hidden-chart .g-xtitle text").bounding_box()
    assert title is not None
    assert page.locator("#hidden-chart .g-xtitle text").text_content() == "USD"
    for i in range(ticks.count()):
        box = ticks.nth(i).bounding_box()
        assert box is not None and box["y"] + box["height"] <= title["y"], (box, title)
    chart = page.locator("#hidden-chart")
    chart.screenshot(path=str(tab.shots / f"overview-hidden-{width}.png"))


@pytest.mark.parametrize(
    ("low", "high", "ticks"),
    [
        (0.00276, 0.0047, [0.003, 0.0035, 0.004, 0.0045]),  # no 1, 2 or 5: steps of 0.0005
        (0.0012, 0.0019, [0.0012, 0.0013, 0.0014, 0.0015, 0.0016, 0.0017, 0.0018, 0.0019]),
        (0.0012, 0.0029, [0.0015, 0.002, 0.0025]),  # one 1-2-5 value only; 0.0002 steps: 9
        (0.9, 1.1, [0.9, 0.95, 1.0, 1.05, 1.1]),
        (0.00004, 0.0011, [0.00005, 0.0001, 0.0002, 0.0005, 0.001]),  # 1, 2 and 5
        (0.000004, 0.0025, [0.00001, 0.0001, 0.001]),  # 1, 2 and 5 would be 9: decades
        (1e-10, 0.5, [1e-10, 1e-8, 1e-6, 1e-4, 0.01]),  # 10 decades: every other one
    ],
)
def test_log_ticks(low: float, high: float, ticks: list[float]) -> None:
    assert log_ticks(low, high) == ticks
