"""The lab page in a real browser (Debian's chromium through Playwright): a run
of four replayed models (OpenAI, a reasoning model, Anthropic, Gemini) shows
the outputs side by side, cost and pass rate per column, and a Plotly chart
of cost against pass rate; no console error. Screenshot: lab.png, in a temporary
folder (`make screenshots`: docs/screenshots/lab.png).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from browser_support import (  # noqa: F401 (browser, screenshots: fixtures)
    Watched,
    browser,
    dashboard,
    gateway_with,
    screenshots,
    served,
)
from lab_support import (
    ANTHROPIC_MODEL,
    ANTHROPIC_TEXT,
    OPENAI_MODEL,
    OPENAI_TEXT,
    replayed_run,
)
from llmtally.lab.results import RunResults

MODELS = [OPENAI_MODEL, "o4-mini", ANTHROPIC_MODEL, "gemini-2.5-flash"]
EXPERIMENT = f"""\
name: greetings
description: Which model greets (or answers) briefly?
prompts:
  - id: greet
    user: "Say hello to {{name}}."
  - id: formal
    system: You are formal and brief.
    user: "Greet {{name}} formally."
dataset:
  - {{name: Ada}}
  - {{name: Linus}}
models:
{"".join(f"  - {{model: {m}, max_tokens: 64}}" + chr(10) for m in MODELS)}checks:
  - regex: '(?i)hello|391'
  - length: {{max: 40}}
"""


@pytest.fixture(scope="module")
def lab_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, RunResults]]:
    tmp = tmp_path_factory.mktemp("labweb")
    with replayed_run(tmp, EXPERIMENT) as (store, results):
        web = dashboard(store)
        with served(gateway_with(web)) as url:
            yield url, results
        web.close()


@pytest.fixture
def tab(
    browser: Browser,  # noqa: F811
    lab_site: tuple[str, RunResults],
    screenshots: Path,  # noqa: F811
) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    watched = Watched(context.new_page(), lab_site[0], screenshots)
    yield watched
    assert watched.problems == [], watched.problems
    context.close()


def test_outputs_side_by_side_with_per_column_numbers_and_the_chart(
    tab: Watched, lab_site: tuple[str, RunResults]
) -> None:
    _, results = lab_site
    run_id = results.run.id
    page = tab.open("/lab")
    page.click(f"a.run-link >> text={run_id}")
    page.wait_for_load_state("networkidle")
    assert page.url.endswith(f"/lab/{run_id}")
    headers = page.locator("#lab-matrix thead th.model").all_inner_texts()
    assert headers == MODELS
    first = page.locator("#lab-matrix tr.output-row").first.locator("td.output")
    assert first.count() == len(MODELS)
    texts = [first.nth(i).locator(".text").inner_text() for i in range(len(MODELS))]
    assert texts[0] == OPENAI_TEXT and texts[2] == ANTHROPIC_TEXT
    assert texts[1].startswith("17 × 23") and texts[3].startswith("Once upon a time")
    boxes = [first.nth(i).bounding_box() for i in range(len(MODELS))]
    assert all(b is not None and b["width"] > 100 for b in boxes)
    tops = {round(b["y"]) for b in boxes if b is not None}
    lefts = [b["x"] for b in boxes if b is not None]
    assert len(tops) == 1 and lefts == sorted(lefts)  # one row, left to right: side by side
    stats = page.locator("#lab-matrix tr.column-stats td").all_inner_texts()
    for model, shown in zip(MODELS, stats, strict=True):
        summary = results.summary(None, model)
        assert summary is not None and summary.pass_rate is not None
        assert f"{summary.pass_rate * 100:.0f}% pass" in shown, (model, shown)
        assert f"${summary.cost}".rstrip("0") in shown or "$" in shown
    assert page.inner_text("#lab-cost").startswith("$")
    # the Plotly chart: an SVG with a marker per prompt x model (a trace per model)
    page.wait_for_selector("#lab-chart svg.main-svg")
    traces = page.locator("#lab-chart .scatterlayer .trace")
    markers = sum(traces.nth(i).locator(".points path").count() for i in range(len(MODELS)))
    assert markers == len(results.prompts) * len(MODELS)
    legend = page.locator("#lab-chart .legendtext").all_text_contents()
    assert legend == [*MODELS, "efficient frontier"]
    tab.screenshot("lab", max_bytes=600_000)


def test_the_explorer_link_shows_the_runs_calls(
    tab: Watched, lab_site: tuple[str, RunResults]
) -> None:
    _, results = lab_site
    page = tab.open(f"/lab/{results.run.id}")
    page.click("#lab-calls")
    page.wait_for_load_state("networkidle")
    assert "tag=lab-run" in page.url
    assert page.inner_text("#total-calls") == str(results.ledger_calls)
