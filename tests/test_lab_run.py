"""The lab end to end: two prompts x three models (the embedded local model and
two replayed upstreams, OpenAI and Anthropic) through an in-process gateway,
into the same ledger; the matrix, and totals equal to the ledger rows tagged
with the run (read in plain SQL)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lab_support import (
    ANTHROPIC_MODEL,
    ANTHROPIC_TEXT,
    OPENAI_MODEL,
    OPENAI_TEXT,
    Quiet,
    gateway_config,
    money,
    rows_per_cell,
    run_rows,
    tags,
    write,
)
from llmtally.cli import app
from llmtally.lab.results import RunResults, load_results
from llmtally.lab.session import LabOptions, RunOutcome, run_experiment
from llmtally.lab.store import LabStore
from llmtally.ledger import Store, open_store
from replay_upstream import ReplayUpstream

LOCAL = "local/smollm2"
EXPERIMENT = f"""\
name: side-by-side
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
  - {{model: {LOCAL}, temperature: 0, max_tokens: 8}}
  - {{model: {OPENAI_MODEL}, temperature: 0, max_tokens: 32}}
  - {{model: {ANTHROPIC_MODEL}, max_tokens: 32}}
checks:
  - contains: Hello
"""


class Ran:
    def __init__(
        self, tmp: Path, upstream: ReplayUpstream, outcome: RunOutcome, database: str
    ) -> None:
        self.tmp, self.upstream, self.outcome, self.database = tmp, upstream, outcome, database
        self.config = tmp / "llmtally.yaml"
        self.experiment = tmp / "exp.yaml"

    def results(self) -> RunResults:
        with open_store(self.database) as store:
            return load_results(LabStore(store), self.outcome.run.id)

    def store(self) -> Store:
        return open_store(self.database)


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ran]:
    tmp = tmp_path_factory.mktemp("lab")
    with pytest.MonkeyPatch.context() as patch, ReplayUpstream() as upstream:
        patch.setenv("LLMTALLY_HOME", str(tmp / "home"))
        config = gateway_config(tmp, upstream.url, local=True)
        path = write(tmp, "exp.yaml", EXPERIMENT)
        database = f"sqlite:///{tmp / 'ledger.sqlite3'}"
        outcome = run_experiment(path, LabOptions(config=config, database_url=database), Quiet())
        yield Ran(tmp, upstream, outcome, database)


def test_the_run_fills_every_prompt_x_model_cell(ran: Ran) -> None:
    assert ran.outcome.run.status == "complete"
    assert ran.outcome.tally.ran == 12 and ran.outcome.tally.failed == 0
    results = ran.results()
    assert results.prompts == ["greet", "formal"]
    assert results.models == [LOCAL, OPENAI_MODEL, ANTHROPIC_MODEL]
    for prompt in results.prompts:
        for model in results.models:
            summary = results.summary(prompt, model)
            assert summary is not None and summary.cells == summary.answered == 2, (prompt, model)
    outputs: dict[str, set[str]] = {}
    for cell in results.cells:
        outputs.setdefault(cell.record.model, set()).add(cell.record.output or "")
    assert outputs[OPENAI_MODEL] == {OPENAI_TEXT}
    assert outputs[ANTHROPIC_MODEL] == {ANTHROPIC_TEXT}
    assert all(text.strip() for text in outputs[LOCAL])  # the local model really answered


def test_pass_rates_and_cost_per_passing_answer(ran: Ran) -> None:
    results = ran.results()
    openai, anthropic = results.summary(None, OPENAI_MODEL), results.summary(None, ANTHROPIC_MODEL)
    assert openai is not None and anthropic is not None
    assert openai.pass_rate == anthropic.pass_rate == 1.0  # both replies say "Hello"
    assert openai.cost_per_pass == openai.cost / 4
    local = results.summary(None, LOCAL)
    assert local is not None and local.checked
    passed = sum(1 for c in results.cells if c.record.model == LOCAL and c.record.passed)
    assert local.passed == passed and local.pass_rate == passed / 4
    assert local.latency_p50_ms is not None and local.latency_p95_ms is not None
    assert local.latency_p50_ms <= local.latency_p95_ms


def test_totals_equal_the_ledger_rows_tagged_with_the_run(ran: Ran) -> None:
    results = ran.results()
    with ran.store() as store:
        rows = run_rows(store, ran.outcome.run.id)
    assert len(rows) == 12 == results.ledger_calls
    assert all(n == 1 for n in rows_per_cell(rows).values())  # one call per cell
    ledger_total = sum((money(r["cost_total"]) for r in rows), Decimal(0))
    assert ledger_total > 0
    assert results.total.cost == results.ledger_total == ledger_total
    for model in results.models:
        summary = results.summary(None, model)
        assert summary is not None
        mine = [r for r in rows if r["model_requested"] == model]
        assert summary.cost == sum((money(r["cost_total"]) for r in mine), Decimal(0)), model
        assert summary.input_tokens == sum(r["input_tokens"] for r in mine), model
        assert summary.output_tokens == sum(r["output_tokens"] for r in mine), model
    for row in rows:
        assert row["feature"] == "lab"
        assert tags(row) == ["lab", f"lab-run:{ran.outcome.run.id}"]


def test_each_cell_shows_its_ledger_rows_tokens_cost_latency_and_ttft(ran: Ran) -> None:
    results = ran.results()
    with ran.store() as store:
        by_id = {r["id"]: r for r in run_rows(store, ran.outcome.run.id)}
    for cell in results.cells:
        assert cell.call is not None
        row = by_id[cell.call.id]
        assert cell.spent == money(row["cost_total"])
        assert cell.call.usage.output_tokens == row["output_tokens"]
        assert cell.latency_ms == row["latency_ms"]
        assert cell.ttft_ms is not None and cell.ttft_ms == row["ttft_ms"]  # streamed


def test_every_upstream_call_was_streamed(ran: Ran) -> None:
    assert len(ran.upstream.served) == 8  # 2 prompts x 2 rows x 2 replayed models
    assert all(served.json["stream"] is True for served in ran.upstream.served)
    systems = [s.json.get("system") for s in ran.upstream.served if s.path == "/v1/messages"]
    assert systems.count("You are formal and brief.") == 2


def test_show_json_and_a_second_run_resumes_with_no_new_call(ran: Ran) -> None:
    runner = CliRunner()
    shown = runner.invoke(app, ["lab", "show", "--json", "--database-url", ran.database])
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.stdout)
    results = ran.results()
    assert data["run"]["id"] == ran.outcome.run.id
    assert Decimal(data["total"]["cost_usd"]) == results.total.cost
    assert Decimal(data["ledger"]["cost_usd"]) == results.ledger_total
    assert len(data["cells"]) == 12
    table = runner.invoke(
        app,
        ["lab", "show", ran.outcome.run.id[:4], "--database", ran.database],
        env={"COLUMNS": "200"},
    )
    assert table.exit_code == 0, table.output
    assert "prompts x models" in table.stdout and OPENAI_TEXT in table.stdout
    before = len(ran.upstream.served)
    again = runner.invoke(
        app,
        ["lab", "run", str(ran.experiment), "--config", str(ran.config)]
        + ["--database-url", ran.database, "--json"],
    )
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["run"]["id"] == ran.outcome.run.id
    assert len(ran.upstream.served) == before  # every cell was finished: nothing sent
    with ran.store() as store:
        assert len(run_rows(store, ran.outcome.run.id)) == 12


def test_the_quickstart_runs_on_the_local_model_with_no_api_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    quickstart = Path(__file__).parents[1] / "examples" / "lab-quickstart.yaml"
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "LLMTALLY_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LLMTALLY_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)  # no ./llmtally.yaml: the built-in default config
    database = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    outcome = run_experiment(quickstart, LabOptions(database_url=database), Quiet())
    assert outcome.run.status == "complete"
    with open_store(database) as store:
        results = load_results(LabStore(store), outcome.run.id)
    assert results.models == [LOCAL] and results.total.answered == 6
    assert results.total.cost > 0 and results.total.cost == results.ledger_total
    assert all(c.call is not None and c.call.provider == "local" for c in results.cells)
