"""Price data: files, name matching, dated prices, tiers, overrides, importers."""

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
