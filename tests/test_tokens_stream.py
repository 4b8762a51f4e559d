"""Counting a byte stream: the whole text's count, strict UTF-8, bounded memory."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmtally.tokens.loaders.common import SplitKind
from llmtally.tokens.registry import TokenizerRegistry
from llmtally.tokens.stream import (
    InvalidTextError,
    count_file,
    count_stream,
    last_cut,
    split_kind_of,
)
from token_corpus import CORPUS, EXACT


@pytest.fixture(scope="module")
def registry() -> TokenizerRegistry:
    return TokenizerRegistry()


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("name", EXACT)
@pytest.mark.parametrize("size", [7, 64, 4096])
def test_chunked_count_equals_whole(registry: TokenizerRegistry, name: str, size: int) -> None:
    tok = registry.get(name)
    whole = tok.count(CORPUS)
    data = CORPUS.encode()
    assert count_stream(chunked(data, size), tok, flush_chars=1) == whole  # cut at every place
    assert count_stream(chunked(data, size), tok, flush_chars=500) == whole
    assert count_stream(chunked(data, size), tok) == whole


WORDS = st.lists(
    st.one_of(
        st.sampled_from(["\n", " ", "  ", "\r\n", "\t", ".", "'s", "/", "é", "e\u0301", "中文"]),
        st.text(st.characters(exclude_categories=("Cs",)), max_size=6),
    ),
    max_size=40,
).map("".join)


@pytest.mark.parametrize(
    "name", ["cl100k_base", "o200k_base", "llama3", "qwen", "deepseek_v3", "mistral_spm_v1"]
)
@settings(max_examples=150, deadline=None)
@given(text=WORDS, size=st.integers(1, 9))
def test_random_text_chunked_equals_whole(
    registry: TokenizerRegistry, name: str, text: str, size: int
) -> None:
    tok = registry.get(name)
    assert count_stream(chunked(text.encode(), size), tok, flush_chars=1) == tok.count(text)


def test_cut_places() -> None:
    byte_level, spm = SplitKind.BYTE_LEVEL, SplitKind.SENTENCEPIECE
    assert last_cut("ab.\nCd", byte_level) == 4  # after the newline
    assert last_cut("ab.\nCd", spm) == 0  # SentencePiece: spaces only
    assert last_cut("ab cd\n", byte_level) == 2 == last_cut("ab cd\n", spm)  # before the space
    assert last_cut("ab  cd", byte_level) == 0  # a run of spaces is not cut
    assert last_cut("ab \ncd", byte_level) == 0  # nor a newline after a space
    assert last_cut("ab\n1", byte_level) == 0  # nor one before a digit
    assert last_cut("中文\n中文", byte_level) == 3
    assert last_cut("ab cd ef", byte_level, lo=4) == 5


def test_a_foreign_tokenizer_is_cut_as_byte_level() -> None:
    class Chars:
        name, exact, method = "chars", True, "one per character"

        def encode(self, text: str) -> list[int]:
            return [ord(c) for c in text]

        def count(self, text: str) -> int:
            return len(text)

    assert split_kind_of(Chars()) is SplitKind.BYTE_LEVEL
    assert count_stream([b"ab cd\nef"], Chars(), flush_chars=1) == 8


@pytest.mark.parametrize("size", [1, 2, 3, 5, 100])
@pytest.mark.parametrize(
    ("data", "offset"),
    [
        (b"abc\xffdef", 3),
        ("h\u00e9llo ".encode() + b"\xc3(", 7),
        ("ab\u4e2d".encode() + b"\xe4\xb8X", 5),
        (b"ok " + "\u4e2d".encode()[:2], 3),  # cut short at the end
        (b"\xed\xa0\x80 surrogate", 0),
    ],
)
def test_invalid_utf8_names_the_byte_offset(
    registry: TokenizerRegistry, data: bytes, offset: int, size: int
) -> None:
    with pytest.raises(InvalidTextError, match=f"byte offset {offset}:") as err:
        count_stream(chunked(data, size), registry.get("o200k_base"))
    assert err.value.offset == offset and isinstance(err.value, ValueError)


def test_empty_input_counts_zero(registry: TokenizerRegistry, tmp_path: Path) -> None:
    tok = registry.get("cl100k_base")
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    assert count_stream([], tok) == count_stream([b"", b""], tok) == count_file(empty, tok) == 0


def test_a_100_mb_file_is_counted_in_bounded_memory(
    registry: TokenizerRegistry, tmp_path: Path
) -> None:
    tok = registry.get("cl100k_base")
    block = (CORPUS.replace("\n", " ") + "\n").encode()  # ends "...newline", starts with a letter
    block = block * (1_000_000 // len(block) + 1)
    path = tmp_path / "big.txt"
    with path.open("wb") as handle:
        for _ in range(100):
            handle.write(block)
    size = path.stat().st_size
    assert size > 100_000_000
    per_block = tok.count(block.decode())
    started = time.perf_counter()
    tracemalloc.start()
    try:
        total = count_file(path, tok)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    elapsed = time.perf_counter() - started
    assert total == 100 * per_block
    assert peak < 32_000_000, f"peak {peak / 1e6:.1f} MB for a {size / 1e6:.0f} MB file"
    assert elapsed < 60


@pytest.mark.parametrize("name", ["o200k_base", "llama3", "mistral_tekken"])
def test_long_runs_stream_as_they_count_whole(registry: TokenizerRegistry, name: str) -> None:
    tok = registry.get(name)
    text = CORPUS + " " * 60_000 + "x" + "a" * 60_001 + "\nB" + CORPUS
    assert count_stream(chunked(text.encode(), 4096), tok, flush_chars=1) == tok.count(text)
