"""Checks on each output: contains, regex, equals, JSON-schema valid, length
bounds, and a custom Python function.

``contains`` and ``equals`` values are templates over the row (``"{answer}"``).
A Python check is ``module:function`` or ``file.py:function`` (beside the
experiment file), called as ``function(output, row)`` and returning a bool or
``(bool, reason)``; an exception it raises fails the check with the reason.
Everything is compiled before any call is made, so a bad regex, schema or
function is an error naming its field, not a failure halfway through a run.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from llmtally.lab.spec import CheckSpec, Experiment, ExperimentError, LengthBounds, Source
from llmtally.lab.template import render, variables

__all__ = ["CheckResult", "Checks", "check_variables", "compile_checks", "json_text"]

RowValues = Mapping[str, str | None]
_Fn = Callable[[str, RowValues], tuple[bool, str]]
_FENCE = re.compile(r"^\s*```[A-Za-z0-9_-]*\s*\n(.*?)\n?```\s*$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    passed: bool
    detail: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "detail": self.detail}


class Checks:
    """The compiled checks of one experiment."""

    def __init__(self, checks: list[tuple[str, _Fn]]) -> None:
        self._checks = checks

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self._checks]

    def __bool__(self) -> bool:
        return bool(self._checks)

    def run(self, output: str, row: RowValues) -> list[CheckResult]:
        results = []
        for name, fn in self._checks:
            try:
                passed, detail = fn(output, row)
            except Exception as exc:  # a user's check that raises fails, with the reason
                passed, detail = False, f"raised {type(exc).__name__}: {exc}"
            results.append(CheckResult(name, passed, detail))
        return results


def check_variables(spec: CheckSpec) -> list[str]:
    """The row variables a check's value uses."""
    if spec.contains is not None:
        return variables(spec.contains)
    if spec.equals is not None:
        return variables(spec.equals)
    return []


def json_text(output: str) -> str:
    """The output without a surrounding Markdown code fence, as models often add."""
    fenced = _FENCE.match(output)
    return fenced.group(1) if fenced else output


def _filled(template: str, row: RowValues) -> str:
    return render(template, {k: v for k, v in row.items() if v is not None})


def _fold(text: str, ignore_case: bool) -> str:
    return text.casefold() if ignore_case else text


def _contains(needle: str, ignore_case: bool) -> _Fn:
    def check(output: str, row: RowValues) -> tuple[bool, str]:
        wanted = _filled(needle, row)
        found = _fold(wanted, ignore_case) in _fold(output, ignore_case)
        return found, "" if found else f"{wanted!r} not found"

    return check


def _equals(expected: str, ignore_case: bool) -> _Fn:
    def check(output: str, row: RowValues) -> tuple[bool, str]:
        wanted = _filled(expected, row).strip()
        same = _fold(output.strip(), ignore_case) == _fold(wanted, ignore_case)
        return same, "" if same else f"expected {wanted!r}"

    return check


def _regex(pattern: re.Pattern[str]) -> _Fn:
    def check(output: str, row: RowValues) -> tuple[bool, str]:
        found = pattern.search(output) is not None
        return found, "" if found else f"no match for /{pattern.pattern}/"

    return check


def _length(bounds: LengthBounds) -> _Fn:
    def check(output: str, row: RowValues) -> tuple[bool, str]:
        size = len(output.split()) if bounds.unit == "words" else len(output)
        if bounds.min is not None and size < bounds.min:
            return False, f"{size} {bounds.unit}, under {bounds.min}"
        if bounds.max is not None and size > bounds.max:
            return False, f"{size} {bounds.unit}, over {bounds.max}"
        return True, f"{size} {bounds.unit}"

    return check


def _json_schema(validator: Any) -> _Fn:
    def check(output: str, row: RowValues) -> tuple[bool, str]:
        try:
            value = json.loads(json_text(output))
        except json.JSONDecodeError as exc:
            return False, f"not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        error = next(iter(validator.iter_errors(value)), None)
        if error is None:
            return True, ""
        return False, f"{error.json_path}: {error.message}"

    return check


