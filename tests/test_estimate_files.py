"""Workload files: the examples, bad input (file, field path, reason), the command."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtally.catalog import Catalog
from llmtally.cli import app
from llmtally.estimate import WorkloadError, estimate, read_workload

EXAMPLES = Path(__file__).parents[1] / "examples"
# Workload files are the examples with a top-level `requests:` (others belong to other commands).
WORKLOADS = sorted(
    p for p in EXAMPLES.glob("*.yaml") if re.search(r"(?m)^requests:", p.read_text("utf-8"))
)
CLASSIC = {
    "classic-comparison.yaml": {"openai/gpt-4": "90", "openai/gpt-3.5-turbo": "3.50"},
    "classic-batch.yaml": {"openai/gpt-4o-mini": "0.75"},
    "classic-o1-mini.yaml": {"openai/o1-mini": "7.50"},
    "classic-images.yaml": {"openai/dall-e-3": "2.00", "openai/dall-e-2": "1.00"},
}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LLMTALLY_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("LLMTALLY_PRICES", raising=False)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args))


def test_the_examples_are_there() -> None:
    names = {p.name for p in WORKLOADS}
    assert {"support-bot.yaml", "rag-search.yaml", "agent.yaml", *CLASSIC} <= names


@pytest.mark.parametrize("path", WORKLOADS, ids=lambda p: p.name)
def test_every_example_estimates_every_model_it_names(catalog: Catalog, path: Path) -> None:
    est = estimate(read_workload(path), catalog=catalog)
    assert est.models
    for row in est.models:
        assert row.error is None, (row.model, row.error)
        assert row.per_month is not None and row.per_month > 0
        assert row.per_month == sum(row.components.values()) == sum(row.sources.values())
    months = [row.per_month for row in est.models]
    assert months == sorted(months)  # cheapest first


@pytest.mark.parametrize("name", sorted(CLASSIC))
def test_the_classic_example_files(catalog: Catalog, name: str) -> None:
    est = estimate(read_workload(EXAMPLES / name), catalog=catalog)
    assert {row.model: row.per_month for row in est.models} == {
        model: Decimal(total) for model, total in CLASSIC[name].items()
    }


# --- bad input -------------------------------------------------------------------------

GOOD = """\
name: bad input
models: [openai/gpt-4o-mini]
requests:
  per_day: 100
request:
  system_prompt: 500
  user_input: 100
  output: 50
  cache:
    hit_rate: 0.5
