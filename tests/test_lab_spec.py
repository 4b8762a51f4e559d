"""The experiment file: templates, datasets, and every bad input refused with
file, line, field path and reason BEFORE any call reaches an upstream."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from lab_support import ANTHROPIC_MODEL, OPENAI_MODEL, Quiet, gateway_config, write
from llmtally.catalog import Catalog
from llmtally.cli import app
from llmtally.gateway.config import GatewayConfig
from llmtally.lab.plan import build_plan
from llmtally.lab.session import LabOptions, run_experiment
from llmtally.lab.spec import ExperimentError
from llmtally.lab.template import render, variables
from replay_upstream import ReplayUpstream

BASE = f"""\
name: spec-test
prompts:
  - id: ask
    system: "You are {{persona}}."
    user: "Question: {{question}}"
models:
  - {{model: {OPENAI_MODEL}, max_tokens: 16}}
  - {{model: {ANTHROPIC_MODEL}, max_tokens: 16}}
"""
ROWS = """\
dataset:
  - {persona: terse, question: one}
  - {persona: kind, question: two}
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LLMTALLY_HOME", str(tmp_path / "home"))
    return tmp_path


def _config(url: str = "http://127.0.0.1:9") -> GatewayConfig:
    return GatewayConfig.model_validate(
        {
            "upstreams": {
                "openai": {"kind": "openai", "base_url": url},
                "anthropic": {"kind": "anthropic", "base_url": url, "api_key_env": "NO_SUCH_KEY"},
            },
            "routes": [
                {"match": "claude-*", "upstream": "anthropic"},
                {"match": "*", "upstream": "openai"},
            ],
        }
    )


def _plan_error(path: Path, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ExperimentError) as caught:
        build_plan(path, _config(), Catalog.load(), environ)
    return str(caught.value)


def test_templates_replace_names_and_keep_other_braces() -> None:
    template = 'Say {{hi}} to {name} as JSON {"name": "{name}", "n": {count}} {not a var}'
    assert variables(template) == ["name", "count"]
    assert render(template, {"name": "Ada", "count": "2"}) == (
        'Say {hi} to Ada as JSON {"name": "Ada", "n": 2} {not a var}'
    )
    with pytest.raises(KeyError):
        render("{missing}", {})


def test_a_good_experiment_expands_to_every_cell(tmp_path: Path) -> None:
    path = write(tmp_path, "exp.yaml", BASE + ROWS + "repetitions: 2\n")
    plan = build_plan(path, _config(), Catalog.load(), None)
    assert len(plan.cells) == 1 * 2 * 2 * 2  # prompts x rows x models x repetitions
    assert len({c.key for c in plan.cells}) == len(plan.cells)
    first = plan.cells[0]
    assert (first.system, first.user) == ("You are terse.", "Question: one")
    assert [t.wire.name for t in plan.targets.values()] == ["openai_chat", "anthropic"]
    again = build_plan(path, _config(), Catalog.load(), None)
    assert again.fingerprint == plan.fingerprint  # the same file: the same run


@pytest.mark.parametrize(
    ("data_name", "content", "expected"),
    [
        (
            "rows.csv",
            "persona,question\nterse,one\nkind,two,extra\n",
            "rows.csv:3: row 2 has 3 values",
        ),
        (
            "rows.jsonl",
            '{"persona": "a", "question": "b"}\n{"persona": \n',
            "rows.jsonl:2: row 2 is not valid JSON",
        ),
        (
            "rows.jsonl",
            '{"persona": "a", "question": "b"}\n[1, 2]\n',
            "rows.jsonl:2: row 2 is a list",
        ),
        ("rows.csv", "persona,persona\na,b\n", "rows.csv:1: column 'persona' appears twice"),
        ("rows.txt", "x", "dataset: 'rows.txt' is not a .csv, .jsonl or .json file"),
    ],
)
def test_malformed_dataset_rows_name_the_file_and_line(
    tmp_path: Path, data_name: str, content: str, expected: str
) -> None:
    write(tmp_path, data_name, content)
    path = write(tmp_path, "exp.yaml", BASE + f"dataset: {data_name}\n")
    assert expected in _plan_error(path)


