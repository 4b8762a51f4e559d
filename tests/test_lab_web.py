"""The lab's dashboard pages through ASGI: the runs, one run's matrix, bad input
as a 400/404 page that says why, and outputs escaped."""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from browser_support import dashboard, fetch
from llmtally.lab.checks import CheckResult
from llmtally.lab.report import results_json
from llmtally.lab.results import load_results
from llmtally.lab.store import CellRecord, LabStore
from llmtally.ledger import Store, open_store
from llmtally.web import Dashboard
from llmtally.web.lab_pages import frontier_figure

PLAN = {
    "description": "hand-made",
    "prompts": [{"id": "p1", "system": None, "user": "Say {x}"}],
    "models": [{"name": "m-a"}, {"name": "m-b"}],
    "checks": ["contains ok"],
    "rows": 1,
    "repetitions": 1,
    "dataset": None,
}


def _cell(run_id: str, key: str, model: str, output: str, passed: bool) -> CellRecord:
    return CellRecord(
        run_id=run_id,
        cell_key=key,
        prompt_id="p1",
        row_index=0,
        model=model,
        repetition=1,
        row={"x": "<b>hi</b>"},
        status="ok",
        output=output,
        call_id=None,
        attempts=1,
        error=None,
        checks=(CheckResult("contains ok", passed, "" if passed else "'ok' not found"),),
        passed=passed,
        client_latency_ms=12.0,
        client_ttft_ms=5.0,
        finished_at=dt.datetime(2026, 11, 28, tzinfo=dt.UTC),
    )


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Dashboard, Store, str]]:
    with open_store(f"sqlite:///{tmp_path / 'ledger.sqlite3'}") as store:
        lab = LabStore(store)
        run = lab.create_run("handmade", "/x/exp.yaml", "f" * 16, PLAN, 2, None, "in-process")
        lab.save_cell(_cell(run.id, "k1", "m-a", "ok <script>alert(1)</script>", True))
        lab.save_cell(_cell(run.id, "k2", "m-b", "nope", False))
        web = dashboard(store)
        yield web, store, run.id
        web.close()


def _error(body: str) -> str:
    found = re.search(r'id="error-message">(.*?)</p>', body, re.S)
    assert found, body[:500]
    return html.unescape(found.group(1))


def test_the_runs_page_lists_runs_and_links_to_each(site: tuple[Dashboard, Store, str]) -> None:
    web, _, run_id = site
    page = fetch(web, "/lab")
    assert page.status_code == 200
    assert f'href="/lab/{run_id}"' in page.text and "handmade" in page.text


def test_a_run_page_shows_outputs_escaped_side_by_side(site: tuple[Dashboard, Store, str]) -> None:
    web, _, run_id = site
    page = fetch(web, f"/lab/{run_id}")
    assert page.status_code == 200
    assert "<script>alert(1)</script>" not in page.text
    assert "ok &lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "&lt;b&gt;hi&lt;/b&gt;" in page.text  # row values too
    row = re.search(r'<tr class="output-row">(.*?)</tr>', page.text, re.S)
    assert row is not None
    assert re.findall(r'data-model="([^"]+)"', row.group(1)) == ["m-a", "m-b"]
    assert "✗ contains ok: &#39;ok&#39; not found" in page.text
    assert 'id="lab-figure"' in page.text  # the chart's data


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/lab/nope", 404, "no lab run 'nope' in this ledger."),
        ("/lab?x=1", 400, "unknown parameter x; this page takes none"),
        ("/lab/abc%00", 400, "run: contains control characters"),
    ],
)
def test_bad_lab_urls_say_why(
    site: tuple[Dashboard, Store, str], path: str, status: int, message: str
) -> None:
    page = fetch(site[0], path)
    assert page.status_code == status
    assert _error(page.text) == message


def test_an_empty_ledger_says_how_to_start(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'ledger.sqlite3'}") as store:
        web = dashboard(store)
        page = fetch(web, "/lab")
        web.close()
    assert page.status_code == 200 and "llmtally lab run examples/lab-quickstart.yaml" in page.text


def test_the_figure_marks_the_frontier(site: tuple[Dashboard, Store, str]) -> None:
    _, store, run_id = site
    results = load_results(LabStore(store), run_id)
    assert results_json(results)["total"]["passed"] == 1
    figure = frontier_figure(results)
    assert figure is not None
    a, b, line = figure["data"]  # one trace per model, then the frontier
    assert (a["name"], a["text"], a["y"]) == ("m-a", ["p1 / m-a"], [1.0])
    assert (b["name"], b["text"], b["y"]) == ("m-b", ["p1 / m-b"], [0.0])
    assert line["name"] == "efficient frontier"
    # no ledger rows: both cost $0 per answer, and m-a passes more, so m-a alone is on it
    assert figure["frontier"] == ["p1 / m-a"] and results.total.cost == Decimal(0)