"""


def _fails(tmp_path: Path, text: str) -> str:
    path = tmp_path / "work.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(WorkloadError) as caught:
        estimate(read_workload(path), catalog=Catalog.load())
    return str(caught.value).replace(str(path), "FILE")


def test_the_good_file_is_good(tmp_path: Path, catalog: Catalog) -> None:
    path = tmp_path / "work.yaml"
    path.write_text(GOOD, encoding="utf-8")
    row = estimate(read_workload(path), catalog=catalog).models[0]
    assert row.error is None and row.per_month


BAD = {  # id: (text replaced, replacement, expected message)
    "wrong-field": (
        "hit_rate: 0.5", "hit_rat: 0.5",
        "FILE:10: request.cache.hit_rat: Extra inputs are not permitted",
    ),
    "negative-count": (
        "user_input: 100", "user_input: -5",
        "FILE:7: request.user_input.tokens: Input should be greater than or equal to 0",
    ),
    "rate-above-1": (
        "hit_rate: 0.5", "hit_rate: 1.5",
        "FILE:10: request.cache.hit_rate: Input should be less than or equal to 1",
    ),
    "negative-rate": (
        "per_day: 100", "per_day: -1",
        "FILE:4: requests.per_day: Input should be greater than or equal to 0",
    ),
    "unknown-model": (
        "gpt-4o-mini]", "gpt-4o-mini, gpt-5o]",
        "FILE:2: models.1: unknown model 'gpt-5o'; nearest known: openai/gpt-5",
    ),
    "typo": (
        "  output: 50\n", "  output: 50\n  outptu: 3\n",
        "FILE:9: request.outptu: Extra inputs are not permitted",
    ),
    "two-rates": (
        "per_day: 100", "per_day: 100\n  per_month: 3",
        "FILE:4: requests: Value error, requests takes exactly one of 'per_day', 'per_month'",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_names_file_line_field_and_reason(tmp_path: Path, case: str) -> None:
    old, new, expected = BAD[case]
    assert old in GOOD
    message = _fails(tmp_path, GOOD.replace(old, new))
    assert expected in message, message


def test_more_bad_input(tmp_path: Path) -> None:
    tiers = GOOD + "tiers: {batch: 0.7, flex: 0.6}\n"
    assert "FILE:11: tiers: Value error, tier shares add up to 1.3, above 1" in _fails(
        tmp_path, tiers
    )
    langs = GOOD + "languages: {en: 0.5, fr: 0.2}\n"
    assert "FILE:11: languages: Value error, language shares add up to 0.7, not 1" in _fails(
        tmp_path, langs
    )
    background = GOOD + "background:\n  - {name: t, per_request: 1, model: claude-9, output: 1}\n"
    message = _fails(tmp_path, background)
    assert "FILE:12: background.0.model: unknown model 'claude-9'" in message
    prefix = GOOD.replace("hit_rate: 0.5", "hit_rate: 0.5\n    prefix: [context]")
    assert "FILE:6: request: Value error, cache.prefix names context, which this call lacks" in (
        _fails(tmp_path, prefix)
    )
    missing = GOOD.replace("user_input: 100", "user_input: {file: nope.txt}")
    assert re.search(
        r"FILE:7: request\.user_input\.file: cannot read .*nope\.txt", _fails(tmp_path, missing)
    )
    assert "FILE:1: a workload file is a mapping" in _fails(tmp_path, "- just a list\n")
    assert "FILE:3: not valid YAML" in _fails(tmp_path, "requests:\n  per_day: [1\n")


def test_the_command_prints_nothing_on_bad_input(tmp_path: Path, run) -> None:
    path = tmp_path / "work.yaml"
    path.write_text(GOOD.replace("hit_rate: 0.5", "hit_rate: 2"), encoding="utf-8")
    html = tmp_path / "out.html"
    result = run("estimate", str(path), "--html", str(html))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert f"{path}:10: request.cache.hit_rate: Input should be less than or equal to 1" in (
        result.stderr
    )
    assert not html.exists()


def test_the_command_names_an_unknown_model_in_models(tmp_path: Path, run) -> None:
    path = tmp_path / "work.yaml"
    path.write_text(GOOD, encoding="utf-8")
    result = run("estimate", str(path), "--models", "gpt-4o-mini,gtp-4o")
    assert result.exit_code == 2 and result.stdout == ""
    assert "--models: unknown model 'gtp-4o'" in result.stderr


def test_the_command_json_and_table(run) -> None:
    path = EXAMPLES / "classic-comparison.yaml"
    data = json.loads(run("estimate", str(path), "--json").stdout)
    assert [(m["model"], m["per_month"]) for m in data["models"]] == [
        ("openai/gpt-3.5-turbo", "3.5"),
        ("openai/gpt-4", "90"),
    ]
    table = run("estimate", str(path))
    assert table.exit_code == 0, table.output
    assert "$90.00" in table.stdout and "$3.50" in table.stdout
    assert table.stdout.index("gpt-3.5-turbo") < table.stdout.index("gpt-4 ")


def test_the_command_writes_a_self_contained_page(tmp_path: Path, run) -> None:
    out = tmp_path / "support.html"
    result = run("estimate", str(EXAMPLES / "support-bot.yaml"), "--html", str(out))
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    assert "Plotly.newPlot" in page and len(page) > 1_000_000  # plotly.min.js inlined
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=", page)  # nothing fetched
    assert "openai/gpt-4o-mini" in page


def test_the_command_needs_a_workload_or_the_ledger(run) -> None:
    result = run("estimate")
    assert result.exit_code == 2
    assert "give a workload file" in result.stderr
