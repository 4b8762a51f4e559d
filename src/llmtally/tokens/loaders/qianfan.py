"""Baidu's own offline token estimate for ERNIE, as its Qianfan SDK computes it.

Baidu publishes no ERNIE vocabulary on PyPI. Its Python SDK (``qianfan``
0.4.12.3 on PyPI, ``qianfan/resources/tools/tokenizer.py``,
``Tokenizer._local_count_tokens``, the default ``mode="local"`` of
``Tokenizer.count_tokens``; read 2026-12-07) estimates offline as::

    int(0.625 * CJK characters + 1 * words)

where a CJK character is one in U+4E00..U+9FFF and a word is a run of other
characters between spaces and punctuation. Baidu calls it a local simulation,
not the real count (exact: Qianfan's tokenizer API, or a response's usage).
This module ports that formula, not the SDK (which needs network clients).
"""

from __future__ import annotations

import unicodedata

from llmtally.tokens.loaders.common import SplitKind

__all__ = ["HAN_TOKENS", "WORD_TOKENS", "QianfanEstimate", "load_qianfan_local"]

HAN_TOKENS = 0.625  # tokens per CJK character (1.6 characters a token)
WORD_TOKENS = 1.0  # tokens per word


def _is_han(ch: str) -> bool:
    return 0x4E00 <= ord(ch) <= 0x9FFF


def _is_space(ch: str) -> bool:
    return ch in {" ", "\n", "\r", "\t"} or unicodedata.category(ch) == "Zs"


def _is_punctuation(ch: str) -> bool:
    code = ord(ch)
    return (
        33 <= code <= 47
        or 58 <= code <= 64
        or 91 <= code <= 96
        or 123 <= code <= 126
        or unicodedata.category(ch).startswith("P")
    )


def han_and_words(text: str) -> tuple[int, int]:
    """The CJK characters and the words of ``text``, as the Qianfan SDK counts them."""
    han = 0
    words = 0
    in_word = False
    for ch in text:
        if _is_han(ch) or _is_punctuation(ch) or _is_space(ch):
            han += _is_han(ch)
            in_word = False
        elif not in_word:
            words += 1
            in_word = True
    return han, words


class QianfanEstimate:
    """Qianfan's local estimate: no ids, never exact."""

    name = "qianfan_local"
    exact = False
    split_kind = SplitKind.BYTE_LEVEL
    method = (
        "Baidu Qianfan SDK local estimate (qianfan 0.4.12.3, "
        "Tokenizer._local_count_tokens): int(0.625 x CJK characters + 1 x words)"
    )

    def encode(self, text: str) -> list[int]:
        raise NotImplementedError("qianfan_local is an estimate and has no token ids")

    def count(self, text: str) -> int:
        han, words = han_and_words(text)
        return int(han * HAN_TOKENS + words * WORD_TOKENS)

    def __repr__(self) -> str:
        return "<QianfanEstimate>"


def load_qianfan_local() -> QianfanEstimate:
    return QianfanEstimate()
