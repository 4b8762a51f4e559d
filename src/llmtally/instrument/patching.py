"""Putting wrappers on an SDK's methods, and taking them off: what every SDK
module of the instrumentation does the same way. A method the SDK lacks (a
version this code does not know) leaves the SDK untouched and is counted."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from llmtally.instrument.record import STATS

__all__ = ["Swap", "swap_methods"]

# (class, method name, wrapper maker: the original method -> its replacement)
Swap = tuple[type, str, Callable[[Callable[..., Any]], Callable[..., Any]]]


def swap_methods(sdk: str, swaps: Sequence[Swap]) -> Callable[[], None] | None:
    """Replace each method by its wrapper; the undo, or None (counted in
    ``STATS`` as ``<sdk>.patch``) when one of the methods is missing."""
    originals = [(cls, name, getattr(cls, name, None)) for cls, name, _ in swaps]
    if any(original is None for _, _, original in originals):
        STATS.error(f"{sdk}.patch", "a method to wrap is missing: calls are not recorded")
        return None
    for (cls, name, original), (_, _, wrap) in zip(originals, swaps, strict=True):
        setattr(cls, name, wrap(original))  # type: ignore[arg-type]

    def undo() -> None:
        for cls, name, original in originals:
            setattr(cls, name, original)

    return undo
