"""The same text on many models: tokens, characters per token, and what it costs.

Also the language tax: the built-in parallel corpus counted by each model's
tokenizer, as inflation over English and the input-cost multiplier.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from llmtally.catalog import NoPriceError
from llmtally.meter import PricingError, cost, decimal_text
from llmtally.tokens.base import Tokenizer
from llmtally.tokens.languages import LanguageRow, language_tax
from llmtally.tokens.registry import TokenizerRegistry
from llmtally.usage import Usage

__all__ = [
    "DEFAULT_COMPARE",
    "CompareRow",
    "LanguageCostRow",
    "ModelChoice",
    "Unresolved",
    "compare_counts",
    "language_costs",
    "resolve_models",
]

# One representative model per vendor (and per tokenizer family among hosts).
DEFAULT_COMPARE = (
    "openai/gpt-4.1",
    "openai/gpt-4",
    "anthropic/claude-sonnet-4-5",
    "google/gemini-2.5-flash",
    "mistral/mistral-large-2411",
    "deepseek/deepseek-chat",
    "xai/grok-4",
    "groq/llama-3.3-70b-versatile",
    "together/meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8",
    "together/Qwen/Qwen2.5-72B-Instruct-Turbo",
)


@dataclass(frozen=True, slots=True)
class ModelChoice:
    """A model as asked for, resolved to the catalog and its tokenizer."""

    asked: str
    provider: str
    model: str
    tokenizer: Tokenizer

    @property
    def label(self) -> str:
        return f"{self.provider}/{self.model}"


@dataclass(frozen=True, slots=True)
class Unresolved:
    """A name that is not a model with a tokenizer, and why (fit to show as is)."""

    name: str
    reason: str


def resolve_models(
    names: Sequence[str], registry: TokenizerRegistry
) -> tuple[list[ModelChoice], list[Unresolved]]:
    """Each name resolved, or set apart with the reason (unknown model, no
    tokenizer), so that one typo does not hide the other models' counts."""
    from llmtally.catalog import UnknownModelError
    from llmtally.tokens.base import TokenizerUnavailableError

    found, missing = [], []
    for name in names:
        try:
            ref, tokenizer = registry.for_model(name)
        except (UnknownModelError, TokenizerUnavailableError) as exc:
            missing.append(Unresolved(name, str(exc)))
            continue
        found.append(ModelChoice(name, ref.provider, ref.spec.id, tokenizer))
    return found, missing


def _input_cost(
    registry: TokenizerRegistry, choice: ModelChoice, tokens: int, at: dt.datetime | None
) -> Decimal | None:
    try:
        price = registry.catalog.price_at(choice.provider, choice.model, at)
        return cost(Usage(input_tokens=tokens), price).total
    except (NoPriceError, PricingError):
        return None


@dataclass(frozen=True, slots=True)
class CompareRow:
    model: str
    tokenizer: str
    exact: bool
    tokens: int
    characters: int
    input_cost_usd: Decimal | None

    @property
    def chars_per_token(self) -> Decimal | None:
        if not self.tokens:
            return None
        return (Decimal(self.characters) / self.tokens).quantize(Decimal("0.01"))

    def as_json(self) -> dict[str, object]:
        per = self.chars_per_token
        return {
            "model": self.model,
            "tokenizer": self.tokenizer,
            "exact": self.exact,
            "tokens": self.tokens,
            "characters": self.characters,
            "chars_per_token": None if per is None else str(per),
            "input_cost_usd": None
            if self.input_cost_usd is None
            else decimal_text(self.input_cost_usd),
        }


def compare_counts(
    choices: Sequence[ModelChoice],
    count: Callable[[Tokenizer], int],
    characters: int,
    registry: TokenizerRegistry,
    at: dt.datetime | None = None,
) -> list[CompareRow]:
    """One row per model, cheapest first (unpriced models last)."""
    rows = []
    for choice in choices:
        tokens = count(choice.tokenizer)
        rows.append(
            CompareRow(
                model=choice.label,
                tokenizer=choice.tokenizer.name,
                exact=choice.tokenizer.exact,
                tokens=tokens,
                characters=characters,
                input_cost_usd=_input_cost(registry, choice, tokens, at),
            )
        )
    return sorted(rows, key=lambda r: (r.input_cost_usd is None, r.input_cost_usd or 0, r.model))


@dataclass(frozen=True, slots=True)
class LanguageCostRow:
    """A language on one model: its tokens, inflation over English, and the cost
    of the corpus passages in that language at the model's input price."""

    model: str
    row: LanguageRow
    input_cost_usd: Decimal | None

    def as_json(self) -> dict[str, object]:
        data = self.row.as_json()
        data["model"] = self.model
        data["cost_multiplier"] = data["inflation"]
        data["input_cost_usd"] = (
            None if self.input_cost_usd is None else decimal_text(self.input_cost_usd)
        )
        return data


def language_costs(
    choices: Sequence[ModelChoice],
    registry: TokenizerRegistry,
    languages: Sequence[str] | None = None,
) -> list[LanguageCostRow]:
    """The language tax per model: rows grouped by model, English first."""
    by_label = {c.label: c for c in choices}
    rows = language_tax([(c.label, c.tokenizer) for c in choices], languages)
    return [
        LanguageCostRow(
            r.tokenizer, r, _input_cost(registry, by_label[r.tokenizer], r.tokens, None)
        )
        for r in rows
    ]
