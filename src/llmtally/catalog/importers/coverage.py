"""How much of the reference price tables the catalog can price.

The measured set, per provider: the LiteLLM keys whose ``litellm_provider``
maps to the provider and whose ``mode`` is ``chat`` (the leading provider
segment taken off, as the importer does), that a genai-prices model of the
same provider matches by its own match rules. A name is covered when
``catalog.price_at(provider, name)`` returns a price of that provider.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmtally.catalog.catalog import Catalog
from llmtally.catalog.importers.common import KNOWN_PROVIDERS, canonical_provider, read_json
from llmtally.catalog.importers.genai_prices import clause_matches
from llmtally.catalog.importers.litellm import strip_provider_prefix

__all__ = [
    "GENAI_FILE",
    "LITELLM_FILE",
    "SEED_PROVIDERS",
    "Coverage",
    "ProviderCoverage",
    "catalog_coverage",
    "reference_chat_models",
]

SEED_PROVIDERS: tuple[str, ...] = tuple(p.id for p in KNOWN_PROVIDERS)
LITELLM_FILE = "litellm_model_prices_and_context_window.json"
GENAI_FILE = "genai-prices_data.json"


@dataclass(frozen=True, slots=True)
class ProviderCoverage:
    provider: str
    names: tuple[str, ...]
    missing: tuple[tuple[str, str], ...]  # (name, why)

    @property
    def covered(self) -> int:
        return len(self.names) - len(self.missing)

    @property
    def ratio(self) -> float:
        return self.covered / len(self.names) if self.names else 1.0


@dataclass(frozen=True, slots=True)
class Coverage:
    providers: tuple[ProviderCoverage, ...]

    @property
    def total(self) -> int:
        return sum(len(p.names) for p in self.providers)

    @property
    def covered(self) -> int:
        return sum(p.covered for p in self.providers)

    @property
    def ratio(self) -> float:
        return self.covered / self.total if self.total else 1.0


def _genai_rules(data: list[Any], provider: str) -> list[Mapping[str, Any]]:
    return [
        model["match"]
        for raw in data
        if isinstance(raw, Mapping) and canonical_provider("genai-prices", raw["id"]) == provider
        for model in raw.get("models") or ()
        if isinstance(model, Mapping) and isinstance(model.get("match"), Mapping)
    ]


def reference_chat_models(
    reference_dir: Path, providers: Iterable[str] = SEED_PROVIDERS
) -> dict[str, tuple[str, ...]]:
    """Per provider, the chat model names that both reference files list."""
    litellm: dict[str, Any] = read_json(reference_dir / LITELLM_FILE, dict, "a LiteLLM price file")
    genai: list[Any] = read_json(reference_dir / GENAI_FILE, list, "a genai-prices data file")
    out = {}
    for provider in providers:
        rules = _genai_rules(genai, provider)
        names = set()
        for key, entry in litellm.items():
            source = entry.get("litellm_provider") if isinstance(entry, Mapping) else None
            if not isinstance(source, str) or entry.get("mode") != "chat":
                continue
            if canonical_provider("litellm", source) != provider:
                continue
            name = strip_provider_prefix(key, source, provider)
            if any(clause_matches(rule, name) for rule in rules):
                names.add(name)
        out[provider] = tuple(sorted(names))
    return out


def _why_missing(catalog: Catalog, provider: str, name: str, at: dt.datetime) -> str | None:
    try:
        price = catalog.price_at(provider, name, at)
    except LookupError as exc:
        return str(exc)
    if price.provider != provider:
        return f"resolves to {price.provider}/{price.model}, another provider's model"
    return None


def catalog_coverage(
    catalog: Catalog,
    names: Mapping[str, Iterable[str]],
    at: dt.datetime | None = None,
) -> Coverage:
    """Which of ``names`` (per provider) the catalog prices at ``at`` (default: now)."""
    moment = at or dt.datetime.now(dt.UTC)
    results = []
    for provider, wanted in names.items():
        ordered = tuple(wanted)
        missing = tuple(
            (name, why)
            for name in ordered
            if (why := _why_missing(catalog, provider, name, moment)) is not None
        )
        results.append(ProviderCoverage(provider, ordered, missing))
    return Coverage(tuple(results))
