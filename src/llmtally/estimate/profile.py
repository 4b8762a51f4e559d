"""A call's expected tokens on one model in one language.

- Text parts are counted with the model's own tokenizer, as written.
- Token figures are taken as they are, unless the workload says which model's
  tokenizer counted them (``counted_with``): then they are converted by the
  ratio of the two tokenizers on the built-in English corpus.
- Localized parts (user input, context and output by default; the system
  prompt not) are inflated by the language's measured tokens-over-English on
  the model's tokenizer.
- A converted or inflated count is rounded half-up to whole tokens; a mean
  output that is not converted keeps its fractional part (an expectation).
- Reasoning tokens follow the visible output before language inflation (models
  reason in their own language), by effort or multiplier, or are a fixed
  figure; only on reasoning models unless ``applies_to: all``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

from llmtally.catalog.matching import ModelRef
from llmtally.estimate.convert import Conversions
from llmtally.estimate.workload import EFFORT_MULTIPLIERS, CallSpec, ReasoningSpec, TextPart
from llmtally.tokens.images import image_tokens
from llmtally.tokens.languages import BASELINE

__all__ = ["PARTS", "NotEstimableError", "Shape", "Shaper"]

# Prompt parts, in prompt order, and whether the language mix inflates them by default.
PARTS: dict[str, bool] = {"system_prompt": False, "context": True, "user_input": True}


class NotEstimableError(LookupError):
    """A model this workload cannot be estimated on (e.g. no image-token rule)."""


@dataclass(frozen=True, slots=True)
class Shape:
    """Expected tokens of one call: prompt parts, image input, output, reasoning."""

    parts: dict[str, Decimal]
    images: Decimal
    output: Decimal
    reasoning: Decimal

    @property
    def prompt_tokens(self) -> int:
        """The whole prompt (whole tokens, rounded up): what a long-context cliff measures."""
        return math.ceil(sum(self.parts.values(), self.images))


def _whole(value: Fraction) -> Decimal:
    """Rounded half-up to a whole token."""
    return Decimal(math.floor(value + Fraction(1, 2)))


@dataclass(slots=True)
class Shaper:
    """Counts calls for one model; ``counted_with`` is the tokenizer of the
    workload's token figures (None: figures hold for every model)."""

    conversions: Conversions
    ref: ModelRef
    counted_with: str | None = None
    notes: list[str] = field(default_factory=list)
    _texts: dict[str, int] = field(default_factory=dict)
    _tokenizer: str | None = None

    @property
    def label(self) -> str:
        return f"{self.ref.provider}/{self.ref.spec.id}"

    def tokenizer(self) -> str:
        """This model's tokenizer name; noted once when it is an approximation."""
        if self._tokenizer is None:
            name = self.conversions.tokenizer_name(self.ref.provider, self.ref.spec.id)
            self._tokenizer = name
            if not self.conversions.tokenizer(name).exact:
                self._note(f"{self.label}: tokens counted with {name} (an approximation)")
        return self._tokenizer

    def _note(self, note: str) -> None:
        if note not in self.notes:
            self.notes.append(note)

    def _factor(self, localized: bool, language: str) -> Fraction:
        factor = Fraction(1)
        if self.counted_with is not None:
            factor *= self.conversions.ratio(self.counted_with, self.tokenizer())
        if localized and language != BASELINE:
            factor *= self.conversions.inflation(self.tokenizer(), language)
        return factor

    def _text(self, text: str) -> int:
        found = self._texts.get(text)
        if found is None:
            found = self.conversions.tokenizer(self.tokenizer()).count(text) if text else 0
            self._texts[text] = found
        return found

    def part(self, part: TextPart, default_localized: bool, language: str) -> Decimal:
        if part.text is not None:
            return Decimal(self._text(part.text))
        tokens = part.tokens or 0
        localized = default_localized if part.localized is None else part.localized
        factor = self._factor(localized, language)
        return Decimal(tokens) if factor == 1 else _whole(tokens * factor)

    def shape(self, spec: CallSpec, language: str) -> Shape:
        parts: dict[str, Decimal] = {}
        for name, localized in PARTS.items():
            part: TextPart | None = getattr(spec, name)
            if part is not None:
                parts[name] = self.part(part, localized, language)
        output = unlocalized = Decimal(0)
        if spec.output is not None:
            mean = spec.output.mean()
            localized = spec.output.localized is not False
            output = self._scaled(mean, self._factor(localized, language))
            unlocalized = self._scaled(mean, self._factor(False, language))
        reasoning = self._reasoning(spec.reasoning, unlocalized)
        return Shape(parts, self._images(spec), output, reasoning)

    @staticmethod
    def _scaled(mean: Decimal, factor: Fraction) -> Decimal:
        return mean if factor == 1 else _whole(Fraction(mean) * factor)

    def _reasoning(self, spec: ReasoningSpec | None, output: Decimal) -> Decimal:
        if spec is None:
            return Decimal(0)
        if spec.applies_to == "reasoning-models" and self.ref.spec.kind != "reasoning":
            self._note(
                f"{self.label}: not a reasoning model in the catalog, so no reasoning tokens "
                "(set reasoning.applies_to: all to count them anyway)"
            )
            return Decimal(0)
        if spec.tokens is not None:
            return spec.tokens
        multiplier = spec.multiplier
        if multiplier is None:
            multiplier = EFFORT_MULTIPLIERS[spec.effort or "medium"]
        return output * multiplier

    def _images(self, spec: CallSpec) -> Decimal:
        total = Decimal(0)
        for image in spec.images_in:
            try:
                counted = image_tokens(
                    image.width,
                    image.height,
                    model=self.ref.spec.id,
                    provider=self.ref.provider,
                    detail=image.detail,
                )
            except ValueError as exc:
                raise NotEstimableError(f"{self.label}: images_in: {exc}") from None
            if not counted.exact:
                self._note(f"{self.label}: image tokens by {counted.formula} (an estimate)")
            total += image.count * counted.count
        return total
