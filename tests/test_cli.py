"""The command line: tables, JSON, JSONL with per-line errors, exit codes."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtally.cli import app


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LLMTALLY_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("LLMTALLY_PRICES", raising=False)
    runner = CliRunner()

    def invoke(*args: str, stdin: str | None = None):
        return runner.invoke(app, list(args), input=stdin)

    return invoke


def test_prices_json_lists_matching_models(run) -> None:
    result = run("prices", "gpt-4o", "--json")
    assert result.exit_code == 0, result.output
    rows = {r["model"]: r for r in json.loads(result.stdout)}
    assert Decimal(rows["gpt-4o"]["input_per_1m"]) == Decimal("2.50")
    assert Decimal(rows["gpt-4o"]["output_per_1m"]) == Decimal("10")
    assert all("gpt-4o" in name for name in rows)


def test_prices_table_shows_unit_prices(run) -> None:
    result = run("prices", "openai/gpt-4o")
    assert result.exit_code == 0, result.output
    assert "gpt-4o" in result.stdout
    assert "$2.5" in result.stdout


def test_prices_for_an_unknown_pattern_names_near_models(run) -> None:
    result = run("prices", "gtp-4o")
    assert result.exit_code == 1
    assert "unknown model 'gtp-4o'" in result.stderr
    assert "gpt-4o" in result.stderr


def test_cost_of_one_usage_object(run) -> None:
    usage = '{"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500}'
    result = run(
        "cost", "--provider", "openai", "--model", "gpt-4o", "--usage", usage, "--at", "2025-01-01"
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    # 1000 x $2.50/1M + 500 x $10/1M = $0.0025 + $0.005
    assert Decimal(out["cost_usd"]) == Decimal("0.0075")
    assert Decimal(out["breakdown"]["output"]) == Decimal("0.005")
    assert out["price"]["effective"] == "2024-10-02"
    assert out["error"] is None


def test_cost_batch_tier_flag(run) -> None:
    usage = '{"prompt_tokens": 1000000, "completion_tokens": 1000000}'
    result = run(
        "cost", "-p", "openai", "-m", "gpt-4o", "-u", usage, "--at", "2025-01-01", "--tier", "batch"
    )
    assert result.exit_code == 0, result.output
    assert Decimal(json.loads(result.stdout)["cost_usd"]) == Decimal("6.25")


def test_cost_with_malformed_usage_json(run) -> None:
    result = run("cost", "-p", "openai", "-m", "gpt-4o", "-u", "{prompt_tokens: 1")
    assert result.exit_code == 2
    assert "--usage: malformed JSON at column 2" in result.stderr


def test_cost_jsonl_prices_good_lines_and_names_bad_ones(run, tmp_path: Path) -> None:
    good = {
        "provider": "openai",
        "model": "gpt-4o",
        "timestamp": "2025-01-01T00:00:00Z",
        "usage": {"prompt_tokens": 1000, "completion_tokens": 500},
    }
    lines = [
        json.dumps(good),
        "{not json",
        json.dumps(good | {"usage": {"prompt_tokens": -5, "completion_tokens": 1}}),
        json.dumps(good | {"model": "gpt-4x"}),
        "",
        json.dumps(good | {"service_tier": "cheap"}),
        json.dumps(good | {"colour": "red"}),
        json.dumps(good),
    ]
    path = tmp_path / "calls.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = run("cost", "--jsonl", str(path))
    assert result.exit_code == 1
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(out) == 7  # the blank line yields nothing
    assert Decimal(out[0]["cost_usd"]) == Decimal("0.0075")
    assert out[1]["error"].startswith("line 2: malformed JSON at column 2")
    assert out[2]["error"].startswith("line 3: ")
    assert "prompt_tokens" in out[2]["error"] and "-5" in out[2]["error"]
    assert out[3]["error"].startswith("line 4: unknown model 'gpt-4x'")
    assert out[4]["error"].startswith("line 6: service_tier: must be one of")
    assert out[5]["error"] == "line 7: unknown field(s): colour"
    assert Decimal(out[6]["cost_usd"]) == Decimal("0.0075")


def test_cost_jsonl_from_stdin_all_good_exits_zero(run) -> None:
    line = json.dumps(
        {
            "provider": "openai",
            "model": "gpt-4o",
            "timestamp": 1735689600,
            "usage": {"prompt_tokens": 10, "completion_tokens": 10},
        }
    )
    result = run("cost", "--jsonl", "-", stdin=line + "\n")
    assert result.exit_code == 0, result.output
    assert Decimal(json.loads(result.stdout)["cost_usd"]) == Decimal("0.000125")


def test_cost_jsonl_missing_file(run, tmp_path: Path) -> None:
    result = run("cost", "--jsonl", str(tmp_path / "nope.jsonl"))
    assert result.exit_code == 2
    assert "nope.jsonl: No such file or directory" in result.stderr


def test_a_broken_override_file_is_reported_not_ignored(run, tmp_path: Path) -> None:
    override = tmp_path / "prices.yaml"
    override.write_text("discounts:\n  - {provider: openai, factor: '-1'}\n")
    result = run("prices", "gpt-4o", "--prices-file", str(override))
    assert result.exit_code == 2
    assert "prices.yaml:2: discounts.0.factor: Input should be greater than 0" in result.stderr


FIXTURES = Path(__file__).parent / "fixtures" / "import"


# A LiteLLM file of two models: gpt-4o (hand-checked here, with batch prices and a
# context window the file leaves out) and a model the catalog does not know.
TWO_MODELS = {
    "gpt-4o": {"litellm_provider": "openai", "mode": "chat",
               "input_cost_per_token": 9.99e-06, "output_cost_per_token": 3e-05},
    "gpt-brand-new": {"litellm_provider": "openai", "mode": "chat", "max_input_tokens": 64000,
                      "input_cost_per_token": 1.5e-06, "output_cost_per_token": 6e-06},
}  # fmt: skip


def test_an_import_keeps_what_the_hand_checked_files_know(run, tmp_path: Path) -> None:
    source = tmp_path / "two.json"
    source.write_text(json.dumps(TWO_MODELS))
    result = run("prices", "import", "--format", "litellm", str(source))
    assert result.exit_code == 0, result.output
    assert "imported 2 models" in result.stdout
    assert "1 imported model(s) keep their hand-checked prices" in result.stdout
    assert "openai/gpt-4o" in result.stdout
    rows = {r["model"]: r for r in json.loads(run("prices", "gpt-4o", "--json").stdout)}
    # gpt-4o as hand-checked (since 2024-10-02): $2.50 / $10, batch $1.25 / $5, 128K context
    hand = rows["gpt-4o"]
    assert (Decimal(hand["input_per_1m"]), Decimal(hand["output_per_1m"])) == (2.5, 10)
    assert (Decimal(hand["batch_input_per_1m"]), Decimal(hand["batch_output_per_1m"])) == (
        Decimal("1.25"),
        5,
    )
    assert hand["context_window"] == 128000
    (new,) = json.loads(run("prices", "gpt-brand-new", "--json").stdout)
    assert (Decimal(new["input_per_1m"]), Decimal(new["output_per_1m"])) == (Decimal("1.5"), 6)
    assert new["context_window"] == 64000


def test_prices_import_of_malformed_json_names_the_line(run) -> None:
    result = run("prices", "import", "--format", "litellm", str(FIXTURES / "malformed.json"))
    assert result.exit_code == 2
    assert "malformed.json:3" in result.stderr
    assert "not valid JSON" in result.stderr


def test_prices_import_needs_a_known_format(run) -> None:
    result = run("prices", "import", "--format", "csv", str(FIXTURES / "litellm_small.json"))
    assert result.exit_code == 2
    assert "--format must be one of litellm, genai-prices" in result.stderr
