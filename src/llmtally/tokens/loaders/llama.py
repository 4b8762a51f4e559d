"""Meta's Llama 3.x and Llama 4 tokenizers, exact and offline.

``llama-models==0.3.0`` ships ``llama3/tokenizer.model`` and
``llama4/tokenizer.model`` (tiktoken ranks files). They are loaded into
tiktoken with the patterns and special tokens of llama-models' own
``Tokenizer`` classes (tests hold them equal and compare ids with them).

Like Meta's reference ``encode``, text is cut inside any run of more than
25,000 whitespace or non-whitespace characters (tiktoken's regex engine
overflows on a whitespace run of about a million). Unlike it, text is not
also cut every 400,000 characters, an artifact that would make a count depend
on where a stream was read; so texts longer than that may differ from Meta's
reference by a token or so per 400,000 characters, and from servers that run
Hugging Face ``tokenizers`` only inside runs over 25,000 characters.
"""

from __future__ import annotations

from dataclasses import dataclass

from llmtally.tokens.loaders.common import (
    LONG_RUN,
    EncodingTokenizer,
    encoding_from_ranks,
    package_file,
    read_ranks,
)
from llmtally.tokens.loaders.openai import O200K_PATTERN

__all__ = ["LLAMA3", "LLAMA4", "LlamaSpec", "load_llama", "load_llama3", "load_llama4"]

INSTALL = "pip install llama-models==0.3.0"

LLAMA3_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def _reserved(name: str, count: int, start: int = 0) -> list[str]:
    return [f"<|{name}_reserved_special_token_{i}|>" for i in range(start, start + count)]


def _fill(named: list[str], total: int, start: int = 0) -> list[str]:
    return named + [f"<|reserved_special_token_{start + i}|>" for i in range(total - len(named))]


_LLAMA3_SPECIALS = _fill(
    [
        "<|begin_of_text|>",
        "<|end_of_text|>",
        "<|reserved_special_token_0|>",
        "<|reserved_special_token_1|>",
        "<|finetune_right_pad_id|>",
        "<|step_id|>",
        "<|start_header_id|>",
        "<|end_header_id|>",
        "<|eom_id|>",
        "<|eot_id|>",
        "<|python_tag|>",
        "<|image|>",
    ],
    256,
    start=2,
)
_LLAMA4_SPECIALS = _fill(
    [
        "<|begin_of_text|>",
        "<|end_of_text|>",
        "<|fim_prefix|>",
        "<|fim_middle|>",
        "<|fim_suffix|>",
        "<|header_start|>",
        "<|header_end|>",
        "<|eom|>",
        "<|eot|>",
        "<|step|>",
        *_reserved("text_post_train", 6),
        "<|python_start|>",
        "<|python_end|>",
        "<|finetune_right_pad|>",
        *_reserved("text_post_train", 61, 8),
        "<|image_start|>",
        "<|image_end|>",
        *_reserved("vision", 2),
        "<|tile_x_separator|>",
        "<|tile_y_separator|>",
        *_reserved("vision", 4, 2),
        "<|image|>",
        *_reserved("vision", 1, 6),
        "<|patch|>",
        *_reserved("vision", 1041, 7),
        *_reserved("reasoning", 8),
        "<|reasoning_thinking_start|>",
        "<|reasoning_thinking_end|>",
    ],
    2048,
)


@dataclass(frozen=True, slots=True)
class LlamaSpec:
    name: str
    ranks_file: str  # inside llama_models
    pat_str: str
    specials: list[str]  # in id order, after the ranks


LLAMA3 = LlamaSpec("llama3", "llama3/tokenizer.model", LLAMA3_PATTERN, _LLAMA3_SPECIALS)
LLAMA4 = LlamaSpec("llama4", "llama4/tokenizer.model", O200K_PATTERN, _LLAMA4_SPECIALS)


def load_llama(spec: LlamaSpec) -> EncodingTokenizer:
    path = package_file("llama_models", spec.ranks_file, INSTALL)
    ranks = read_ranks(path)
    specials = {token: len(ranks) + i for i, token in enumerate(spec.specials)}
    encoding = encoding_from_ranks(spec.name, spec.pat_str, ranks, specials)
    method = f"tiktoken over llama-models 0.3.0 {spec.ranks_file}"
    return EncodingTokenizer(spec.name, method, encoding, runs=LONG_RUN)


def load_llama3() -> EncodingTokenizer:
    return load_llama(LLAMA3)


def load_llama4() -> EncodingTokenizer:
    return load_llama(LLAMA4)