def _python(fn: Callable[..., Any], name: str) -> _Fn:
    def check(output: str, row: RowValues) -> tuple[bool, str]:
        result = fn(output, dict(row))
        if isinstance(result, bool):
            return result, ""
        if (
            isinstance(result, tuple)
            and len(result) == 2
            and isinstance(result[0], bool)
            and isinstance(result[1], str)
        ):
            return result[0], result[1]
        return False, f"{name} returned {result!r}, not a bool or (bool, reason)"

    return check


def _default_name(spec: CheckSpec) -> str:
    kind = spec.kind
    if spec.length is not None:
        low = spec.length.min if spec.length.min is not None else 0
        high = spec.length.max if spec.length.max is not None else "∞"
        return f"length {low}..{high} {spec.length.unit}"
    if kind == "json_schema":
        return (
            "json schema"
            if isinstance(spec.json_schema, dict)
            else f"json schema {spec.json_schema}"
        )
    value = str(getattr(spec, kind))
    short = value if len(value) <= 40 else value[:39] + "…"
    return f"{kind} {short}"


def _load_function(reference: str, source: Source, loc: list[int | str]) -> Callable[..., Any]:
    where, _, attribute = reference.rpartition(":")
    try:
        if where.endswith(".py"):
            path = (source.folder / where).resolve()
            digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
            spec = importlib.util.spec_from_file_location(f"llmtally_lab_check_{digest}", path)
            if spec is None or spec.loader is None or not path.is_file():
                raise source.error(loc, f"no Python file at {path}")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(where)
    except ExperimentError:
        raise
    except Exception as exc:  # the user's module failed to import: say how
        raise source.error(loc, f"cannot import {where}: {type(exc).__name__}: {exc}") from None
    fn = getattr(module, attribute, None)
    if not callable(fn):
        raise source.error(loc, f"{where} has no function {attribute!r}")
    return fn  # type: ignore[no-any-return]


def _schema_validator(spec: CheckSpec, source: Source, loc: list[int | str]) -> Any:
    from jsonschema import exceptions, validators

    schema: Any = spec.json_schema
    if isinstance(schema, str):
        path = (source.folder / schema).resolve()
        try:
            schema = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise source.error(loc, f"cannot read a JSON schema from {path}: {exc}") from None
    cls = validators.validator_for(schema)
    try:
        cls.check_schema(schema)
    except exceptions.SchemaError as exc:
        raise source.error(loc, f"not a valid JSON schema: {exc.message}") from None
    return cls(schema)


def _compile(spec: CheckSpec, source: Source, loc: list[int | str]) -> _Fn:
    if spec.contains is not None:
        return _contains(spec.contains, spec.ignore_case)
    if spec.equals is not None:
        return _equals(spec.equals, spec.ignore_case)
    if spec.regex is not None:
        try:
            flags = re.IGNORECASE if spec.ignore_case else 0
            return _regex(re.compile(spec.regex, flags))
        except re.error as exc:
            raise source.error([*loc, "regex"], f"not a regular expression: {exc}") from None
    if spec.length is not None:
        return _length(spec.length)
    if spec.json_schema is not None:
        return _json_schema(_schema_validator(spec, source, [*loc, "json_schema"]))
    assert spec.python is not None
    fn = _load_function(spec.python, source, [*loc, "python"])
    return _python(fn, spec.python)


def compile_checks(experiment: Experiment, source: Source) -> Checks:
    compiled: list[tuple[str, _Fn]] = []
    for i, spec in enumerate(experiment.checks):
        name = spec.name or _default_name(spec)
        if name in [n for n, _ in compiled]:
            raise source.error(["checks", i, "name"], f"two checks are named {name!r}")
        compiled.append((name, _compile(spec, source, ["checks", i])))
    return Checks(compiled)
