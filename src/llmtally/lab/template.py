"""Prompt templates: ``{name}`` is a variable, ``{{`` and ``}}`` are literal braces.

Any other brace is literal too, so a JSON example in a prompt (``{"a": 1}``)
needs no escaping; only ``{identifier}`` is replaced.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["render", "variables"]

_TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")


def variables(template: str) -> list[str]:
    """The variable names in ``template``, each once, in order of appearance."""
    seen: list[str] = []
    for found in _TOKEN.finditer(template):
        name = found.group(1)
        if name is not None and name not in seen:
            seen.append(name)
    return seen


def render(template: str, values: Mapping[str, str]) -> str:
    """``template`` with every variable replaced; KeyError names a missing one."""

    def replace(found: re.Match[str]) -> str:
        name = found.group(1)
        if name is None:
            return found.group(0)[0]  # "{{" -> "{", "}}" -> "}"
        return values[name]

    return _TOKEN.sub(replace, template)
