"""How the lab shows money and time: a replayed run of four models, its tables
at 80 columns (money as people read it, nothing cut) and its chart's USD axis
in a real browser (``$0.00001``, never an SI suffix such as ``5μ``)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser
from typer.testing import CliRunner

from browser_support import browser, dashboard, gateway_with, served  # noqa: F401
from lab_support import ANTHROPIC_MODEL, OPENAI_MODEL, replayed_run
from llmtally.cli import app
from llmtally.lab.results import RunResults
from llmtally.ledger import open_store
from money_support import written

MODELS = [OPENAI_MODEL, "o4-mini", ANTHROPIC_MODEL, "gemini-2.5-flash"]
EXPERIMENT = f"""\
name: money
prompts:
  - id: greet
    user: "Say hello to {{name}}."
dataset:
  - {{name: Ada}}
models:
{"".join(f"  - {{model: {m}, max_tokens: 64}}" + chr(10) for m in MODELS)}checks:
  - regex: '(?i)hello|391'
"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, RunResults]]:
    tmp = tmp_path_factory.mktemp("labmoney")
    with replayed_run(tmp, EXPERIMENT) as (_, results):
        yield f"sqlite:///{tmp / 'ledger.sqlite3'}", results


def _lab(*args: str) -> str:
    result = CliRunner().invoke(app, ["lab", *args], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines) and "…" not in result.stdout
    return result.stdout


def test_lab_tables_show_money_as_people_read_it_at_80_columns(
    lab: tuple[str, RunResults],
) -> None:
    database, results = lab
    shown = _lab("show", results.run.id, "--database", database, "--no-outputs")
    lines = shown.splitlines()
    (cost_line,) = [line for line in lines if re.match(r"│ cost +│", line)]
    costs = [cell.strip() for cell in cost_line.strip("│").split("│")[1:]]
    want = [results.summary(None, m) for m in MODELS]
    assert costs == [written(s.cost) for s in want if s is not None] + [written(results.total.cost)]
    assert f"ledger: {len(MODELS)} calls, {written(results.ledger_total)}" in shown
    # the per-model table's header: names folded onto lines where narrow, never cut
    title = next(i for i, line in enumerate(lines) if "per model, all prompts" in line)
    end = next(i for i, line in enumerate(lines) if i > title and line.startswith("┡"))
    header = lines[title + 2 : end]  # below the title and the table's top border
    cells = [[cell.strip() for cell in line.strip("┃").split("┃")] for line in header]
    assert ["".join(column) for column in zip(*cells, strict=True)] == ["", *MODELS, "total"]


def test_comparing_runs_fits_80_columns(lab: tuple[str, RunResults]) -> None:
    database, results = lab
    shown = _lab("compare", results.run.id, results.run.id, "--database", database)
    openai = results.summary(None, OPENAI_MODEL)
    assert openai is not None
    (row,) = [line.split() for line in shown.splitlines() if line.startswith(OPENAI_MODEL)]
    assert row == [OPENAI_MODEL, "1/1", "(100%)", "1/1", "(100%)", *[written(openai.cost)] * 2]
    assert "$/pass and p50 latency: a wider terminal or --json" in shown


def test_the_chart_axis_reads_as_dollars(
    browser: Browser,  # noqa: F811
    lab: tuple[str, RunResults],
) -> None:
    database, results = lab
    with open_store(database) as store:
        web = dashboard(store)
        with served(gateway_with(web)) as url:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{url}/lab/{results.run.id}")
            page.wait_for_selector("#lab-chart svg.main-svg")
            ticks = page.locator("#lab-chart .xtick text").all_text_contents()
            cost = page.locator("#lab-cost span.money")
            assert cost.inner_text() == written(results.ledger_total)
            assert cost.get_attribute("title") == f"${results.ledger_total.normalize():f}"
            page.close()
        web.close()
    assert len(ticks) >= 3, ticks
    for tick in ticks:  # $0.00001, $0.0002, ...: a dollar sign and plain digits
        assert tick.startswith("$0") and tick[1:].replace(".", "").isdigit(), ticks
