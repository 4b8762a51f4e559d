"""The README a newcomer reads first: the quickstart right after the two commands,
official-SDK snippets that compile and point at the gateway's default address,
and no link that leaves the repository (a clone has nothing beside it)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import typer

from llmtally.cli import app

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")


def _python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", README, re.MULTILINE | re.DOTALL)


def _keywords(code: str, func: str) -> dict[str, object]:
    """The constant keyword arguments of the calls to ``func`` (a name or an attribute)."""
    found: dict[str, object] = {}
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Call) and _called(node) == func:
            for keyword in node.keywords:
                if isinstance(keyword.value, ast.Constant):
                    found[str(keyword.arg)] = keyword.value.value
    return found


def _called(node: ast.Call) -> str:
    return node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")


def test_every_python_snippet_compiles() -> None:
    blocks = _python_blocks()
    assert len(blocks) >= 3
    for block in blocks:
        compile(block, "README.md", "exec")


def test_the_quickstart_follows_the_two_commands() -> None:
    commands = README.index("make test    #")
    quickstart = README.index("## Quickstart")
    assert commands < quickstart < README.index("## What works today")
    assert README.index("```python") > quickstart


def test_the_openai_snippet_calls_the_local_model_through_the_gateway() -> None:
    openai = _python_blocks()[0]
    assert "from openai import OpenAI" in openai
    assert _keywords(openai, "OpenAI")["base_url"] == "http://127.0.0.1:4000/v1"
    assert _keywords(openai, "create")["model"] == "local/smollm2"


def test_the_anthropic_snippet_calls_claude_through_the_gateway() -> None:
    anthropic = _python_blocks()[1]
    assert "from anthropic import Anthropic" in anthropic
    assert _keywords(anthropic, "Anthropic")["base_url"] == "http://127.0.0.1:4000"
    model = _keywords(anthropic, "create")["model"]
    assert isinstance(model, str) and model.startswith("claude-")
    assert "ANTHROPIC_API_KEY" in README[: README.index("## What works today")]


def test_the_documented_port_is_the_default_one() -> None:
    serve = typer.main.get_command(app).commands["serve"]  # type: ignore[attr-defined]
    port = next(p for p in serve.params if p.name == "port")
    assert (port.default, port.envvar) == (4000, "LLMTALLY_PORT")
    assert "make run PORT=4100" in README and "LLMTALLY_PORT=4100" in README


def test_no_link_leaves_the_repository() -> None:
    assert "../" not in README
    for target in (m["target"] for m in LINK.finditer(README)):
        if re.match(r"^[a-z]+://", target):
            continue
        path = (REPO / target.split("#")[0]).resolve()
        assert path.is_relative_to(REPO) and path.exists(), target
