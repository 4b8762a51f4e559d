"""Offline token counting: the tokenizer protocol, the registry and stream counting."""

from llmtally.tokens.base import TokenCount, Tokenizer, TokenizerUnavailableError
from llmtally.tokens.registry import TokenizerRegistry, UnknownTokenizerError, default_registry
from llmtally.tokens.stream import InvalidTextError, count_file, count_stream

__all__ = [
    "InvalidTextError",
    "TokenCount",
    "Tokenizer",
    "TokenizerRegistry",
    "TokenizerUnavailableError",
    "UnknownTokenizerError",
    "count_file",
    "count_stream",
    "default_registry",
]
