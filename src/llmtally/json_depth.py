"""How deep a parsed JSON document nests: one check for every body llmtally reads
(gateway requests, OTLP JSON exports), walked without recursion."""

from __future__ import annotations

from typing import Any

__all__ = ["nests_deeper"]


def nests_deeper(value: Any, limit: int) -> bool:
    """Whether ``value`` nests objects and arrays more than ``limit`` deep."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
    return False
