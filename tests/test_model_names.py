"""One model name works in every command that takes one, and a typo's suggestions
are names those commands take back (with their provider prefix)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtally.catalog import Catalog
from llmtally.cli import app
from llmtally.selfhost.tables import load_models


@pytest.fixture
def run(tmp_path: Path):  # type: ignore[no-untyped-def]
    runner = CliRunner()
    env = {"LLMTALLY_HOME": str(tmp_path / "home"), "LLMTALLY_PRICES": ""}

    def invoke(*args: str, stdin: str | None = None):  # type: ignore[no-untyped-def]
        return runner.invoke(app, list(args), env=env, input=stdin)

    return invoke


# The same open model as the self-hosting table and the price catalog name it.
LLAMA_70B = ["llama-3.1-70b", "local/llama-3.1-70b-instruct", "meta-llama/Llama-3.1-70B-Instruct"]


@pytest.mark.parametrize("name", LLAMA_70B)
def test_selfhost_and_count_take_the_same_name(run, name: str) -> None:
    counted = run("count", "--compare", name, "--json", stdin="hello world")
    assert counted.exit_code == 0, counted.output
    assert json.loads(counted.stdout)["model"] == "local/llama-3.1-70b-instruct"
    planned = run("selfhost", "--model", name, "--json")
    assert planned.exit_code == 0, planned.output
    assert json.loads(planned.stdout)["model"]["name"] == "llama-3.1-70b"


def test_selfhost_takes_a_hosts_own_model_id() -> None:
    # Groq and Together serve Llama 3.3 70B under their own ids: the catalog finds
    # them, and the table knows them as the same weights.
    table, catalog = load_models(), Catalog.load()
    for name in (
        "groq/llama-3.3-70b-versatile",
        "together/meta-llama/Llama-3.3-70B-Instruct-Turbo",
    ):
        assert table.find(name, catalog).id == "llama-3.3-70b"


def test_a_typos_suggestions_keep_the_provider_prefix(run) -> None:
    counted = run("count", "--compare", "smolm2", stdin="hello")
    assert counted.exit_code != 0
    assert "nearest known: local/smollm2" in counted.stderr
    priced = run("cost", "--provider", "local", "--model", "smolm2", "--usage", "{}")
    assert priced.exit_code == 1
    assert "nearest known: local/smollm2" in priced.stderr
    listed = run("prices", "gpt-4o-minii")
    assert "openai/gpt-4o-mini" in listed.stderr
