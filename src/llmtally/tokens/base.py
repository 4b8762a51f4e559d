"""What every tokenizer offers, and what a count says about itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = ["TokenCount", "Tokenizer", "TokenizerUnavailableError"]


class TokenizerUnavailableError(LookupError):
    """The tokenizer's data is not installed here (the message says how to get it)."""


@runtime_checkable
class Tokenizer(Protocol):
    """A loaded tokenizer. ``exact`` is False for documented approximations,
    which have no ids: ``encode`` raises NotImplementedError for them."""

    @property
    def name(self) -> str: ...

    @property
    def exact(self) -> bool: ...

    @property
    def method(self) -> str:
        """How the count is made: the file and reference, or the approximation."""
        ...

    def encode(self, text: str) -> list[int]: ...

    def count(self, text: str) -> int: ...


@dataclass(frozen=True, slots=True)
class TokenCount:
    count: int
    tokenizer: str
    exact: bool
    model: str | None = None
    method: str = ""

    def as_json(self) -> dict[str, object]:
        return {
            "count": self.count,
            "tokenizer": self.tokenizer,
            "exact": self.exact,
            "model": self.model,
            "method": self.method,
        }
