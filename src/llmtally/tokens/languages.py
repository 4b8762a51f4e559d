"""The language tax: the same text, in tokens, in each language and on each tokenizer.

Vendors tokenize differently, and text outside English often needs far more
tokens for the same meaning. A built-in parallel corpus (``corpus/``: the same
three passages, written for llmtally, in every listed language) makes the
difference measurable: :func:`language_tax` counts each language on each
tokenizer and divides by the English count on that same tokenizer. At the same
per-token price that ratio is also the multiplier on input cost.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from llmtally.tokens.base import Tokenizer

__all__ = [
    "BASELINE",
    "CorpusError",
    "Language",
    "LanguageRow",
    "PassageSet",
    "language_tax",
    "load_corpus",
]

BASELINE = "en"
"""The language every other one is measured against."""

SEPARATOR = "---"
INDEX_FILE = "LANGUAGES.yaml"


class CorpusError(ValueError):
    """A corpus file is missing or malformed; the message names the file and passage."""


class Language(BaseModel):
    """One entry of ``LANGUAGES.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(pattern=r"^[a-z]{2,3}$")
    name: str = Field(min_length=1)
    native_name: str = Field(min_length=1)
    script: str = Field(pattern=r"^[A-Z][a-z]{3}$", description="ISO 15924 code")
    note: str = Field(min_length=1)