def test_file_datasets_are_read_relative_to_the_experiment(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    write(tmp_path / "data", "rows.csv", 'persona,question\nterse,one\nkind,"two, three"\n')
    path = write(tmp_path, "exp.yaml", BASE + "dataset: data/rows.csv\n")
    plan = build_plan(path, _config(), Catalog.load(), None)
    assert [c.user for c in plan.cells[::2]] == ["Question: one", "Question: two, three"]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        # a template variable the dataset does not have
        (
            ROWS.replace("persona: kind", "mood: kind").replace("persona: terse", "mood: terse"),
            "exp.yaml:4: prompts.0.system: variable {persona} is not in the dataset "
            "(columns: mood, question)",
        ),
        # present in one row only
        (
            ROWS.replace("persona: kind, ", ""),
            "dataset: row 2: {persona} is missing (used by prompts.0.system)",
        ),
        # an unknown field (typo) is refused, not ignored
        (ROWS + "repetitons: 2\n", "repetitons: Extra inputs are not permitted"),
        (ROWS + "checks:\n  - regex: '(unclosed'\n", "checks.0.regex: not a regular expression"),
        (
            ROWS + "checks:\n  - json_schema: {type: nonsense}\n",
            "checks.0.json_schema: not a valid JSON schema",
        ),
        (ROWS + "checks:\n  - contains: x\n    regex: y\n", "a check has exactly one of"),
        (ROWS + "checks:\n  - python: nowhere.py:check\n", "checks.0.python: no Python file at"),
        (
            ROWS + "checks:\n  - contains: '{answer}'\n",
            "checks.0.contains: variable {answer} is not in the dataset",
        ),
    ],
)
def test_bad_experiments_say_where_and_why(tmp_path: Path, extra: str, expected: str) -> None:
    path = write(tmp_path, "exp.yaml", BASE + extra)
    message = _plan_error(path)
    assert str(tmp_path / "exp.yaml") in message
    assert expected in message


def test_unknown_models_and_missing_keys_are_refused(tmp_path: Path) -> None:
    unknown = write(
        tmp_path, "exp.yaml", BASE.replace(OPENAI_MODEL, "gpt-9-turbo-nonexistent") + ROWS
    )
    message = _plan_error(unknown)
    assert "exp.yaml:7: models.0.model: unknown model" in message
    assert "gpt-9-turbo-nonexistent" in message
    keyless = write(tmp_path, "exp2.yaml", BASE + ROWS)
    message = _plan_error(keyless, environ={})
    assert "models.1.model:" in message and "$NO_SUCH_KEY" in message
    twice = write(tmp_path, "exp3.yaml", BASE + f"  - {{model: {OPENAI_MODEL}}}\n" + ROWS)
    assert "models.2.model: 'gpt-4o-mini' is used twice" in _plan_error(twice)


@pytest.mark.parametrize(
    "broken",
    [
        BASE.replace("{question}", "{questoin}") + ROWS,  # a variable the dataset lacks
        BASE.replace(ANTHROPIC_MODEL, "claude-nonexistent-9") + ROWS,  # an unknown model
        BASE + "dataset: rows.csv\n",  # a malformed row (below)
    ],
)
def test_no_request_reaches_the_upstream_when_the_experiment_is_bad(
    home: Path, replay_upstream: ReplayUpstream, broken: str
) -> None:
    write(home, "rows.csv", "persona,question\nterse\n")
    path = write(home, "exp.yaml", broken)
    config = gateway_config(home, replay_upstream.url)
    database = f"sqlite:///{home / 'ledger.sqlite3'}"
    with pytest.raises(ExperimentError):
        run_experiment(path, LabOptions(config=config, database_url=database), Quiet())
    result = CliRunner().invoke(
        app, ["lab", "run", str(path), "--config", str(config), "--database-url", database]
    )
    assert result.exit_code == 2
    assert "exp.yaml" in result.output or "rows.csv" in result.output
    assert replay_upstream.served == []  # nothing was sent, so nothing was paid
