"""Token counts of texts counted before, kept a while (least recently used go first).

A gateway sees the same texts on call after call: the system prompt and the tool
schemas on every call, and a conversation's earlier turns sent again with each
new turn (re-counting them makes a conversation cost O(n^2) tokenizer work).
:func:`cached_count` is ``tokenizer.count(text)``, kept in :data:`COUNTS` (a
:class:`TextCache`) by (tokenizer, text):

- the key holds the tokenizer object itself, so a tokenizer registered anew under
  the same name is never served another's counts, and an unhashable one is
  simply not cached;
- only texts of at most :data:`MAX_TEXT_CHARS` characters are kept. That bound
  is below the 25,000-character runs that an ``EncodingTokenizer`` counts in
  parts until its fast counter is built (the one case where a count of the same
  text may change during a process), so a kept count is always the one
  ``tokenizer.count`` gives now;
- at most ``max_entries`` texts and ``max_chars`` characters of them are held.

Thread-safe: the gateway's finish thread, budget checks and SDK
instrumentation may count at once; a lock guards the table (never the counting).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Generic, TypeVar

from llmtally.tokens.base import Tokenizer

__all__ = ["COUNTS", "MAX_TEXT_CHARS", "TextCache", "cached_count"]

MAX_TEXT_CHARS = 20_000
V = TypeVar("V")


class TextCache(Generic[V]):
    """Values read from texts, by (scope, text): ``scope`` says what read them (the
    tokenizer, and whatever else the value depends on)."""

    def __init__(self, max_entries: int, max_chars: int) -> None:
        self.max_entries, self.max_chars = max_entries, max_chars
        self._values: OrderedDict[tuple[object, str], V] = OrderedDict()
        self._chars = 0  # characters of the texts held
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._values)

    @property
    def chars(self) -> int:
        return self._chars

    def get(self, scope: object, text: str) -> V | None:
        """The value kept for ``text`` in ``scope``, or None."""
        if len(text) > MAX_TEXT_CHARS:
            return None
        key = (scope, text)
        try:
            with self._lock:
                found = self._values.get(key)
                if found is not None:
                    self._values.move_to_end(key)
                return found
        except TypeError:  # an unhashable scope: nothing is kept for it
            return None

    def put(self, scope: object, text: str, value: V) -> None:
        if len(text) > MAX_TEXT_CHARS:
            return
        key = (scope, text)
        try:
            hash(key)
        except TypeError:
            return
        with self._lock:
            if key in self._values:  # another thread read it meanwhile
                return
            self._values[key] = value
            self._chars += len(text)
            while len(self._values) > self.max_entries or self._chars > self.max_chars:
                (_, dropped), _ = self._values.popitem(last=False)
                self._chars -= len(dropped)

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._chars = 0


# About 2 MB of ASCII text held at most (8 MB for text outside the BMP).
COUNTS: TextCache[int] = TextCache(max_entries=4096, max_chars=2_000_000)


def cached_count(tokenizer: Tokenizer, text: str) -> int:
    """``tokenizer.count(text)``, kept in :data:`COUNTS`."""
    found = COUNTS.get(tokenizer, text)
    if found is None:
        found = tokenizer.count(text)
        COUNTS.put(tokenizer, text, found)
    return found
