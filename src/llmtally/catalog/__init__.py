"""Price data: files, name matching, dated prices, tiers, overrides, importers.

The names below are imported on first use (PEP 562): importing one module of
this package (``llmtally.catalog.price``) does not load the others.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmtally.catalog.catalog import BUILTIN_DIR, Catalog, NoPriceError, imports_dir
    from llmtally.catalog.loader import CatalogFileError
    from llmtally.catalog.matching import ModelRef, UnknownModelError, UnknownProviderError
    from llmtally.catalog.price import Price, Rates

__all__ = [
    "BUILTIN_DIR",
    "Catalog",
    "CatalogFileError",
    "ModelRef",
    "NoPriceError",
    "Price",
    "Rates",
    "UnknownModelError",
    "UnknownProviderError",
    "imports_dir",
]

_HOMES = {
    "BUILTIN_DIR": "llmtally.catalog.catalog",
    "Catalog": "llmtally.catalog.catalog",
    "NoPriceError": "llmtally.catalog.catalog",
    "imports_dir": "llmtally.catalog.catalog",
    "CatalogFileError": "llmtally.catalog.loader",
    "ModelRef": "llmtally.catalog.matching",
    "UnknownModelError": "llmtally.catalog.matching",
    "UnknownProviderError": "llmtally.catalog.matching",
    "Price": "llmtally.catalog.price",
    "Rates": "llmtally.catalog.price",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'llmtally.catalog' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
