"""``llmtally count`` and the counting API: one model, compare, languages, bad input."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtally.cli import app
from llmtally.tokens.base import TokenizerUnavailableError
from llmtally.tokens.counting import count_tokens
from llmtally.tokens.registry import TokenizerRegistry, default_registry
from money_support import written

TEXT = "The quick brown fox jumps over the lazy dog. 敏捷的棕色狐狸跳过了懒狗。\n"


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    path = tmp_path / "sample.txt"
    path.write_text(TEXT * 20, encoding="utf-8")
    return path


def _run(*args: str, stdin: str | bytes | None = None):  # noqa: ANN202 - a Click Result
    return CliRunner().invoke(app, list(args), input=stdin)


def test_count_one_model_matches_the_tokenizer(sample: Path) -> None:
    result = _run("count", str(sample), "--model", "gpt-4o", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    expected = len(default_registry().get("o200k_base").encode(TEXT * 20))
    assert out == {
        "model": "openai/gpt-4o",
        "count": expected,
        "tokenizer": "o200k_base",
        "exact": True,
        "method": out["method"],
    }


def test_count_from_stdin(sample: Path) -> None:
    result = _run("count", "-", "--model", "gpt-4", stdin=TEXT)
    assert result.exit_code == 0, result.output
    expected = len(default_registry().get("cl100k_base").encode(TEXT))
    assert result.stdout.strip() == f"{expected:,} tokens for openai/gpt-4 (cl100k_base, exact)"


def test_compare_sorts_by_input_cost_and_prices_the_text(sample: Path) -> None:
    result = _run("count", str(sample), "--compare", "gpt-4o,gpt-4,claude-sonnet-4-5", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    costs = [Decimal(r["input_cost_usd"]) for r in rows]
    assert costs == sorted(costs)
    by_model = {r["model"]: r for r in rows}
    gpt4 = by_model["openai/gpt-4"]
    # gpt-4 (8K) input is $30 per 1M tokens (hand-checked catalog).
    assert Decimal(gpt4["input_cost_usd"]) == Decimal(gpt4["tokens"]) * 30 / 1_000_000
    assert by_model["anthropic/claude-sonnet-4-5"]["exact"] is False
    assert gpt4["characters"] == len(TEXT * 20)


def test_compare_shows_money_as_people_read_it(
    sample: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    result = _run("count", str(sample), "--compare", "gpt-4,gpt-4o")
    assert result.exit_code == 0, result.output
    tokens = len(default_registry().get("cl100k_base").encode(TEXT * 20))
    exact = Decimal(tokens) * 30 / 1_000_000  # gpt-4 (8K): $30 per 1M input tokens
    (row,) = [line.split() for line in result.stdout.splitlines() if "openai/gpt-4 " in line]
    assert row[-1] == written(exact) and row[-1] != f"${exact.normalize():f}"
    assert all(len(line) <= 80 for line in result.stdout.splitlines())
    out = json.loads(_run("count", str(sample), "--compare", "gpt-4,gpt-4o", "--json").stdout)
    gpt4 = next(r for r in out if r["model"] == "openai/gpt-4")
    assert Decimal(gpt4["input_cost_usd"]) == exact  # --json keeps every digit


def test_compare_with_a_typo_shows_the_others_and_an_error_line(sample: Path) -> None:
    result = _run("count", str(sample), "--compare", "gpt-4,gpt-4o,gpt-4oo,claude-sonnet-4-5")
    assert result.exit_code == 1
    for model in ("openai/gpt-4 ", "openai/gpt-4o ", "anthropic/claude-sonnet-4-5"):
        assert model in result.stdout, model
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: unknown model 'gpt-4oo'")
    out = _run("count", str(sample), "--compare", "gpt-4,typo-one", "--json")
    assert out.exit_code == 1
    assert [r["model"] for r in json.loads(out.stdout)] == ["openai/gpt-4"]
    assert "unknown model 'typo-one'" in out.stderr
    none = _run("count", str(sample), "--compare", "typo-one,typo-two")
    assert none.exit_code == 1 and none.stdout == ""
    assert "'typo-one'" in none.stderr and "'typo-two'" in none.stderr


def test_the_language_tax_fits_80_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    result = _run("count", "--languages")
    assert result.exit_code == 0, result.output
    assert all(len(line) <= 80 for line in result.stdout.splitlines())
    assert "…" not in result.stdout  # nothing cut
    assert result.stdout.count("The language tax") >= 2  # the models in groups
    assert "deepseek-chat" in result.stdout and "1.00x (466)" in result.stdout


def test_compare_default_models_from_stdin() -> None:
    result = _run("count", "--json", stdin=TEXT)
    assert result.exit_code == 0, result.output
    models = {r["model"] for r in json.loads(result.stdout)}
    assert {"openai/gpt-4.1", "anthropic/claude-sonnet-4-5", "deepseek/deepseek-chat"} <= models


def test_languages_table_json() -> None:
    result = _run("count", "--languages", "--compare", "gpt-4,gpt-4o", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    english = [r for r in rows if r["code"] == "en"]
    assert {r["inflation"] for r in english} == {"1.00"}
    hindi = {r["model"]: Decimal(r["cost_multiplier"]) for r in rows if r["code"] == "hi"}
    assert hindi["openai/gpt-4"] > hindi["openai/gpt-4o"] > 1


def test_languages_table_renders() -> None:
    result = _run("count", "--languages", "--compare", "gpt-4o")
    assert result.exit_code == 0, result.output
    assert "Hindi" in result.stdout and "1.00x" in result.stdout


def test_invalid_utf8_names_the_byte(tmp_path: Path) -> None:
    path = tmp_path / "binary.bin"
    path.write_bytes(b"hello \xff\xfe world")
    result = _run("count", str(path), "--model", "gpt-4o")
    assert result.exit_code == 2
    assert "not UTF-8 text (invalid UTF-8 at byte offset 6" in result.stderr


def test_empty_input_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    result = _run("count", str(path), "--model", "gpt-4o")
    assert result.exit_code == 2
    assert "the input is empty" in result.stderr


def test_unknown_model_names_near_ones(sample: Path) -> None:
    result = _run("count", str(sample), "--model", "gpt-4oo")
    assert result.exit_code == 1
    assert "unknown model 'gpt-4oo'" in result.stderr and "gpt-4o" in result.stderr


def test_missing_file(tmp_path: Path) -> None:
    result = _run("count", str(tmp_path / "nope.txt"), "--model", "gpt-4o")
    assert result.exit_code == 2
    assert "no such file" in result.stderr


def test_model_and_compare_together_is_a_usage_error(sample: Path) -> None:
    result = _run("count", str(sample), "--model", "gpt-4o", "--compare", "gpt-4")
    assert result.exit_code == 2
    assert "give --model or --compare, not both" in result.stderr


def test_count_tokens_api_text_and_messages() -> None:
    text = count_tokens("hello world", "gpt-4o")
    assert (text.count, text.tokenizer, text.exact) == (2, "o200k_base", True)
    assert count_tokens("", "gpt-4o").count == 0
    messages = [{"role": "user", "content": "hello world"}]
    chat = count_tokens(messages, "gpt-4o")
    # 3 per message + "user" (1) + "hello world" (2) + 3 to prime the reply.
    assert chat.count == 9
    claude = count_tokens(messages, "claude-sonnet-4-5")
    assert claude.exact is False and claude.count > 0


def test_a_model_without_a_tokenizer_says_so() -> None:
    registry = TokenizerRegistry()
    with pytest.raises(TokenizerUnavailableError):
        registry.for_model("whisper-1", "openai")
