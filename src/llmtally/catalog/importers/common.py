"""What both importers share: the result, provider ids, exact money, entry notes.

Money: a price in a reference file is a JSON number (a binary float). It is
taken at its shortest decimal spelling (``Decimal(repr(x))``, so ``2.5e-06`` is
``0.0000025``, never ``0.00000249999...``), scaled without rounding, and
normalised (``2.5000000`` -> ``2.5``; ``1E+1`` -> ``10``).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from llmtally.catalog.loader import CatalogFileError
from llmtally.catalog.schema import ProviderFile

__all__ = [
    "KNOWN_PROVIDERS",
    "BadValue",
    "EntryLog",
    "ImportFormat",
    "ImportResult",
    "ProviderInfo",
    "canonical_provider",
    "cumulative_cliffs",
    "known_provider",
    "money",
    "per_million",
    "plain",
    "positive_int",
    "read_json",
    "sanitize_provider",
]

ImportFormat = Literal["litellm", "genai-prices"]

_MILLION = Decimal(1_000_000)


@dataclass(slots=True)
class ImportResult:
    """Price files, one per provider, and one message per entry not fully imported."""

    files: list[ProviderFile] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    source_name: str = ""


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    """A provider llmtally knows by one canonical id, whatever a reference file calls it."""

    id: str
    name: str
    pricing_url: str
    litellm: tuple[str, ...]  # ``litellm_provider`` values, the provider's own API first
    genai: tuple[str, ...]  # genai-prices provider ids
    aliases: tuple[str, ...] = ()  # other names for the provider, written to the file
    key_prefixes: tuple[str, ...] = ()  # further LiteLLM key prefixes that name it


KNOWN_PROVIDERS: tuple[ProviderInfo, ...] = (
    ProviderInfo("openai", "OpenAI", "https://openai.com/api/pricing/", ("openai",), ("openai",)),
    ProviderInfo(
        "anthropic",
        "Anthropic",
        "https://www.anthropic.com/pricing#api",
        ("anthropic",),
        ("anthropic",),
    ),
    ProviderInfo(
        "google",
        "Google",
        "https://ai.google.dev/gemini-api/docs/pricing",
        ("gemini", "vertex_ai-language-models"),
        ("google",),
        aliases=("gemini", "vertex_ai-language-models"),
        key_prefixes=("vertex_ai",),
    ),
    ProviderInfo(
        "mistral", "Mistral", "https://mistral.ai/pricing#api-pricing", ("mistral",), ("mistral",)
    ),
    ProviderInfo(
        "deepseek",
        "DeepSeek",
        "https://api-docs.deepseek.com/quick_start/pricing",
        ("deepseek",),
        ("deepseek",),
    ),
    ProviderInfo(
        "xai", "xAI", "https://docs.x.ai/docs/models", ("xai",), ("x-ai",), aliases=("x-ai",)
    ),
    ProviderInfo("groq", "Groq", "https://groq.com/pricing/", ("groq",), ("groq",)),
    ProviderInfo(
        "together",
        "Together AI",
        "https://www.together.ai/pricing",
        ("together_ai",),
        ("together",),
        aliases=("together_ai", "together-ai"),
    ),
)

_BY_SOURCE: dict[tuple[str, str], ProviderInfo] = {
    **{("litellm", s): p for p in KNOWN_PROVIDERS for s in p.litellm},
    **{("genai-prices", s): p for p in KNOWN_PROVIDERS for s in p.genai},
}
_BY_ID = {p.id: p for p in KNOWN_PROVIDERS}
_NOT_AN_ID = re.compile(r"[^a-z0-9_-]+")


def sanitize_provider(name: str) -> str:
    """A provider id as price files allow it: ``^[a-z0-9_-]+$`` ('' if nothing is left)."""
    return _NOT_AN_ID.sub("-", name.strip().lower()).strip("-")


def canonical_provider(fmt: ImportFormat, source_id: str) -> str:
    """llmtally's id for a reference file's provider id ('' if it has none)."""
    known = _BY_SOURCE.get((fmt, source_id))
    return known.id if known is not None else sanitize_provider(source_id)


def known_provider(provider: str) -> ProviderInfo | None:
    return _BY_ID.get(provider)


def positive_int(value: object) -> int | None:
    """A JSON value as a positive int, else None (a count, never a price)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


class BadValue(ValueError):
    """A price that is not a finite, non-negative number."""


def money(value: object) -> Decimal:
    """A JSON number as an exact Decimal, by its shortest decimal spelling."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadValue(f"{value!r} is not a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise BadValue(f"{value!r} is not a finite number")
    amount = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if amount < 0:
        raise BadValue(f"{value!r} is negative")
    return amount


def plain(amount: Decimal) -> Decimal:
    """``2.5000000`` -> ``2.5``; ``1E+1`` -> ``10``: no exponent, no trailing zeros."""
    return Decimal(format(amount.normalize(), "f"))


def per_million(value: object) -> Decimal:
    """USD per token (a JSON number) -> USD per 1M tokens, exactly."""
    return plain(money(value) * _MILLION)


def cumulative_cliffs(by_threshold: dict[int, dict[str, Decimal]]) -> list[dict[str, Any]]:
    """Long-context cliffs from rates priced "above N tokens".

    The meter applies only the highest cliff a prompt passes, so each cliff
    carries every rate in force above it: a rate priced above 128k and not
    repriced above 256k keeps its 128k price above 256k.
    """
    cliffs: list[dict[str, Any]] = []
    carried: dict[str, Decimal] = {}
    for above in sorted(by_threshold):
        carried = {**carried, **by_threshold[above]}
        cliffs.append({"above": above, **carried})
    return cliffs


@dataclass(slots=True)
class EntryLog:
    """What could not be converted in one entry; one message per entry."""

    where: str
    notes: list[str] = field(default_factory=list)
    rejected: bool = False

    def skip(self, what: str, why: str) -> None:
        self.notes.append(f"{what}: {why}")

    def reject(self, what: str, why: str) -> None:
        self.skip(what, why)
        self.rejected = True

    def message(self) -> str | None:
        if not self.notes:
            return None
        verdict = "not imported" if self.rejected else "imported without"
        return f"{self.where}: {verdict}: " + "; ".join(self.notes)


def read_json(path: Path, expect: type[dict[str, Any]] | type[list[Any]], what: str) -> Any:
    """A JSON file's content, or a :class:`CatalogFileError` naming the file and line."""
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise CatalogFileError(f"{path}: cannot read the file ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise CatalogFileError(f"{path}: not UTF-8 text ({exc.reason})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CatalogFileError(
            f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}"
        ) from None
    if not isinstance(data, expect):
        shape = "an object" if expect is dict else "a list"
        raise CatalogFileError(
            f"{path}:1: {what} is {shape} at the top level, not {type(data).__name__}"
        )
    return data
