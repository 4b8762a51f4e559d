"""Every model parameter reaches the upstream the way its SDK takes it, and what
a provider would refuse is refused in the experiment file, before any call."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab_support import ANTHROPIC_MODEL, OPENAI_MODEL, Quiet, gateway_config, write
from llmtally.catalog import Catalog
from llmtally.gateway.serve import resolve_config
from llmtally.lab.plan import build_plan
from llmtally.lab.session import LabOptions, run_experiment
from llmtally.lab.spec import ExperimentError
from replay_upstream import ReplayUpstream


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LLMTALLY_HOME", str(tmp_path / "home"))
    return tmp_path


def _experiment(models: str) -> str:
    return f"""\
name: params
prompts:
  - id: p
    system: "Be brief."
    user: "Say hello."
dataset: [{{n: '1'}}]
models:
{models}
"""


def test_temperature_reaches_claude_and_gpt_in_the_body(
    lab: Path, replay_upstream: ReplayUpstream
) -> None:
    models = (
        f"  - {{model: {ANTHROPIC_MODEL}, temperature: 0.3, max_tokens: 256}}\n"
        f"  - {{model: {OPENAI_MODEL}, temperature: 0, max_tokens: 32}}\n"
    )
    path = write(lab, "exp.yaml", _experiment(models))
    options = LabOptions(
        config=gateway_config(lab, replay_upstream.url),
        database_url=f"sqlite:///{lab / 'ledger.sqlite3'}",
    )
    outcome = run_experiment(path, options, Quiet())
    assert outcome.run.status == "complete", outcome.run.stop_reason
    sent = {s.json["model"]: s.json for s in replay_upstream.served}
    assert sent[ANTHROPIC_MODEL]["temperature"] == 0.3
    assert sent[ANTHROPIC_MODEL]["system"] == "Be brief."
    assert sent[ANTHROPIC_MODEL]["max_tokens"] == 256
    assert sent[OPENAI_MODEL]["temperature"] == 0
    assert sent[OPENAI_MODEL]["max_completion_tokens"] == 32


@pytest.mark.parametrize(
    ("model_line", "field", "reason"),
    [
        (f"{{model: {ANTHROPIC_MODEL}, temperature: 1.5}}", "temperature", "from 0 to 1"),
        (
            f"{{model: {ANTHROPIC_MODEL}, temperature: 0.2, reasoning_effort: low,"
            " max_tokens: 4000}",
            "temperature",
            "temperature 1 only",
        ),
        (
            f"{{model: {ANTHROPIC_MODEL}, reasoning_effort: minimal, max_tokens: 1000}}",
            "max_tokens",
            "above 1024",  # Anthropic's smallest thinking budget, not the 512 of 'minimal'
        ),
        (
            f"{{model: {ANTHROPIC_MODEL}, thinking_budget: 512, max_tokens: 4000}}",
            "thinking_budget",
            "at least 1024",
        ),
        (
            f"{{model: {ANTHROPIC_MODEL}, thinking_budget: 2048, max_tokens: 2048}}",
            "max_tokens",
            "thinking_budget 2048 thinks up to 2048 tokens",
        ),
        (
            f"{{model: {OPENAI_MODEL}, thinking_budget: 2048}}",
            "thinking_budget",
            "takes reasoning_effort",
        ),
    ],
)
def test_what_anthropic_refuses_is_an_error_in_the_file(
    lab: Path, replay_upstream: ReplayUpstream, model_line: str, field: str, reason: str
) -> None:
    path = write(lab, "exp.yaml", _experiment(f"  - {model_line}\n"))
    config = resolve_config(gateway_config(lab, replay_upstream.url))[0]
    with pytest.raises(ExperimentError) as caught:
        build_plan(path, config, Catalog.load(), None)
    message = str(caught.value)
    assert f"models.0.{field}" in message and reason in message
    assert replay_upstream.served == []


def test_a_thinking_budget_reaches_claude_and_gemini_as_given(
    lab: Path, replay_upstream: ReplayUpstream
) -> None:
    models = (
        f"  - {{model: {ANTHROPIC_MODEL}, thinking_budget: 2048, max_tokens: 4096}}\n"
        "  - {model: gemini-2.5-flash, thinking_budget: 0, max_tokens: 64}\n"
    )
    path = write(lab, "exp.yaml", _experiment(models))
    options = LabOptions(
        config=gateway_config(lab, replay_upstream.url),
        database_url=f"sqlite:///{lab / 'ledger.sqlite3'}",
    )
    outcome = run_experiment(path, options, Quiet())
    assert outcome.run.status == "complete", outcome.run.stop_reason
    claude = next(s.json for s in replay_upstream.served if s.json.get("model"))
    assert claude["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    gemini = next(s.json for s in replay_upstream.served if "generationConfig" in s.json)
    # 0 turns Gemini 2.5 Flash's thinking off (thinkingConfig.thinkingBudget)
    assert gemini["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 0}
