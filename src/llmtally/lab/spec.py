"""The experiment file: prompts x dataset x models x repetitions, and checks.

```yaml
name: capitals
prompts:
  - id: terse
    system: Answer with one word.
    user: "What is the capital of {country}?"
dataset:                      # inline rows, or a CSV / JSONL path beside this file
  - {country: France, answer: Paris}
models:
  - {model: gpt-4o-mini, temperature: 0, max_tokens: 16}
  - {model: local/smollm2, max_tokens: 16}
repetitions: 1
checks:
  - contains: "{answer}"      # check values may use the row's variables
    ignore_case: true
  - length: {max: 100}
```

Errors name the file, the line, the field path and the reason
(``exp.yaml:7: models.1.max_tokens: Input should be greater than 0``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from llmtally.catalog.loader import CatalogFileError, load_yaml, validate

__all__ = [
    "CHECK_KINDS",
    "CheckSpec",
    "Experiment",
    "ExperimentError",
    "LengthBounds",
    "ModelSpec",
    "PromptSpec",
    "Source",
    "load_experiment",
]

Effort = Literal["minimal", "low", "medium", "high"]
Scalar = str | int | float | bool | None
CHECK_KINDS = ("contains", "regex", "equals", "json_schema", "length", "python")


class ExperimentError(ValueError):
    """An experiment that cannot run, with where (file:line: field) and why."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PromptSpec(_Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    system: str | None = None
    user: str = Field(min_length=1)


class ModelSpec(_Strict):
    model: str = Field(min_length=1)
    label: str | None = Field(default=None, min_length=1, max_length=80)
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int = Field(default=256, gt=0, le=1_000_000)
    reasoning_effort: Effort | None = None
    # thinking tokens asked outright (Anthropic budget_tokens, Gemini thinkingBudget)
    thinking_budget: int | None = Field(default=None, ge=0, le=1_000_000)
    timeout_s: float = Field(default=120.0, gt=0, le=3600)

    @model_validator(mode="after")
    def _one_effort(self) -> ModelSpec:
        if self.reasoning_effort is not None and self.thinking_budget is not None:
            raise ValueError("give reasoning_effort or thinking_budget, not both")
        return self

    @property
    def name(self) -> str:
        """The column this model fills: its label, else the model name."""
        return self.label or self.model

    def params(self) -> dict[str, Any]:
        """What the model is asked with (part of every cell's identity; a thinking
        budget only when given, so earlier runs keep their cells' keys)."""
        params: dict[str, Any] = {
            "model": self.model,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "reasoning_effort": self.reasoning_effort,
        }
        if self.thinking_budget is not None:
            params["thinking_budget"] = self.thinking_budget
        return params


class LengthBounds(_Strict):
    min: int | None = Field(default=None, ge=0)
    max: int | None = Field(default=None, ge=0)
    unit: Literal["chars", "words"] = "chars"

    @model_validator(mode="after")
    def _ordered(self) -> LengthBounds:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is above max ({self.max})")
        return self


class CheckSpec(_Strict):
    """Exactly one of the check kinds; ``name`` labels it in results."""

    name: str | None = Field(default=None, min_length=1, max_length=80)
    contains: str | None = None
    regex: str | None = None
    equals: str | None = None
    json_schema: dict[str, Any] | str | None = None  # a schema, or a file beside the experiment
    length: LengthBounds | None = None
    python: str | None = Field(default=None, pattern=r"^[^:]+:[A-Za-z_][A-Za-z0-9_]*$")
    ignore_case: bool = False

    @model_validator(mode="after")
    def _one_kind(self) -> CheckSpec:
        kinds = [kind for kind in CHECK_KINDS if getattr(self, kind) is not None]
        if len(kinds) != 1:
            given = ", ".join(kinds) or "none"
            raise ValueError(f"a check has exactly one of {', '.join(CHECK_KINDS)} (got {given})")
        return self

    @property
    def kind(self) -> str:
        return next(kind for kind in CHECK_KINDS if getattr(self, kind) is not None)


class Experiment(_Strict):
    name: str | None = Field(default=None, min_length=1, max_length=120)
    description: str | None = None
    prompts: list[PromptSpec] = Field(min_length=1)
    dataset: list[dict[str, Scalar]] | str | None = None
    models: list[ModelSpec] = Field(min_length=1)
    repetitions: int = Field(default=1, ge=1, le=1000)
    checks: list[CheckSpec] = []


class Source:
    """The experiment file's path and text, to say where a problem is."""

    def __init__(self, path: Path, text: str) -> None:
        self.path, self.text = path, text
        try:
            self._root: yaml.Node | None = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError:
            self._root = None

    @property
    def folder(self) -> Path:
        return self.path.parent

    def line(self, loc: Sequence[int | str]) -> int:
        node = self._root
        if node is None:
            return 1
        for key in loc:
            if isinstance(node, yaml.MappingNode):
                match = [v for k, v in node.value if k.value == key]
                if not match:
                    break
                node = match[0]
            elif isinstance(node, yaml.SequenceNode) and isinstance(key, int):
                if key >= len(node.value):
                    break
                node = node.value[key]
            else:
                break
        return int(node.start_mark.line) + 1

    def error(self, loc: Sequence[int | str], reason: str) -> ExperimentError:
        field = ".".join(str(part) for part in loc) or "(file)"
        return ExperimentError(f"{self.path}:{self.line(loc)}: {field}: {reason}")


def load_experiment(path: Path) -> tuple[Experiment, Source]:
    """Read and validate an experiment file (the dataset and checks are checked later)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ExperimentError(f"{path}: cannot read the experiment ({reason})") from None
    try:
        data = load_yaml(text, str(path))
        if not isinstance(data, dict):
            raise ExperimentError(f"{path}:1: an experiment is a mapping (prompts, models, ...)")
        experiment = validate(Experiment, data, text, str(path))
    except CatalogFileError as exc:
        raise ExperimentError(str(exc)) from None
    return experiment, Source(path, text)
