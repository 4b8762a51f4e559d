"""Counting a large stream of UTF-8 bytes in bounded memory, with the whole text's count.

Bytes are decoded incrementally and strictly. Pending text is counted and
dropped once it is long enough, cut only where the tokenizer splits anyway
(see :class:`~llmtally.tokens.loaders.common.SplitKind`):

- byte-level BPE (tiktoken, tokenizers, Tekken): after a newline that follows
  a letter, digit, mark, punctuation or symbol and precedes a letter; or just
  before a single space between such a character and a letter;
- SentencePiece: before such a space only, and the part after the cut is
  counted without that space, which SentencePiece's dummy prefix stands for.

A text with no such place for a long stretch (one huge line of CJK or
base64, say) is held until one comes; memory then grows with that stretch.
Tokenizers from elsewhere are cut as byte-level ones.
"""

from __future__ import annotations

import codecs
import unicodedata
from collections.abc import Iterable, Iterator
from pathlib import Path

from llmtally.tokens.base import Tokenizer
from llmtally.tokens.loaders.common import SplitKind

__all__ = ["DEFAULT_CHUNK_BYTES", "DEFAULT_FLUSH_CHARS", "InvalidTextError", "count_file"]
__all__ += ["count_stream", "iter_chunks", "split_kind_of"]

DEFAULT_FLUSH_CHARS = 1 << 18
DEFAULT_CHUNK_BYTES = 1 << 20
_SOLID = frozenset("LNPSM")  # Unicode general categories that are never whitespace


class InvalidTextError(ValueError):
    """The bytes are not UTF-8; ``offset`` is the first bad byte's position in the stream."""

    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(f"invalid UTF-8 at byte offset {offset}: {reason}")
        self.offset = offset


def split_kind_of(tokenizer: Tokenizer) -> SplitKind:
    kind = getattr(tokenizer, "split_kind", SplitKind.BYTE_LEVEL)
    return kind if isinstance(kind, SplitKind) else SplitKind.BYTE_LEVEL


def _is_letter(char: str) -> bool:
    return unicodedata.category(char)[0] == "L"


def _is_solid(char: str) -> bool:
    return unicodedata.category(char)[0] in _SOLID


def _last_cut_after(text: str, sep: str, lo: int, offset: int) -> int:
    """The last j >= lo with text[j] == sep between a solid character and a letter,
    as the cut index j + offset; 0 if none."""
    j = text.rfind(sep, max(lo, 1), len(text) - 1)
    while j > 0:
        if _is_letter(text[j + 1]) and _is_solid(text[j - 1]):
            return j + offset
        j = text.rfind(sep, max(lo, 1), j)
    return 0


def last_cut(text: str, kind: SplitKind, lo: int = 0) -> int:
    """The last index > 0 (at or after ``lo``) where ``text`` may be cut; 0 if none."""
    cut = _last_cut_after(text, " ", lo, 0)
    if kind is SplitKind.BYTE_LEVEL:
        cut = max(cut, _last_cut_after(text, "\n", lo, 1))
    return cut


class _Counter:
    def __init__(self, tokenizer: Tokenizer, flush_chars: int) -> None:
        self.tokenizer = tokenizer
        self.kind = split_kind_of(tokenizer)
        self.flush_chars = flush_chars
        self.next_try = flush_chars
        self.pending = ""
        self.scanned = 0  # pending[:scanned] has no cut
        self.continued = False  # pending begins just after a cut
        self.total = 0

    def _count(self, part: str) -> int:
        if self.continued and self.kind is SplitKind.SENTENCEPIECE:
            part = part[1:]  # the dummy prefix stands for the space cut before
        return self.tokenizer.count(part) if part else 0

    def feed(self, text: str) -> None:
        self.pending += text
        if len(self.pending) < self.next_try:
            return
        cut = last_cut(self.pending, self.kind, self.scanned)
        if cut <= 0:  # nothing yet: try again once the text has doubled
            self.scanned = max(len(self.pending) - 2, 0)
            self.next_try = 2 * len(self.pending)
            return
        self.total += self._count(self.pending[:cut])
        self.pending = self.pending[cut:]
        self.continued = True
        self.scanned = 0
        self.next_try = self.flush_chars

    def finish(self) -> int:
        if self.pending:
            self.total += self._count(self.pending)
            self.pending = ""
        return self.total


def _decode(decoder: codecs.IncrementalDecoder, chunk: bytes, fed: int, final: bool) -> str:
    held = len(decoder.getstate()[0])
    try:
        return decoder.decode(chunk, final)
    except UnicodeDecodeError as err:
        raise InvalidTextError(fed - held + err.start, err.reason) from None


def count_stream(
    chunks: Iterable[bytes], tokenizer: Tokenizer, *, flush_chars: int = DEFAULT_FLUSH_CHARS
) -> int:
    """The token count of the UTF-8 text that ``chunks`` make up, as if counted whole.

    Raises InvalidTextError (a ValueError) at the first byte that is not UTF-8."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    counter = _Counter(tokenizer, max(flush_chars, 1))
    fed = 0
    for chunk in chunks:
        counter.feed(_decode(decoder, chunk, fed, final=False))
        fed += len(chunk)
    counter.feed(_decode(decoder, b"", fed, final=True))
    return counter.finish()


def iter_chunks(path: Path, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_bytes):
            yield chunk


def count_file(
    path: str | Path,
    tokenizer: Tokenizer,
    *,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    flush_chars: int = DEFAULT_FLUSH_CHARS,
) -> int:
    """The token count of a UTF-8 file, read ``chunk_bytes`` at a time."""
    return count_stream(iter_chunks(Path(path), chunk_bytes), tokenizer, flush_chars=flush_chars)
