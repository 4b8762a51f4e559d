"""Token counts kept by (tokenizer, text): a kept count is the one the tokenizer
gives, another text or another tokenizer is never served it, and the table stays
within its bounds."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from llmtally.tokens.chat import count_messages
from llmtally.tokens.count_cache import COUNTS, MAX_TEXT_CHARS, TextCache, cached_count
from llmtally.tokens.registry import TokenizerRegistry


class Letters:
    """Counts one token per character and remembers what it was asked."""

    name = "letters"
    exact = True
    method = "one token per character"

    def __init__(self) -> None:
        self.asked: list[str] = []

    def encode(self, text: str) -> list[int]:
        return [ord(c) for c in text]

    def count(self, text: str) -> int:
        self.asked.append(text)
        return len(text)


@dataclass
class Unhashable:
    """A dataclass with eq and no frozen: ``__hash__`` is None."""

    name: str = "unhashable"
    exact: bool = True
    method: str = "one token per character"
    asked: list[str] = field(default_factory=list)

    def encode(self, text: str) -> list[int]:
        return [ord(c) for c in text]

    def count(self, text: str) -> int:
        self.asked.append(text)
        return len(text)


def test_a_kept_count_is_the_tokenizers_and_is_asked_once() -> None:
    o200k = TokenizerRegistry().get("o200k_base")
    # o200k_base: "hello" and " world" are one token each
    assert cached_count(o200k, "hello world") == 2
    assert cached_count(o200k, "hello world") == 2
    letters = Letters()
    assert cached_count(letters, "abcdef") == 6
    assert cached_count(letters, "abcdef") == 6
    assert letters.asked == ["abcdef"]  # the second answer came from the table


def test_another_text_or_tokenizer_is_not_served_a_kept_count() -> None:
    first, second = Letters(), Letters()
    assert cached_count(first, "abc") == 3
    assert cached_count(first, "abcd") == 4  # another text: counted
    assert cached_count(second, "abc") == 3  # another tokenizer: counted by it
    assert first.asked == ["abc", "abcd"]
    assert second.asked == ["abc"]


def test_long_texts_and_unhashable_tokenizers_are_counted_every_time() -> None:
    letters = Letters()
    long = "x" * (MAX_TEXT_CHARS + 1)
    assert cached_count(letters, long) == MAX_TEXT_CHARS + 1
    assert cached_count(letters, long) == MAX_TEXT_CHARS + 1
    assert len(letters.asked) == 2
    odd = Unhashable()
    assert cached_count(odd, "abc") == 3
    assert cached_count(odd, "abc") == 3
    assert odd.asked == ["abc", "abc"]


def test_the_table_keeps_at_most_its_entries_least_recently_used_first() -> None:
    cache: TextCache[int] = TextCache(max_entries=3, max_chars=1000)
    for text in ("a", "b", "c"):
        cache.put("scope", text, len(text))
    assert cache.get("scope", "a") == 1  # "a" used: "b" is now the oldest
    cache.put("scope", "d", 1)
    assert len(cache) == 3
    assert cache.get("scope", "b") is None
    assert [cache.get("scope", t) for t in ("a", "c", "d")] == [1, 1, 1]


def test_the_table_keeps_at_most_its_characters() -> None:
    cache: TextCache[int] = TextCache(max_entries=100, max_chars=10)
    cache.put("s", "aaaaaa", 6)
    cache.put("s", "bbbbbb", 6)  # 12 characters > 10: "aaaaaa" goes
    assert cache.get("s", "aaaaaa") is None
    assert cache.get("s", "bbbbbb") == 6
    assert cache.chars == 6
    assert len(cache) == 1


def test_the_process_table_is_bounded() -> None:
    assert COUNTS.max_entries == 4096
    assert COUNTS.max_chars == 2_000_000
    letters = Letters()
    for i in range(COUNTS.max_entries + 10):
        cached_count(letters, f"text {i}")
    assert len(COUNTS) <= COUNTS.max_entries
    assert COUNTS.chars <= COUNTS.max_chars


def test_threads_counting_at_once_get_the_tokenizers_counts() -> None:
    letters = Letters()
    texts = [f"{'y' * (i % 13)}-{i % 40}" for i in range(400)]
    wrong: list[str] = []

    def work() -> None:
        for text in texts:
            if cached_count(letters, text) != len(text):
                wrong.append(text)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []


def test_a_request_counted_again_gives_the_same_parts_without_recounting() -> None:
    letters = Letters()
    system = "You are terse."  # 14 characters: 14 tokens
    messages = [
        {"role": "system", "content": system},
        {"role": "user", "content": "Hi"},  # 2
        {"role": "assistant", "content": "Hello"},  # 5
        {"role": "user", "content": "Bye"},  # 3
    ]
    first = count_messages(messages, letters, wire="openai", model="gpt-4o")
    asked = len(letters.asked)
    again = count_messages(messages, letters, wire="openai", model="gpt-4o")
    assert again == first
    assert letters.asked[asked:] == []  # every text was kept the first time
    # by hand: overhead 4 messages x (3 + role letters: system 6, user 4, assistant 9,
    # user 4) = 12 + 23 = 35, plus 3 to prime the reply = 38
    assert (first.system, first.history, first.latest_user, first.overhead) == (14, 7, 3, 38)
    assert first.total == 14 + 7 + 3 + 38
    turn = [*messages, {"role": "assistant", "content": "Ok"}, {"role": "user", "content": "More"}]
    asked = len(letters.asked)
    count_messages(turn, letters, wire="openai", model="gpt-4o")
    assert letters.asked[asked:] == ["Ok", "More"]  # only the new turns are counted
