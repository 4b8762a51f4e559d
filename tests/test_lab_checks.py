"""Checks on outputs: contains, regex, equals, JSON schema, length, Python."""

from __future__ import annotations

from pathlib import Path

from lab_support import write
from llmtally.lab.checks import compile_checks, json_text
from llmtally.lab.spec import load_experiment

HEAD = """\
prompts: [{id: p, user: "{q}"}]
models: [{model: gpt-4o-mini}]
dataset: [{q: x, answer: Paris}]
checks:
"""


def _checks(tmp_path: Path, checks: str):  # type: ignore[no-untyped-def]
    experiment, source = load_experiment(write(tmp_path, "exp.yaml", HEAD + checks))
    return compile_checks(experiment, source)


def _verdicts(tmp_path: Path, checks: str, output: str, row: dict[str, str | None]) -> list[bool]:
    return [r.passed for r in _checks(tmp_path, checks).run(output, row)]


ROW: dict[str, str | None] = {"q": "x", "answer": "Paris"}


def test_contains_and_equals_use_the_rows_values(tmp_path: Path) -> None:
    checks = """\
  - contains: "{answer}"
  - contains: "{answer}"
    ignore_case: true
    name: any case
  - equals: "{answer}"
"""
    assert _verdicts(tmp_path, checks, "It is PARIS.", ROW) == [False, True, False]
    assert _verdicts(tmp_path, checks, "  Paris\n", ROW) == [True, True, True]
    results = _checks(tmp_path, checks).run("Lyon", ROW)
    assert results[0].name == "contains {answer}" and results[0].detail == "'Paris' not found"
    assert results[1].name == "any case"


def test_regex_and_length_bounds(tmp_path: Path) -> None:
    checks = """\
  - regex: '^\\d{3}$'
  - length: {min: 2, max: 5}
  - length: {max: 2, unit: words}
"""
    assert _verdicts(tmp_path, checks, "123", ROW) == [True, True, True]
    assert _verdicts(tmp_path, checks, "1234567", ROW) == [False, False, True]
    assert _verdicts(tmp_path, checks, "a b c", ROW) == [False, True, False]


def test_json_schema_accepts_fenced_json_and_explains_a_failure(tmp_path: Path) -> None:
    checks = """\
  - json_schema:
      type: object
      required: [city]
      properties: {city: {type: string}}
"""
    assert _verdicts(tmp_path, checks, '```json\n{"city": "Paris"}\n```', ROW) == [True]
    result = _checks(tmp_path, checks).run('{"town": "Paris"}', ROW)[0]
    assert not result.passed and "'city' is a required property" in result.detail
    result = _checks(tmp_path, checks).run("Paris", ROW)[0]
    assert not result.passed and result.detail.startswith("not JSON")
    assert json_text("```\n[1]\n```") == "[1]"


def test_json_schema_from_a_file(tmp_path: Path) -> None:
    write(tmp_path, "schema.json", '{"type": "array", "maxItems": 1}')
    checks = "  - json_schema: schema.json\n"
    assert _verdicts(tmp_path, checks, "[1]", ROW) == [True]
    assert _verdicts(tmp_path, checks, "[1, 2]", ROW) == [False]


def test_python_checks_from_a_file_or_a_module(tmp_path: Path) -> None:
    write(
        tmp_path,
        "my_checks.py",
        "def polite(output, row):\n"
        "    return 'please' in output, f\"no please for {row['q']}\"\n"
        "def boom(output, row):\n"
        "    raise ValueError('bad output')\n"
        "def vague(output, row):\n"
        "    return 'yes'\n",
    )
    checks = """\
  - python: my_checks.py:polite
  - python: my_checks.py:boom
  - python: my_checks.py:vague
  - python: "json:loads"
"""
    compiled = _checks(tmp_path, checks)
    results = compiled.run("no thanks", ROW)
    assert [r.passed for r in results[:3]] == [False, False, False]
    assert results[0].detail == "no please for x"
    assert results[1].detail == "raised ValueError: bad output"
    assert "returned 'yes', not a bool" in results[2].detail
    assert results[3].detail.startswith("raised")  # json.loads(output, row) is a TypeError
    assert [r.passed for r in compiled.run("please", ROW)][0]


def test_a_missing_python_function_is_an_error_before_the_run(tmp_path: Path) -> None:
    write(tmp_path, "my_checks.py", "def other(output, row):\n    return True\n")
    try:
        _checks(tmp_path, "  - python: my_checks.py:polite\n")
    except ValueError as exc:
        assert "checks.0.python: my_checks.py has no function 'polite'" in str(exc)
    else:
        raise AssertionError("a missing function was accepted")