class _CorpusInfo(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = Field(min_length=1)
    note: str = Field(min_length=1)


class _Index(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    corpus: _CorpusInfo
    languages: list[Language] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class PassageSet:
    """One language's copy of the corpus: the same passages, in the same order."""

    language: Language
    passages: tuple[str, ...]
    source: str
    """The file the passages were read from, for error messages."""

    @property
    def code(self) -> str:
        return self.language.code

    @property
    def characters(self) -> int:
        return sum(len(passage) for passage in self.passages)


@dataclass(frozen=True, slots=True)
class LanguageRow:
    """One language measured on one tokenizer, against English on the same tokenizer."""

    code: str
    language: str
    tokenizer: str
    exact: bool
    characters: int
    tokens: int
    english_tokens: int

    @property
    def tokens_per_character(self) -> Fraction:
        return Fraction(self.tokens, self.characters)

    @property
    def inflation(self) -> Fraction:
        """Tokens over English tokens, exact. Also the input-cost multiplier at one price."""
        return Fraction(self.tokens, self.english_tokens)

    @property
    def inflation_rounded(self) -> Decimal:
        """:attr:`inflation` rounded half-up to 2 places, for display."""
        return _round(self.inflation, 2)

    def as_json(self) -> dict[str, object]:
        return {
            "code": self.code,
            "language": self.language,
            "tokenizer": self.tokenizer,
            "exact": self.exact,
            "characters": self.characters,
            "tokens": self.tokens,
            "english_tokens": self.english_tokens,
            "tokens_per_character": str(_round(self.tokens_per_character, 4)),
            "inflation": str(self.inflation_rounded),
        }


def load_corpus(root: Traversable | None = None) -> list[PassageSet]:
    """The parallel corpus, English first, in the order ``LANGUAGES.yaml`` lists.

    ``root`` is a folder laid out like the packaged ``corpus/`` (for tests);
    by default the packaged corpus is read, once per process.
    """
    if root is None:
        return list(_packaged_corpus())
    return list(_read_corpus(root))


def language_tax(
    tokenizers: Sequence[tuple[str, Tokenizer]],
    languages: Sequence[str] | None = None,
    *,
    corpus: Sequence[PassageSet] | None = None,
) -> list[LanguageRow]:
    """Rows for each (label, tokenizer) in order, then each language in corpus order.

    ``languages`` picks codes (default: all); English is always counted as the
    baseline even when not listed. An unknown code raises ValueError naming the
    known ones.
    """
    sets = list(corpus) if corpus is not None else load_corpus()
    by_code = {passage_set.code: passage_set for passage_set in sets}
    if BASELINE not in by_code:
        raise ValueError(f"the corpus has no {BASELINE!r} passages to measure against")
    chosen = _choose(languages, by_code)
    _check_labels(label for label, _ in tokenizers)
    rows: list[LanguageRow] = []
    for label, tokenizer in tokenizers:
        english = _count(tokenizer, by_code[BASELINE])
        if english <= 0:
            raise ValueError(f"tokenizer {label!r} counted {english} tokens for the English text")
        for code in chosen:
            passage_set = by_code[code]
            tokens = english if code == BASELINE else _count(tokenizer, passage_set)
            rows.append(
                LanguageRow(
                    code=code,
                    language=passage_set.language.name,
                    tokenizer=label,
                    exact=tokenizer.exact,
                    characters=passage_set.characters,
                    tokens=tokens,
                    english_tokens=english,
                )
            )
    return rows


def _choose(languages: Sequence[str] | None, by_code: dict[str, PassageSet]) -> list[str]:
    if languages is None:
        return list(by_code)
    wanted = list(dict.fromkeys(code.strip().lower() for code in languages))
    unknown = [code for code in wanted if code not in by_code]
    if unknown:
        raise ValueError(
            f"unknown language code(s) {', '.join(unknown)}; known: {', '.join(by_code)}"
        )
    return wanted


def _check_labels(labels: Iterable[str]) -> None:
    seen: set[str] = set()
    for label in labels:
        if label in seen:
            raise ValueError(f"tokenizer label {label!r} is given twice")
        seen.add(label)


def _count(tokenizer: Tokenizer, passage_set: PassageSet) -> int:
    return sum(tokenizer.count(passage) for passage in passage_set.passages)


def _round(value: Fraction, places: int) -> Decimal:
    """Round half-up (values here are never negative), exactly, to ``places`` decimals."""
    scaled = math.floor(value * 10**places + Fraction(1, 2))
    return Decimal(scaled).scaleb(-places)


@cache
def _packaged_corpus() -> tuple[PassageSet, ...]:
    return _read_corpus(files("llmtally") / "tokens" / "corpus")


def _read_corpus(root: Traversable) -> tuple[PassageSet, ...]:
    index = _read_index(root)
    codes = [language.code for language in index.languages]
    if BASELINE not in codes:
        raise CorpusError(f"{INDEX_FILE}: does not list the baseline language {BASELINE!r}")
    duplicates = sorted({code for code in codes if codes.count(code) > 1})
    if duplicates:
        raise CorpusError(f"{INDEX_FILE}: language code(s) listed twice: {', '.join(duplicates)}")
    unlisted = sorted(
        entry.name
        for entry in root.iterdir()
        if entry.name.endswith(".txt") and entry.name.removesuffix(".txt") not in codes
    )
    if unlisted:
        raise CorpusError(f"{', '.join(unlisted)}: not listed in {INDEX_FILE}")
    ordered = sorted(index.languages, key=lambda language: language.code != BASELINE)
    sets = tuple(_read_language(root, language) for language in ordered)
    english = len(sets[0].passages)
    for passage_set in sets[1:]:
        if len(passage_set.passages) != english:
            raise CorpusError(
                f"{passage_set.source}: {len(passage_set.passages)} passages, "
                f"but {BASELINE}.txt has {english}"
            )
    return sets


def _read_index(root: Traversable) -> _Index:
    entry = root.joinpath(INDEX_FILE)
    if not entry.is_file():
        raise CorpusError(f"{INDEX_FILE}: missing from the corpus folder")
    try:
        raw = yaml.safe_load(_decode(entry.read_bytes(), INDEX_FILE))
    except yaml.YAMLError as exc:
        raise CorpusError(f"{INDEX_FILE}: not valid YAML: {exc}") from exc
    try:
        return _Index.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            for error in exc.errors()
        )
        raise CorpusError(f"{INDEX_FILE}: {problems}") from exc


def _read_language(root: Traversable, language: Language) -> PassageSet:
    name = f"{language.code}.txt"
    entry = root.joinpath(name)
    if not entry.is_file():
        raise CorpusError(f"{name}: missing ({language.name} is listed in {INDEX_FILE})")
    text = _decode(entry.read_bytes(), name)
    return PassageSet(language=language, passages=_split(text, name), source=name)


def _decode(data: bytes, name: str) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise CorpusError(f"{name}: not valid UTF-8 at byte {exc.start} (line {line})") from exc
    if text.startswith("\ufeff"):
        raise CorpusError(f"{name}: starts with a byte-order mark; save it as plain UTF-8")
    return text.replace("\r\n", "\n")


def _split(text: str, name: str) -> tuple[str, ...]:
    chunks: list[list[str]] = [[]]
    for line in text.split("\n"):
        if line.strip() == SEPARATOR:
            chunks.append([])
        else:
            chunks[-1].append(line)
    passages = tuple("\n".join(chunk).strip() for chunk in chunks)
    for number, passage in enumerate(passages, start=1):
        if not passage:
            raise CorpusError(f"{name}: passage {number} of {len(passages)} is empty")
    return passages
