"""Results maths (percentiles, the efficient frontier) and the commands that read
runs: compare, list, show of a missing run, resume of a changed experiment."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway_support import serve_process
from lab_support import ANTHROPIC_MODEL, OPENAI_MODEL, Quiet, gateway_config, run_rows, write
from llmtally.cli import app
from llmtally.lab.results import frontier, percentile
from llmtally.lab.runner import LabError
from llmtally.lab.session import LabOptions, resume_run, run_experiment
from llmtally.lab.spec import ExperimentError
from llmtally.lab.store import LabStore
from llmtally.ledger import open_store
from replay_upstream import ReplayUpstream

EXPERIMENT = f"""\
name: compare
prompts:
  - id: hello
    user: "Say hello to {{who}}."
dataset: [{{who: Ada}}, {{who: Bob}}]
models:
  - {{model: {OPENAI_MODEL}, max_tokens: 16}}
  - {{model: {ANTHROPIC_MODEL}, max_tokens: 16}}
checks:
  - equals: Hello!
"""


def test_percentiles_interpolate_between_ranks() -> None:
    assert percentile([], 0.5) is None
    assert percentile([5.0], 0.95) == 5.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile([10.0, 0.0, 20.0], 0.5) == 10.0
    assert percentile([float(i) for i in range(1, 101)], 0.95) == pytest.approx(95.05)


def test_the_frontier_keeps_what_no_other_point_beats() -> None:
    points = [
        ("cheap-bad", Decimal("0.001"), 0.5),
        ("cheap-good", Decimal("0.001"), 0.8),  # beats cheap-bad
        ("mid", Decimal("0.01"), 0.9),
        ("pricey-worse", Decimal("0.05"), 0.85),  # beaten by mid
        ("best", Decimal("0.1"), 1.0),
    ]
    assert frontier(points) == ["cheap-good", "mid", "best"]
    assert frontier([("a", Decimal(1), 0.5), ("b", Decimal(1), 0.5)]) == ["a", "b"]  # ties stay


def test_compare_two_runs_of_one_experiment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, replay_upstream: ReplayUpstream
) -> None:
    monkeypatch.setenv("LLMTALLY_HOME", str(tmp_path / "home"))
    path = write(tmp_path, "exp.yaml", EXPERIMENT)
    config = gateway_config(tmp_path, replay_upstream.url)
    database = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    first = run_experiment(path, LabOptions(config=config, database_url=database), Quiet())
    options = LabOptions(config=config, database_url=database, new=True)
    second = run_experiment(path, options, Quiet())
    assert first.run.id != second.run.id and len(replay_upstream.served) == 8
    runner = CliRunner()
    result = runner.invoke(
        app, ["lab", "compare", first.run.id, second.run.id, "--json", "--database", database]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["shared_cells"], data["changed_outputs"], data["flipped_verdicts"]) == (4, 0, 0)
    by_model = {r["model"]: r for r in data["rows"] if r["prompt"] is None}
    assert by_model[ANTHROPIC_MODEL]["a"]["pass_rate"] == 1.0  # "Hello!" equals
    assert by_model[OPENAI_MODEL]["b"]["pass_rate"] == 0.0  # "Hello! How can I help?"
    assert by_model[OPENAI_MODEL]["b"]["cost_per_pass_usd"] is None  # nothing passed
    assert by_model[OPENAI_MODEL]["a"]["cost_usd"] == by_model[OPENAI_MODEL]["b"]["cost_usd"]
    table = runner.invoke(
        app,
        ["lab", "compare", first.run.id, second.run.id, "--database", database],
        env={"COLUMNS": "160"},
    )
    assert table.exit_code == 0 and "4 cells in both runs" in table.stdout
    listed = runner.invoke(app, ["lab", "list", "--json", "--database", database])
    assert [r["id"] for r in json.loads(listed.stdout)] == [second.run.id, first.run.id]
    missing = runner.invoke(app, ["lab", "show", "nope", "--database", database])
    assert missing.exit_code == 1 and "no lab run 'nope'" in missing.output
    # an edited experiment is a different run: resuming the old one says so
    write(tmp_path, "exp.yaml", EXPERIMENT.replace("max_tokens: 16}", "max_tokens: 17}"))
    with pytest.raises(ExperimentError, match="the experiment changed since run"):
        resume_run(first.run.id, LabOptions(config=config, database_url=database), Quiet())


def test_a_running_gateway_takes_the_lab_calls_into_its_ledger(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, replay_upstream: ReplayUpstream
) -> None:
    monkeypatch.setenv("LLMTALLY_HOME", str(tmp_path / "home"))
    path = write(tmp_path, "exp.yaml", EXPERIMENT)
    config = gateway_config(tmp_path, replay_upstream.url)
    nowhere = LabOptions(
        gateway="http://127.0.0.1:9", database_url=f"sqlite:///{tmp_path / 'n.db'}"
    )
    with pytest.raises(LabError, match="no llmtally gateway answers at http://127.0.0.1:9"):
        run_experiment(path, nowhere, Quiet())
    (tmp_path / "serve").mkdir()
    with serve_process(tmp_path / "serve", config.read_text()) as serve:
        elsewhere = f"sqlite:///{tmp_path / 'other.sqlite3'}"
        wrong = LabOptions(gateway=serve.url, database_url=elsewhere, ledger_wait_s=1.0)
        with pytest.raises(LabError, match="did not reach this ledger"):
            run_experiment(path, wrong, Quiet())
        options = LabOptions(config=config, gateway=serve.url, database_url=serve.database)
        outcome = run_experiment(path, options, Quiet())
    assert outcome.run.status == "complete" and outcome.run.gateway == serve.url
    with open_store(serve.database) as store:
        assert len(run_rows(store, outcome.run.id)) == 4
    with open_store(elsewhere) as store:
        (failed,) = LabStore(store).list_runs()
    assert failed.status == "failed" and "--database-url" in (failed.stop_reason or "")
