"""Token counts across tokenizers and languages, measured on the built-in corpus.

- ``ratio(source, target)``: how many tokens the target tokenizer makes of the
  same text as the source, as the exact ratio of their counts of the English
  passages of ``tokens/corpus`` (the language tax module's parallel corpus).
- ``inflation(tokenizer, language)``: that language's tokens over English on
  one tokenizer (the same corpus, the same passages).

Counts are made once per tokenizer and kept by the ``Conversions`` object.
"""

from __future__ import annotations

from fractions import Fraction

from llmtally.tokens.base import Tokenizer
from llmtally.tokens.families import tokenizer_for
from llmtally.tokens.languages import BASELINE, language_tax, load_corpus
from llmtally.tokens.registry import TokenizerRegistry

__all__ = ["Conversions", "corpus_languages"]


def corpus_languages() -> list[str]:
    """The language codes the built-in corpus measures (English first)."""
    return [passages.code for passages in load_corpus()]


class Conversions:
    """Tokenizer ratios and language inflation, each measured once."""

    def __init__(self, registry: TokenizerRegistry) -> None:
        self.registry = registry
        self._english: dict[str, int] = {}
        self._inflation: dict[tuple[str, str], Fraction] = {}

    @staticmethod
    def tokenizer_name(provider: str, model_id: str) -> str:
        """The tokenizer that counts a catalog model (TokenizerUnavailableError when none)."""
        return tokenizer_for(provider, model_id)

    def tokenizer(self, name: str) -> Tokenizer:
        return self.registry.get(name)

    def english_tokens(self, name: str) -> int:
        found = self._english.get(name)
        if found is None:
            english = load_corpus()[0]
            tokenizer = self.registry.get(name)
            found = sum(tokenizer.count(text) for text in english.passages)
            self._english[name] = found
        return found

    def ratio(self, source: str, target: str) -> Fraction:
        """Target tokens per source token for the same English text (1 when equal)."""
        if source == target:
            return Fraction(1)
        return Fraction(self.english_tokens(target), self.english_tokens(source))

    def inflation(self, name: str, language: str) -> Fraction:
        """``language`` tokens over English tokens on tokenizer ``name``."""
        if language == BASELINE:
            return Fraction(1)
        key = (name, language)
        found = self._inflation.get(key)
        if found is None:
            rows = language_tax([(name, self.registry.get(name))], [language])
            found = next(row.inflation for row in rows if row.code == language)
            self._inflation[key] = found
        return found
