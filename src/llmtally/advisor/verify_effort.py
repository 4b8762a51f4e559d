"""A lower reasoning effort as an ``advise verify`` candidate: ``--effort low``
(OpenAI's ``reasoning_effort``: minimal, low, medium or high; on Anthropic and
Gemini the lab's budget for that effort) or ``--effort budget:1024`` (thinking
tokens asked outright: Anthropic's ``budget_tokens``, Gemini's
``thinkingConfig.thinkingBudget``).

The replays of a model at an effort are recorded in the lab run under the name
``MODEL@EFFORT`` (``o3-mini@low``, ``claude-sonnet-4@budget:1024``), so the same
model at several efforts, or at its recorded one, stay apart, and the advisor
finds the evidence by that name (:func:`split_label`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["EFFORT_LEVELS", "Effort", "labelled", "parse_effort", "split_label"]

EFFORT_LEVELS = ("minimal", "low", "medium", "high")
_BUDGET = re.compile(r"budget:(\d{1,7})")


@dataclass(frozen=True, slots=True)
class Effort:
    """One of a level or a thinking budget."""

    level: str | None = None
    budget: int | None = None

    @property
    def text(self) -> str:
        return self.level if self.level is not None else f"budget:{self.budget}"


def parse_effort(text: str) -> Effort:
    """``low`` or ``budget:1024``; ValueError says what is accepted."""
    value = text.strip().lower()
    if value in EFFORT_LEVELS:
        return Effort(level=value)
    found = _BUDGET.fullmatch(value)
    if found is None:
        raise ValueError(
            f"--effort {text!r}: one of {', '.join(EFFORT_LEVELS)} (OpenAI reasoning_effort), "
            "or budget:TOKENS (a thinking budget: Anthropic, Gemini), e.g. budget:1024"
        )
    return Effort(budget=int(found.group(1)))


def labelled(model: str, effort: Effort) -> str:
    """The candidate's name in the lab run: ``o3-mini@low``."""
    return f"{model}@{effort.text}"


def split_label(name: str) -> tuple[str, Effort | None]:
    """(model, effort) of a candidate's name; (name, None) for a plain model."""
    model, at, effort = name.rpartition("@")
    if not at or not model:
        return name, None
    try:
        return model, parse_effort(effort)
    except ValueError:
        return name, None
